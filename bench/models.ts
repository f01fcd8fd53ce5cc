// `npm run bench -- models`: FP32 latency of ResNet-18 and MobileNetV2 (written by the
// project as ONNX) in nquant and onnxruntime-node, the identical file, same inputs.
import * as ort from 'onnxruntime-node';
import { load, setThreads } from '../lib';
import { Tensor } from '../lib/tensor';
import { mobilenetV2, resnet18 } from './models/zoo';
import { timeInterleaved } from './timing';

export interface ModelRow {
  model: string;
  batch: number;
  threads: number;
  oursMs: number;
  ortMs: number;
  /** ours / ORT latency: below 1 means faster. */
  ratio: number;
  maxRelDiff: number;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0, mag = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / (mag || 1);
}

export async function benchModels(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<ModelRow[]> {
  const log = opts.log ?? console.log;
  const rows: ModelRow[] = [];
  const models: [string, Uint8Array][] = [['ResNet-18', resnet18()], ['MobileNetV2', mobilenetV2()]];
  // This shared host drifts over seconds: each row spreads ~5 s per runtime over 10 rounds, so
  // the median sees the same drift on every side (1.5 s over 5 rounds left ours/ORT for one
  // build swinging by 0.1-0.2 between runs).
  const minMs = opts.quick ? 300 : 5000;
  const rounds = opts.quick ? 3 : 10;
  for (const [name, bytes] of models) {
    for (const threads of opts.quick ? [2] : [1, 2]) {
      setThreads(threads);
      const ours = await load(bytes);
      for (const batch of opts.quick ? [1] : [1, 8]) {
        const x = Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37));
        const feeds = { input: new Tensor('float32', x, [batch, 3, 224, 224]) };
        const ortFeeds = { input: new ort.Tensor('float32', x, [batch, 3, 224, 224]) };
        const a = (await ours.run(feeds)).logits.data as Float32Array;
        const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
        const b = (await session.run(ortFeeds)).logits.data as Float32Array;
        // Alternating rounds, so both runtimes see the same machine; onnxruntime's pool threads
        // spin after its runs, and each round's untimed first call absorbs that.
        const [oursT, ortT] = await timeInterleaved([() => ours.run(feeds), () => session.run(ortFeeds)], { minMs, rounds, minIters: 5 });
        await session.release();
        const row = { model: name, batch, threads, oursMs: oursT.medianMs, ortMs: ortT.medianMs, ratio: oursT.medianMs / ortT.medianMs, maxRelDiff: maxRelDiff(a, b) };
        rows.push(row);
        log(`${name.padEnd(12)} batch ${String(batch).padStart(2)} t=${threads}  nquant ${row.oursMs.toFixed(2).padStart(8)} ms | ORT ${row.ortMs.toFixed(2).padStart(8)} ms | ours/ORT ${row.ratio.toFixed(2)} | max rel diff ${row.maxRelDiff.toExponential(1)}`);
      }
      ours.dispose();
    }
  }
  return rows;
}
