// Binary (1-bit) weights vs INT8 (quantizeDynamic) vs FP32 on one big MatMul, M = 1 (GEMV)
// and M = 8, all in nquant, same inputs, same process. Binary runs com.nquant BinaryMatMul on
// the sign-GEMM kernel (masked sums of x, no multiplies), and with activations: 'binary' on
// the XNOR-popcount kernel; its weights are 1/32 of FP32's.
import { load, setThreads } from '../lib';
import { sqnr } from '../lib/quant/qparams';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { binarizeWeights } from '../lib/compress/binary';
import { buildModel } from '../lib/onnx/builder';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { gops, timeAsync } from './timing';

export interface BinaryBenchRow {
  variant: 'FP32' | 'INT8 (quantizeDynamic)' | 'binary (sign-GEMM)' | 'binary acts too (XNOR)';
  m: number;
  n: number;
  k: number;
  threads: number;
  ms: number;
  gops: number;
  /** FP32 latency / this variant's, and INT8 latency / this variant's. */
  vsFp32: number;
  vsInt8: number;
  /** SQNR (dB) of this variant's output vs FP32's. */
  vsFp32Db: number;
}

export interface BinaryBenchOptions {
  quick?: boolean;
  /** Square MatMul size (default 4096). */
  size?: number;
  /** Rows of the activation (default [1, 8]). */
  batches?: number[];
  threads?: number[];
  log?: (line: string) => void;
}

/** x [M, size] -> MatMul [size, size], seeded weights uniform with variance 1/size. */
function oneMatMul(size: number): Uint8Array {
  let s = 777;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const a = Math.sqrt(3 / size);
  const w = new Float32Array(size * size);
  for (let i = 0; i < w.length; i++) w[i] = (next() * 2 - 1) * a;
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', size] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', size] }],
    initializers: { w: new Tensor('float32', w, [size, size]) },
    nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], name: 'fc' }],
    opset: 17,
  });
}

export async function benchBinary(opts: BinaryBenchOptions = {}): Promise<BinaryBenchRow[]> {
  const log = opts.log ?? console.log;
  const size = opts.size ?? 4096;
  const batches = opts.batches ?? [1, 8];
  const minMs = opts.quick ? 300 : 1500;
  const threadCounts = opts.threads ?? (opts.quick ? [2] : [1, 2]);
  const fp = await load(oneMatMul(size));
  const int8 = await quantizeDynamic(fp, { weightType: 'int8', perChannel: true });
  const bin = binarizeWeights(fp);
  const xnor = binarizeWeights(fp, { activations: 'binary' });
  log(`MatMul ${size}x${size}: weights FP32 ${(bin.report.weightBytes.before / 2 ** 20).toFixed(1)} MB, binary ${(bin.report.weightBytes.after / 2 ** 20).toFixed(2)} MB (${bin.report.weightBytes.ratio.toFixed(1)}x smaller)`);
  const variants: [BinaryBenchRow['variant'], Model][] = [['FP32', fp], ['INT8 (quantizeDynamic)', int8], ['binary (sign-GEMM)', bin], ['binary acts too (XNOR)', xnor]];
  const rows: BinaryBenchRow[] = [];
  for (const threads of threadCounts) {
    setThreads(threads);
    for (const m of batches) {
      const x = Float32Array.from({ length: m * size }, (_, i) => Math.sin(i * 0.37));
      const feeds = { x: new Tensor('float32', x, [m, size]) };
      const reference = (await fp.run(feeds)).y.data as Float32Array;
      const ms = new Map<string, number>();
      for (const [variant, model] of variants) {
        const out = (await model.run(feeds)).y.data as Float32Array;
        const t = await timeAsync(() => model.run(feeds), { minMs, minIters: 10 });
        ms.set(variant, t.medianMs);
        const row: BinaryBenchRow = {
          variant, m, n: size, k: size, threads, ms: t.medianMs, gops: gops(m, size, size, t.medianMs),
          vsFp32: (ms.get('FP32') ?? t.medianMs) / t.medianMs, vsInt8: (ms.get('INT8 (quantizeDynamic)') ?? t.medianMs) / t.medianMs,
          vsFp32Db: sqnr(reference, out),
        };
        rows.push(row);
        const db = Number.isFinite(row.vsFp32Db) ? `${row.vsFp32Db.toFixed(1)} dB` : 'identical';
        log(`M=${m} t=${threads} ${variant.padEnd(23)} ${row.ms.toFixed(3).padStart(8)} ms ${row.gops.toFixed(1).padStart(7)} GOPS | FP32/this ${row.vsFp32.toFixed(2)} | INT8/this ${row.vsInt8.toFixed(2)} | vs FP32 ${db}`);
      }
    }
  }
  for (const [, m] of variants) m.dispose();
  return rows;
}

/** The rows as a markdown table (for bench/RESULTS.md). */
export function binaryMarkdown(rows: BinaryBenchRow[]): string {
  const lines = [
    '| M | threads | variant | ms | GOPS | FP32/variant | INT8/variant | output vs FP32 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const db = Number.isFinite(r.vsFp32Db) ? `${r.vsFp32Db.toFixed(1)} dB` : 'identical';
    lines.push(`| ${r.m} | ${r.threads} | ${r.variant} | ${r.ms.toFixed(3)} | ${r.gops.toFixed(1)} | ${r.vsFp32.toFixed(2)} | ${r.vsInt8.toFixed(2)} | ${db} |`);
  }
  return lines.join('\n');
}
