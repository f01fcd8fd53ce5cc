// `npm run bench -- compress`: M = 1 (GEMV) latency of a stack of big MatMuls in FP32, INT8
// (quantizeDynamic) and INT4 (quantizeInt4, MatMulNBits; float and int8 activations), in
// nquant and in onnxruntime-node on the identical exported file, same inputs, same process.
// At M = 1 a MatMul reads every weight once per run, so latency follows bytes of weights.
import * as ort from 'onnxruntime-node';
import { load, setThreads, sqnr } from '../lib';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { quantizeInt4 } from '../lib/compress/int4';
import { buildModel } from '../lib/onnx/builder';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { timeAsync } from './timing';

export interface CompressRow {
  variant: string;
  threads: number;
  fileBytes: number;
  oursMs: number;
  ortMs: number;
  /** ours / ORT latency on the same file: below 1 means faster. */
  vsOrt: number;
  /** our FP32 latency / this variant's: the speed-up the smaller weights buy. */
  speedupVsFp32: number;
  /** SQNR (dB) of our output vs ORT's on the same file (Infinity: bit-identical). */
  agreementDb: number;
  /** SQNR (dB) of our output vs our FP32 output. */
  vsFp32Db: number;
}

export interface CompressBenchOptions {
  quick?: boolean;
  /** Square MatMul size (default 4096). */
  size?: number;
  /** Number of MatMuls stacked (default 3). */
  layers?: number;
  threads?: number[];
  log?: (line: string) => void;
}

/** x [1, size] -> (MatMul [size, size] -> Relu) x layers, seeded weights ~ N(0, 1/size). */
function stackedMatMuls(size: number, layers: number): Uint8Array {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const initializers: { [name: string]: Tensor } = {};
  const nodes = [];
  let x = 'x';
  for (let l = 0; l < layers; l++) {
    // Uniform with the variance of N(0, 1/size): cheap to draw for 16M weights a layer.
    const a = Math.sqrt(3 / size);
    const w = new Float32Array(size * size);
    for (let i = 0; i < w.length; i++) w[i] = (next() * 2 - 1) * a;
    initializers[`w${l}`] = new Tensor('float32', w, [size, size]);
    const y = l === layers - 1 ? 'y' : `h${l}`;
    nodes.push({ opType: 'MatMul', inputs: [x, `w${l}`], outputs: [l === layers - 1 ? y : `${y}_pre`], name: `fc${l}` });
    if (l < layers - 1) nodes.push({ opType: 'Relu', inputs: [`${y}_pre`], outputs: [y], name: `relu${l}` });
    x = y;
  }
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, size] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, size] }],
    initializers, nodes, opset: 17,
  });
}

export async function benchCompress(opts: CompressBenchOptions = {}): Promise<CompressRow[]> {
  const log = opts.log ?? console.log;
  const size = opts.size ?? 4096, layers = opts.layers ?? 3;
  const minMs = opts.quick ? 400 : 2000;
  const threadCounts = opts.threads ?? (opts.quick ? [2] : [1, 2]);
  const fp32Bytes = stackedMatMuls(size, layers);
  const fp = await load(fp32Bytes);
  const t0 = performance.now();
  const int8 = await quantizeDynamic(fp, { weightType: 'int8', perChannel: true });
  const t1 = performance.now();
  const int4 = await quantizeInt4(fp, { blockSize: 32 });
  const t2 = performance.now();
  const int4s8 = await quantizeInt4(fp, { blockSize: 32, int8Activations: true });
  log(`${layers} x MatMul ${size}x${size}, M = 1; quantizeDynamic ${((t1 - t0) / 1000).toFixed(1)} s, quantizeInt4 (RTN, block 32) ${((t2 - t1) / 1000).toFixed(1)} s`);
  const variants: [string, Model, Uint8Array][] = [
    ['FP32', fp, fp32Bytes],
    ['INT8 (quantizeDynamic)', int8, int8.toOnnx()],
    ['INT4 block 32 (float acts)', int4, int4.toOnnx()],
    ['INT4 block 32 (int8 acts)', int4s8, int4s8.toOnnx()],
  ];
  const x = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37));
  const feeds = { x: new Tensor('float32', x, [1, size]) };
  const ortFeeds = { x: new ort.Tensor('float32', x, [1, size]) };
  const rows: CompressRow[] = [];
  for (const threads of threadCounts) {
    setThreads(threads);
    let fp32Ms = 0;
    const reference = (await fp.run(feeds)).y.data as Float32Array;
    for (const [variant, model, file] of variants) {
      const ours = (await model.run(feeds)).y.data as Float32Array;
      const oursT = await timeAsync(() => model.run(feeds), { minMs, minIters: 10 });
      // onnxruntime's pool threads spin after each run: its session lives only while timed.
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
      const theirs = (await session.run(ortFeeds)).y.data as Float32Array;
      const ortT = await timeAsync(() => session.run(ortFeeds), { minMs, minIters: 10 });
      await session.release();
      if (variant === 'FP32') fp32Ms = oursT.medianMs;
      const row: CompressRow = {
        variant, threads, fileBytes: file.byteLength, oursMs: oursT.medianMs, ortMs: ortT.medianMs,
        vsOrt: oursT.medianMs / ortT.medianMs, speedupVsFp32: fp32Ms / oursT.medianMs,
        agreementDb: sqnr(theirs, ours), vsFp32Db: sqnr(reference, ours),
      };
      rows.push(row);
      const db = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : 'bit-identical');
      log(`${variant.padEnd(27)} t=${threads} ${(row.fileBytes / 2 ** 20).toFixed(1).padStart(6)} MB | ours ${row.oursMs.toFixed(2).padStart(7)} ms | ORT ${row.ortMs.toFixed(2).padStart(7)} ms | ours/ORT ${row.vsOrt.toFixed(2)} | FP32/this ${row.speedupVsFp32.toFixed(2)} | vs ORT ${db(row.agreementDb)} | vs FP32 ${db(row.vsFp32Db)}`);
    }
  }
  for (const [, m] of variants) m.dispose();
  return rows;
}

/** The rows as a markdown table (for bench/RESULTS.md). */
export function compressMarkdown(rows: CompressRow[]): string {
  const db = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : 'bit-identical');
  const lines = [
    '| variant | threads | file MB | nquant ms | ORT ms | nquant/ORT | FP32/variant (nquant) | ours vs ORT | ours vs FP32 |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.variant} | ${r.threads} | ${(r.fileBytes / 2 ** 20).toFixed(1)} | ${r.oursMs.toFixed(2)} | ${r.ortMs.toFixed(2)} | ${r.vsOrt.toFixed(2)} | ${r.speedupVsFp32.toFixed(2)} | ${db(r.agreementDb)} | ${db(r.vsFp32Db)} |`);
  }
  return lines.join('\n');
}
