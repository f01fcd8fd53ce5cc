// `npm run bench -- quant`: INT8 ResNet-18 and MobileNetV2 from quantizeStatic, against our
// FP32 run of the same model and against onnxruntime-node running our exported QDQ file
// (its QDQ fusions put it on its own INT8 kernels), same inputs, same process. Our FP32 runs
// its 3x3 convs by Winograd (a quarter of the multiply-adds); the INT8 convs have no such
// exact shortcut, so the FP32 run with the direct conv is timed too, for the speed-up of
// quantization itself.
import * as ort from 'onnxruntime-node';
import { load, setThreads, sqnr } from '../lib';
import { quantizeStatic } from '../lib/quant/static';
import { native } from '../lib/native';
import { Tensor } from '../lib/tensor';
import { mobilenetV2, resnet18 } from './models/zoo';
import { timeInterleaved } from './timing';

export interface QuantRow {
  model: string;
  batch: number;
  threads: number;
  fp32Ms: number;
  /** our FP32 with the direct conv (setWinograd(false)). */
  fp32DirectMs: number;
  int8Ms: number;
  ortInt8Ms: number;
  /** our FP32 / our INT8 latency: the speed-up over our fastest FP32. */
  speedup: number;
  /** our direct-conv FP32 / our INT8: the speed-up of quantization with the same conv algorithm. */
  speedupDirect: number;
  /** our INT8 / ORT INT8 latency: below 1 means faster. */
  vsOrt: number;
  /** SQNR (dB) of our INT8 logits vs ORT's on the same QDQ file (Infinity: bit-identical). */
  agreementDb: number;
}


function input(batch: number, seed: number): Float32Array {
  return Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37 + seed));
}

export async function benchQuant(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<QuantRow[]> {
  const log = opts.log ?? console.log;
  const rows: QuantRow[] = [];
  const models: [string, Uint8Array][] = [['ResNet-18', resnet18()], ['MobileNetV2', mobilenetV2()]];
  // This shared host drifts over seconds: each row spreads ~5 s per runtime over 10 rounds, so
  // the median sees the same drift on every side (1.5 s over 5 rounds left ours/ORT for one
  // build swinging by 0.1-0.2 between runs).
  const minMs = opts.quick ? 300 : 5000;
  const rounds = opts.quick ? 3 : 10;
  for (const [name, bytes] of models) {
    const fp = await load(bytes);
    const fpDirect = await load(bytes);
    const calibration = [1, 2, 3].map((seed) => ({ input: new Tensor('float32', input(1, seed), [1, 3, 224, 224]) }));
    const q = await quantizeStatic(fp, calibration, { method: 'minmax', reportBatches: 0 });
    const qdq = q.toOnnx();
    for (const threads of opts.quick ? [2] : [1, 2]) {
      setThreads(threads);
      for (const batch of opts.quick ? [1] : [1, 8]) {
        const x = input(batch, 0);
        const feeds = { input: new Tensor('float32', x, [batch, 3, 224, 224]) };
        const ortFeeds = { input: new ort.Tensor('float32', x, [batch, 3, 224, 224]) };
        const ours = (await q.run(feeds)).logits.data as Float32Array;
        // The direct-conv model's plan for this shape is built (and kept) with Winograd off.
        const winograd = native.setWinograd(false);
        try {
          await fpDirect.run(feeds);
        } finally {
          native.setWinograd(winograd);
        }
        const session = await ort.InferenceSession.create(qdq, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
        const theirs = (await session.run(ortFeeds)).logits.data as Float32Array;
        // Alternating rounds, so all three see the same machine; onnxruntime's pool threads
        // spin after its runs, and each round's untimed first call absorbs that.
        const [fpT, fpDirectT, int8T, ortT] = await timeInterleaved(
          [() => fp.run(feeds), () => fpDirect.run(feeds), () => q.run(feeds), () => session.run(ortFeeds)], { minMs, rounds, minIters: 5 });
        await session.release();
        const row: QuantRow = {
          model: name, batch, threads, fp32Ms: fpT.medianMs, fp32DirectMs: fpDirectT.medianMs, int8Ms: int8T.medianMs, ortInt8Ms: ortT.medianMs,
          speedup: fpT.medianMs / int8T.medianMs, speedupDirect: fpDirectT.medianMs / int8T.medianMs,
          vsOrt: int8T.medianMs / ortT.medianMs, agreementDb: sqnr(theirs, ours),
        };
        rows.push(row);
        log(`${name.padEnd(12)} batch ${String(batch).padStart(2)} t=${threads}  FP32 ${row.fp32Ms.toFixed(2).padStart(8)} ms | INT8 ${row.int8Ms.toFixed(2).padStart(8)} ms | ORT INT8 ${row.ortInt8Ms.toFixed(2).padStart(8)} ms | FP32/INT8 ${row.speedup.toFixed(2)} (direct conv ${row.speedupDirect.toFixed(2)}) | ours/ORT ${row.vsOrt.toFixed(2)} | agreement ${Number.isFinite(row.agreementDb) ? `${row.agreementDb.toFixed(1)} dB` : 'bit-identical'}`);
      }
    }
    fp.dispose();
    fpDirect.dispose();
    q.dispose();
  }
  return rows;
}
