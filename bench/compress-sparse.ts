// `npm run bench -- compress` (second part): the sparse INT8 GEMM against the dense one and
// against onnxruntime-node's QLinearMatMul (its fastest int8 GEMM op here: MatMulInteger with
// int32 output measured slower), on identical pruned int8 weights and inputs, uint8 output
// requantised the same way, across
// sparsities; and k-means clustering time for 10M weights into 256 clusters (one core).
// Weights are pruned two ways: 'block4' (whole runs of four along K, what the sparse kernel
// skips) and unstructured (single weights; a run of four is empty only by chance).
import * as ort from 'onnxruntime-node';
import { native } from '../lib/native';
import { buildModel } from '../lib/onnx/builder';
import { Tensor } from '../lib/tensor';
import { timeAsync } from './timing';

export interface SparseRow {
  shape: string;
  pattern: 'block4' | 'unstructured';
  sparsity: number;
  /** Share of 4-deep column groups holding a nonzero weight (what the sparse kernel multiplies). */
  groupDensity: number;
  denseMs: number;
  sparseMs: number;
  ortMs: number;
  /** Which path qgemmPackB's automatic choice takes for these weights. */
  auto: 'sparse' | 'dense';
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** int8 weights [k, n] ~ uniform in ±125 (never 0), then pruned. */
function prunedWeights(k: number, n: number, sparsity: number, pattern: SparseRow['pattern']): Int8Array {
  const r = lcg(k * 31 + n);
  const b = new Int8Array(k * n);
  for (let i = 0; i < b.length; i++) b[i] = Math.round((r() - 0.5) * 250) || 1;
  const run = pattern === 'block4' ? 4 : 1;
  for (let j = 0; j < n; j++) {
    for (let g = 0; g * run < k; g++) {
      if (r() >= sparsity) continue;
      for (let kk = g * run; kk < Math.min(k, g * run + run); kk++) b[kk * n + j] = 0;
    }
  }
  return b;
}

// Requantisation of the uint8 output: y = round(acc * sa * sb / sy) + zy.
const SA = 0.02, SB = 0.01, SY = 5, ZA = 3, ZY = 128;

function qlinearMatMulModel(b: Int8Array, m: number, k: number, n: number): Uint8Array {
  const f = (v: number) => new Tensor('float32', new Float32Array([v]), []);
  return buildModel({
    inputs: [{ name: 'a', dtype: 'uint8', dims: [m, k] }],
    outputs: [{ name: 'y', dtype: 'uint8', dims: [m, n] }],
    initializers: {
      b: new Tensor('int8', b, [k, n]), sa: f(SA), za: new Tensor('uint8', new Uint8Array([ZA]), []),
      sb: f(SB), zb: new Tensor('int8', new Int8Array([0]), []), sy: f(SY), zy: new Tensor('uint8', new Uint8Array([ZY]), []),
    },
    nodes: [{ opType: 'QLinearMatMul', inputs: ['a', 'sa', 'za', 'b', 'sb', 'zb', 'sy', 'zy'], outputs: ['y'] }],
    opset: 17,
  });
}

export async function benchSparse(opts: { quick?: boolean; threads?: number; log?: (s: string) => void } = {}): Promise<SparseRow[]> {
  const log = opts.log ?? console.log;
  const threads = opts.threads ?? 1;
  const minMs = opts.quick ? 150 : 500;
  // Conv-as-GEMM shapes (pixels x out channels x in channels * kernel) and a batched FC layer.
  const shapes: [number, number, number][] = opts.quick ? [[784, 128, 1152], [64, 1024, 1024]] : [[3136, 64, 576], [784, 128, 1152], [196, 256, 2304], [64, 1024, 1024]];
  const sparsities = opts.quick ? [0.5, 0.8, 0.9] : [0.5, 0.7, 0.8, 0.9, 0.95];
  native.setThreads(threads);
  const rows: SparseRow[] = [];
  for (const [m, n, k] of shapes) {
    const a = new Uint8Array(m * k);
    const r = lcg(m + k);
    for (let i = 0; i < a.length; i++) a[i] = Math.floor(r() * 256);
    const out = new Uint8Array(m * n);
    const requant = { requantScales: new Float32Array([Math.fround(SA * SB) / SY]), outZeroPoint: ZY };
    for (const pattern of ['block4', 'unstructured'] as const) {
      for (const sparsity of sparsities) {
        const b = prunedWeights(k, n, sparsity, pattern);
        const dense = native.qgemmPackB(b, k, n, false, null, undefined, 'dense');
        const sparse = native.qgemmPackB(b, k, n, false, null, undefined, 'sparse');
        const auto = native.qgemmPackB(b, k, n, false, null, undefined, 'auto');
        native.qgemm(a, m, ZA, dense, out, requant, false);
        const want = Uint8Array.from(out);
        native.qgemm(a, m, ZA, sparse, out, requant, false);
        if (!out.every((v, i) => v === want[i])) throw new Error(`sparse GEMM differs from dense at ${m}x${n}x${k} ${pattern} ${sparsity}`);
        const d = await timeAsync(async () => native.qgemm(a, m, ZA, dense, out, requant, false), { minMs });
        const s = await timeAsync(async () => native.qgemm(a, m, ZA, sparse, out, requant, false), { minMs });
        const session = await ort.InferenceSession.create(qlinearMatMulModel(b, m, k, n), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
        const feeds = { a: new ort.Tensor('uint8', a, [m, k]) };
        const theirs = (await session.run(feeds)).y.data as Uint8Array;
        if (!theirs.every((v, i) => Math.abs(v - want[i]) <= 1)) throw new Error(`onnxruntime's QLinearMatMul differs from ours by more than 1 at ${m}x${n}x${k}`);
        const o = await timeAsync(() => session.run(feeds), { minMs });
        await session.release();
        const layout = native.qgemmLayout(sparse);
        const row: SparseRow = {
          shape: `${m}x${n}x${k}`, pattern, sparsity, groupDensity: layout.groupDensity,
          denseMs: d.medianMs, sparseMs: s.medianMs, ortMs: o.medianMs,
          auto: native.qgemmLayout(auto).sparse && m >= 16 ? 'sparse' : 'dense',
        };
        rows.push(row);
        log(`${row.shape.padEnd(14)} ${pattern.padEnd(12)} s=${sparsity.toFixed(2)} groups=${row.groupDensity.toFixed(2)} | dense ${row.denseMs.toFixed(3)} ms | sparse ${row.sparseMs.toFixed(3)} ms | ORT ${row.ortMs.toFixed(3)} ms | dense/sparse ${(row.denseMs / row.sparseMs).toFixed(2)} | ORT/sparse ${(row.ortMs / row.sparseMs).toFixed(2)} | auto: ${row.auto}`);
        for (const w of [dense, sparse, auto]) w.dispose();
      }
    }
  }
  return rows;
}

export interface ClusterTiming { weights: number; clusters: number; init: string; seconds: number; iterations: number }

/** k-means of 10M N(0, 0.02) weights into 256 clusters with assignments, one core (floor: < 1 s). */
export async function benchClustering(log: (s: string) => void = console.log, n = 10_000_000): Promise<ClusterTiming[]> {
  const r = lcg(7);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {  // Box-Muller pairs
    const u = Math.max(r(), 1e-12), v = r();
    const rad = Math.sqrt(-2 * Math.log(u)) * 0.02;
    x[i] = rad * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) x[i + 1] = rad * Math.sin(2 * Math.PI * v);
  }
  const centroids = new Float32Array(256), assignments = new Uint32Array(n);
  const out: ClusterTiming[] = [];
  for (const init of ['kmeans++', 'linear', 'density'] as const) {
    const t0 = performance.now();
    const res = native.kmeans1d(x, 256, init, 100, 1, centroids, assignments, false);
    const seconds = (performance.now() - t0) / 1000;
    out.push({ weights: n, clusters: 256, init, seconds, iterations: res.iterations });
    log(`k-means ${n / 1e6}M weights -> 256 clusters, init ${init.padEnd(8)}: ${seconds.toFixed(3)} s (${res.iterations} iterations) ${seconds < 1 ? 'under' : 'OVER'} the 1 s floor`);
  }
  return out;
}

export function sparseMarkdown(rows: SparseRow[], clusters: ClusterTiming[]): string {
  const lines = [
    '| GEMM MxNxK | pruning | sparsity | groups kept | dense ms | sparse ms | ORT QLinearMatMul ms | dense/sparse | ORT/sparse | auto |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) lines.push(`| ${r.shape} | ${r.pattern} | ${r.sparsity} | ${r.groupDensity.toFixed(2)} | ${r.denseMs.toFixed(3)} | ${r.sparseMs.toFixed(3)} | ${r.ortMs.toFixed(3)} | ${(r.denseMs / r.sparseMs).toFixed(2)} | ${(r.ortMs / r.sparseMs).toFixed(2)} | ${r.auto} |`);
  lines.push('', '| k-means | init | seconds (one core) | iterations |', '|---|---|---|---|');
  for (const c of clusters) lines.push(`| ${c.weights / 1e6}M weights -> ${c.clusters} | ${c.init} | ${c.seconds.toFixed(3)} | ${c.iterations} |`);
  return lines.join('\n');
}
