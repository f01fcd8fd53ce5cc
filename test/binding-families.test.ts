// Each kernel family through the binding, against plain JS references, at every ISA level.
// (The native tests sweep edge shapes exhaustively; these prove the JS surface is wired right.)
import { native } from '../lib/native';

const isas = native.cpuInfo().supportedIsas;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function matmulRef(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) {
    const av = a[i * k + t];
    for (let j = 0; j < n; j++) c[i * n + j] += av * b[t * n + j];
  }
  return c;
}

function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (scale || 1));
  return worst;
}

// FP32 sums of up to a few hundred products: well inside this bound relative to the output scale.
const FP32_GEMM_REL_TOL = 1e-5;

describe.each(isas)('kernel families at %s', (isa) => {
  test('sgemm with bias and relu, packed and unpacked (transposed B)', async () => {
    const m = 7, k = 45, n = 33;
    const a = randomFloats(m * k, 1), b = randomFloats(k * n, 2), bias = randomFloats(n, 3);
    const ref = matmulRef(a, b, m, k, n).map((v, i) => Math.max(0, v + bias[i % n]));
    const w = native.sgemmPackB(b, k, n, false, isa);
    const c = new Float32Array(m * n);
    await native.sgemm(a, m, w, c, { bias, activation: 'relu' }, true);
    expect(maxRelError(c, ref)).toBeLessThan(FP32_GEMM_REL_TOL);
    const bt = new Float32Array(n * k);
    for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) bt[j * k + t] = b[t * n + j];
    const c2 = new Float32Array(m * n);
    native.matmul(a, bt, m, k, n, true, c2, { bias, activation: 'relu' }, false, isa);
    expect(maxRelError(c2, ref)).toBeLessThan(FP32_GEMM_REL_TOL);
    w.dispose();
  });

  test('int4 blockwise weights: quantize, pack, GEMM against dequantize-then-matmul', () => {
    const m = 3, k = 100, n = 21, block = 32;
    const wts = randomFloats(n * k, 4);
    const x = randomFloats(m * k, 5);
    for (const symmetric of [true, false]) {
      const q = native.int4QuantizeBlockwise(wts, n, k, block, symmetric);
      const deq = new Float32Array(n * k);
      native.int4DequantizeBlockwise(q.packed, q.scales, q.zeroPoints, n, k, block, deq);
      // every weight is within half a step of its dequantized value
      const maxAbs = Math.max(...Array.from(wts, Math.abs));
      expect(maxRelError(deq, wts)).toBeLessThan(1 / 7);
      const deqT = new Float32Array(k * n);
      for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) deqT[t * n + j] = deq[j * k + t];
      const ref = matmulRef(x, deqT, m, k, n);
      const w = native.int4Pack(q.packed, q.scales, q.zeroPoints, n, k, block, isa);
      const y = new Float32Array(m * n);
      native.int4Gemm(x, m, w, null, false, y, false);
      expect(maxRelError(y, ref)).toBeLessThan(FP32_GEMM_REL_TOL);
      native.int4Gemm(x, m, w, null, true, y, false);  // int8 activations: ~1/127 per block
      expect(maxRelError(y, ref)).toBeLessThan(0.02);
      expect(maxAbs).toBeGreaterThan(0);
      w.dispose();
    }
  });
});

describe('element-wise conversions and reductions', () => {
  test('fp16 round trip keeps representable values exactly', () => {
    const x = new Float32Array([0, -0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity, -Infinity]);
    const h = new Uint16Array(x.length);
    native.f32ToF16(x, h);
    expect(Array.from(h.slice(0, 5))).toEqual([0x0000, 0x8000, 0x3c00, 0xc100, 0x7bff]);
    const back = new Float32Array(x.length);
    native.f16ToF32(h, back);
    expect(Array.from(back)).toEqual(Array.from(x));
  });

  test('per-channel min/max skips NaN/Inf and counts them; histograms accumulate', () => {
    const x = new Float32Array([1, -3, NaN, 2, 5, Infinity, -1, 0]);  // [2 outer, 2 ch, 2 inner]
    const mins = new Float32Array(2), maxs = new Float32Array(2);
    expect(native.minmax(x, 2, 2, mins, maxs)).toBe(2);
    expect(Array.from(mins)).toEqual([-3, -1]);
    expect(Array.from(maxs)).toEqual([5, 2]);
    const counts = new Float64Array(4);
    native.histogram(new Float32Array([-10, 0.1, 0.3, 0.6, 0.9, 10, NaN]), 0, 1, counts);
    native.histogram(new Float32Array([0.55]), 0, 1, counts);
    expect(Array.from(counts)).toEqual([2, 1, 2, 2]);
  });

  test('1-bit sign packing with per-row mean-magnitude scales', () => {
    const x = new Float32Array([1, -2, 3, -4, 0, 5, -6, 7, 8, -1]);  // 1 row of 10
    const { bits, scales } = native.signPack(x, 1, 10);
    expect(Array.from(bits)).toEqual([0b10110101, 0b01]);
    expect(scales[0]).toBeCloseTo(3.7, 6);
    const y = new Float32Array(10);
    native.signUnpack(bits, scales, 1, 10, y);
    expect(Array.from(y).map((v) => Math.sign(v))).toEqual([1, -1, 1, -1, 1, 1, -1, 1, 1, -1]);
  });

  test('k-means finds well-separated clusters; magnitude thresholds', async () => {
    const r = rng(9);
    const centers = [-3, 0.5, 4];
    const x = Float32Array.from({ length: 3000 }, (_, i) => centers[i % 3] + (r() - 0.5) * 0.2);
    const centroids = new Float32Array(3);
    const assignments = new Uint32Array(x.length);
    const res = await native.kmeans1d(x, 3, 'kmeans++', 50, 42, centroids, assignments, true);
    expect(res.iterations).toBeGreaterThan(0);
    centers.forEach((c, i) => expect(Math.abs(centroids[i] - c)).toBeLessThan(0.02));
    for (let i = 0; i < x.length; i++) expect(assignments[i]).toBe(i % 3);
    expect(native.magnitudeThreshold(new Float32Array([0.1, -5, 3, -0.2, 2]), 2)).toBe(3);
    expect(() => native.magnitudeThreshold(new Float32Array(3), 4)).toThrow(/k/);
  });
});
