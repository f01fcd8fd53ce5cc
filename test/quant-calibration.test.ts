// Calibration math of static quantization: the streaming histogram, the five observers and the
// scale / zero point arithmetic, checked against brute force and against known distributions.
import { Histogram } from '../lib/quant/calibration/histogram';
import {
  createObserver,
  HistogramObserver,
  MinMaxObserver,
  MovingAverageObserver,
  type CalibrationMethod,
  type Observer,
  type Range,
} from '../lib/quant/calibration/observers';
import { codeRange, fakeQuantize, qparamsFromRange, quantizeValue, sqnr, type QuantType } from '../lib/quant/qparams';

// Globals read once: under jest every lookup of `Math` in a loop goes through a slow vm interceptor.
const { sqrt, log, cos, abs, sign, imul, PI } = Math;

// mulberry32: small, seeded, good enough for test data.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function gaussian(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sqrt(-2 * log(1 - r())) * cos(2 * PI * r());
  return out;
}

function laplace(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() - 0.5;
    out[i] = -sign(u) * log(1 - 2 * abs(u));
  }
  return out;
}

function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

function observeInBatches(o: Observer, data: Float32Array, batches: number): Observer {
  const size = Math.ceil(data.length / batches);
  for (let b = 0; b < batches; b++) o.observe(data.subarray(b * size, Math.min(data.length, (b + 1) * size)));
  return o;
}

function exactMinMax(data: Float32Array): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue; // NaN or ±Infinity
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const HISTOGRAM_METHODS = ['percentile', 'entropy', 'mse'] as const;
const ALL_METHODS: readonly CalibrationMethod[] = ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'];
const SCHEMES: readonly { dtype: QuantType; symmetric: boolean }[] = [
  { dtype: 'int8', symmetric: true },
  { dtype: 'uint8', symmetric: false },
  { dtype: 'int8', symmetric: false },
  { dtype: 'uint8', symmetric: true },
];

describe('Histogram', () => {
  // Where a value belongs given the final bin width: the definition, applied value by value.
  function bruteForceSigned(values: Float32Array, h: Histogram): Float64Array {
    const out = new Float64Array(2 * h.bins);
    const w = h.binWidth;
    const floor = Math.floor;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      if (v >= 0) out[h.bins + floor(v / w)]++;
      else out[h.bins - 1 - floor(-v / w)]++;
    }
    return out;
  }

  test('growth keeps every count and every value in the bin a brute-force pass puts it in', () => {
    const r = rng(7);
    const batches: Float32Array[] = [];
    // Ranges growing by uneven factors, a batch of zeros first, a tiny one, then a jump of 2^40.
    batches.push(new Float32Array(100));
    batches.push(uniform(500, 1, -1e-3, 1e-3));
    for (let b = 0; b < 30; b++) {
      const scale = 2 ** (b / 3) * (0.5 + r());
      batches.push(uniform(2000, 100 + b, -scale, scale * 0.7));
    }
    batches.push(Float32Array.of(-0, 0, 2 ** 40, -(2 ** 39), 1e-30));
    batches.push(uniform(3000, 999, -5, 5));
    const h = new Histogram(256);
    for (const b of batches) h.add(b);
    const all = concat(batches);

    const signed = h.signedCounts();
    expect(signed.reduce((a, c) => a + c, 0)).toBe(all.length);
    expect(h.count).toBe(all.length);
    expect(Array.from(signed)).toEqual(Array.from(bruteForceSigned(all, h)));
    const abs = h.absoluteCounts();
    for (let i = 0; i < h.bins; i++) expect(abs[i]).toBe(signed[h.bins + i] + signed[h.bins - 1 - i]);
    expect(h.min).toBe(exactMinMax(all).min);
    expect(h.max).toBe(exactMinMax(all).max);
    expect(h.limit).toBeGreaterThan(2 ** 40);
  });

  test('every batch growing the range a little still places every value exactly', () => {
    const h = new Histogram(2048);
    const parts: Float32Array[] = [];
    for (let b = 0; b < 60; b++) {
      const part = gaussian(5000, 300 + b).map((v) => v * (1 + b / 20));
      parts.push(part);
      h.add(part);
    }
    const all = concat(parts);
    expect(Array.from(h.signedCounts())).toEqual(Array.from(bruteForceSigned(all, h)));
    expect(h.min).toBe(exactMinMax(all).min);
    expect(h.max).toBe(exactMinMax(all).max);
  });

  test('the first non-zero batch sets a range just above its largest magnitude', () => {
    const h = new Histogram(2048);
    h.add(Float32Array.of(0, 0, 0));
    expect(h.binWidth).toBe(0);
    h.add(Float32Array.of(3, -1, 0.5));
    expect(h.limit).toBeGreaterThan(3);
    expect(h.limit).toBeLessThan(3 * (1 + 1e-6));
    const pos = h.signedCounts().subarray(2048);
    expect(pos[0]).toBe(3); // the three zeros
    expect(pos[2047]).toBe(1); // the maximum, in the last bin
  });

  test('non-negative data leaves the negative side empty', () => {
    const h = new Histogram();
    h.add(uniform(10000, 3, 0, 6));
    expect(h.signedCounts().subarray(0, h.bins).every((c) => c === 0)).toBe(true);
    expect(h.min).toBeGreaterThanOrEqual(0);
  });

  test('NaN and ±Infinity are counted and left out of every statistic', () => {
    const h = new Histogram(64);
    h.add(Float32Array.of(NaN, 1, Infinity, -2, -Infinity, NaN));
    h.add(Float32Array.of(NaN));
    expect(h.count).toBe(2);
    expect(h.nonFinite).toBe(5);
    expect(h.min).toBe(-2);
    expect(h.max).toBe(1);
    expect(h.signedCounts().reduce((a, c) => a + c, 0)).toBe(2);
  });

  test('rejects a bin count out of bounds and a batch that is not a Float32Array', () => {
    expect(() => new Histogram(3)).toThrow(/bins: expected an integer in \[16, \d+\], received 3/);
    expect(() => new Histogram(100.5)).toThrow(TypeError);
    const h = new Histogram();
    expect(() => h.add([1, 2] as unknown as Float32Array)).toThrow(/values: expected a Float32Array, received array\(2\)/);
  });
});

describe('observers on known distributions', () => {
  test('uniform data: every method keeps (nearly) the full range', () => {
    const data = uniform(400000, 11, -1, 1);
    const exact = exactMinMax(data);
    for (const scheme of SCHEMES) {
      for (const method of ALL_METHODS) {
        const r = observeInBatches(createObserver({ method, ...scheme }), data, 20).range();
        expect({ method, scheme, min: r.min, max: r.max }).toEqual({
          method, scheme, min: expect.closeTo(exact.min, 1.5), max: expect.closeTo(exact.max, 1.5),
        });
      }
    }
  });

  test('Gaussian data: percentile 99.9 matches the analytic quantile', () => {
    const data = gaussian(2000000, 21);
    const z = 3.2905267; // Φ⁻¹(0.9995): each tail holds 0.05%, and |x| exceeds it 0.1% of the time
    for (const scheme of SCHEMES) {
      const r = observeInBatches(createObserver({ method: 'percentile', percentile: 99.9, ...scheme }), data, 50).range();
      expect(Math.abs(r.min + z)).toBeLessThan(0.03);
      expect(Math.abs(r.max - z)).toBeLessThan(0.03);
    }
  });

  test('Gaussian data: entropy and mse clip the tails but keep the bulk', () => {
    const data = gaussian(1000000, 22);
    const exact = exactMinMax(data);
    for (const method of ['entropy', 'mse'] as const) {
      const r = observeInBatches(createObserver({ method, dtype: 'int8', symmetric: true }), data, 10).range();
      expect(r.max).toBeGreaterThan(2.5);
      expect(r.max).toBeLessThan(exact.max);
    }
  });

  test('ReLU-like non-negative data gives min 0 with every method and scheme', () => {
    const data = gaussian(300000, 31).map((v) => Math.max(0, v));
    for (const scheme of SCHEMES) {
      for (const method of ALL_METHODS) {
        const r = observeInBatches(createObserver({ method, ...scheme }), data, 30).range();
        expect({ method, scheme, min: r.min }).toEqual({ method, scheme, min: 0 });
        expect(r.max).toBeGreaterThan(1);
      }
    }
  });

  test('entropy is not dragged down by the spike of exact zeros in ReLU outputs', () => {
    const data = gaussian(300000, 32).map((v) => Math.max(0, v));
    const max = exactMinMax(data).max;
    for (const scheme of SCHEMES) {
      const r = observeInBatches(createObserver({ method: 'entropy', ...scheme }), data, 10).range();
      expect(r.max).toBeGreaterThan(0.75 * max);
    }
  });

  test('percentile never moves a bound across zero', () => {
    // 99% positive data with a sliver of negatives: the lower tail cut would land above 0.
    const data = concat([uniform(99000, 41, 1, 2), uniform(1000, 42, -1, 0)]);
    const r = createObserver({ method: 'percentile', percentile: 90, dtype: 'uint8', symmetric: false });
    r.observe(data);
    expect(r.range().min).toBe(0);
    // Data that never reaches zero keeps its clipped bounds.
    const pos = createObserver({ method: 'percentile', percentile: 90, dtype: 'uint8', symmetric: false });
    pos.observe(uniform(100000, 43, 1, 2));
    expect(pos.range().min).toBeCloseTo(1.05, 2);
    expect(pos.range().max).toBeCloseTo(1.95, 2);
  });

  test('data that never reaches zero gets a valid range inside the data with every method and scheme', () => {
    for (const [lo, hi] of [[1, 2], [-2, -1], [1e-3, 1e3]]) {
      const data = uniform(50000, 44, lo, hi);
      const exact = exactMinMax(data);
      for (const scheme of SCHEMES) {
        for (const method of ALL_METHODS) {
          const r = observeInBatches(createObserver({ method, ...scheme }), data, 5).range();
          const ok = r.min <= r.max && r.min >= exact.min && r.max <= exact.max;
          expect({ lo, hi, method, scheme, r, ok }).toEqual({ lo, hi, method, scheme, r, ok: true });
          expect(() => qparamsFromRange(r, scheme)).not.toThrow();
        }
      }
    }
  });

  test('all-zero data gives the zero range with every method', () => {
    for (const method of ALL_METHODS) {
      const o = createObserver({ method, dtype: 'uint8', symmetric: false });
      o.observe(new Float32Array(1000));
      expect(o.range()).toEqual({ min: 0, max: 0 });
    }
  });
});

describe('heavy-tailed activations: clipping beats minmax', () => {
  const cases: { name: string; data: Float32Array; dtype: QuantType; symmetric: boolean }[] = [
    { name: 'Laplace(0,1), int8 symmetric', data: laplace(1000000, 51), dtype: 'int8', symmetric: true },
    { name: 'Laplace(0,1), uint8 asymmetric', data: laplace(1000000, 52), dtype: 'uint8', symmetric: false },
    { name: 'ReLU(Laplace(0,1)), uint8 asymmetric', data: laplace(1000000, 53).map((v) => Math.max(0, v)), dtype: 'uint8', symmetric: false },
  ];
  {
    const g = gaussian(1000000, 54);
    const r = rng(55);
    for (let k = 0; k < 4; k++) g[Math.floor(r() * g.length)] = (r() < 0.5 ? -1 : 1) * (20 + 20 * r());
    cases.push({ name: 'N(0,1) + 4 outliers in ±[20,40], int8 symmetric', data: g, dtype: 'int8', symmetric: true });
  }
  const methods = ['minmax', 'percentile', 'entropy', 'mse'] as const;

  test('percentile, entropy and mse each beat minmax in SQNR, and mse is best', () => {
    const table = cases.map((c) => {
      const db = new Map<string, number>();
      for (const method of methods) {
        const o = observeInBatches(createObserver({ method, dtype: c.dtype, symmetric: c.symmetric }), c.data, 50);
        const q = qparamsFromRange(o.range(), { dtype: c.dtype, symmetric: c.symmetric });
        db.set(method, sqnr(c.data, fakeQuantize(c.data, q)));
      }
      return { name: c.name, db };
    });
    const header = `${'SQNR (dB) of fakeQuantize vs the data'.padEnd(50)}${methods.map((m) => m.padStart(11)).join('')}`;
    const rows = table.map(({ name, db }) => `${name.padEnd(50)}${methods.map((m) => db.get(m)!.toFixed(2).padStart(11)).join('')}`);
    console.log([header, ...rows].join('\n'));

    for (const { name, db } of table) {
      const minmax = db.get('minmax')!;
      for (const m of ['percentile', 'entropy', 'mse']) {
        expect({ name, m, beatsMinmaxByHalfDb: db.get(m)! > minmax + 0.5 }).toEqual({ name, m, beatsMinmaxByHalfDb: true });
      }
      // mse minimizes what SQNR measures, up to the histogram's resolution.
      expect(db.get('mse')!).toBeGreaterThan(Math.max(db.get('percentile')!, db.get('entropy')!) - 0.05);
    }
  });
});

describe('mse search', () => {
  test('asymmetric: each end is searched on its own, matching a brute-force grid over the real data', () => {
    // A heavy left tail worth clipping next to a bounded right side that is not.
    const r = rng(91);
    const data = new Float32Array(100000);
    for (let i = 0; i < data.length; i++) data[i] = r() < 0.5 ? log(1 - r()) : 6 * r();
    const { min, max } = exactMinMax(data);
    const scheme = { dtype: 'uint8', symmetric: false } as const;
    const found = observeInBatches(createObserver({ method: 'mse', ...scheme }), data, 10).range();
    const foundDb = sqnr(data, fakeQuantize(data, qparamsFromRange(found, scheme)));
    let bestDb = -Infinity;
    for (let a = 0.3; a <= 1.0001; a += 0.025) {
      for (let b = 0.9; b <= 1.0001; b += 0.01) {
        bestDb = Math.max(bestDb, sqnr(data, fakeQuantize(data, qparamsFromRange({ min: a * min, max: b * max }, scheme))));
      }
    }
    expect(foundDb).toBeGreaterThan(bestDb - 0.05);
    expect(found.min).toBeGreaterThan(0.95 * min); // the tail is clipped...
    expect(found.max).toBeGreaterThan(0.98 * max); // ...the bounded side hardly
  });
});

describe('streaming', () => {
  test('one batch or a hundred: same minmax, near-same histogram ranges', () => {
    const data = concat([laplace(200000, 61), gaussian(100000, 62).map((v) => 3 * v + 1)]);
    const exact = exactMinMax(data);
    const one = observeInBatches(new MinMaxObserver(), data, 1).range();
    const many = observeInBatches(new MinMaxObserver(), data, 100).range();
    expect(one).toEqual(exact);
    expect(many).toEqual(exact);
    for (const scheme of SCHEMES) {
      for (const method of HISTOGRAM_METHODS) {
        const a = observeInBatches(createObserver({ method, ...scheme }), data, 1);
        const b = observeInBatches(createObserver({ method, ...scheme }), data, 100);
        expect(b.count).toBe(a.count);
        const ra = a.range();
        const rb = b.range();
        const span = exact.max - exact.min;
        expect({ method, scheme, dMin: Math.abs(ra.min - rb.min) / span < 0.02, dMax: Math.abs(ra.max - rb.max) / span < 0.02 })
          .toEqual({ method, scheme, dMin: true, dMax: true });
      }
    }
  });

  test('moving average follows the EMA of per-batch min and max', () => {
    const o = new MovingAverageObserver(0.5);
    o.observe(Float32Array.of(0, 1));
    expect(o.range()).toEqual({ min: 0, max: 1 });
    o.observe(Float32Array.of(-2, 3, NaN));
    expect(o.range()).toEqual({ min: -1, max: 2 });
    o.observe(Float32Array.of(NaN, Infinity)); // nothing finite: no update
    o.observe(Float32Array.of(1));
    expect(o.range()).toEqual({ min: 0, max: 1.5 });
    expect(o.count).toBe(5);
    expect(o.nonFinite).toBe(3);
    const d = new MovingAverageObserver();
    expect(d.averagingConstant).toBe(0.01);
    d.observe(Float32Array.of(-1, 1));
    d.observe(Float32Array.of(-3, 5));
    expect(d.range().min).toBeCloseTo(-1.02, 12);
    expect(d.range().max).toBeCloseTo(1.04, 12);
  });
});

describe('observer edge cases', () => {
  test('NaN and ±Infinity are counted and skipped by every observer', () => {
    for (const method of ALL_METHODS) {
      const o = createObserver({ method, dtype: 'int8', symmetric: false });
      o.observe(Float32Array.of(NaN, 1, Infinity, -2, -Infinity, NaN, 0.5));
      expect(o.count).toBe(3);
      expect(o.nonFinite).toBe(4);
      const r = o.range();
      expect(Number.isFinite(r.min) && Number.isFinite(r.max)).toBe(true);
      expect(r.min).toBeGreaterThanOrEqual(-2);
      expect(r.max).toBeLessThanOrEqual(1);
    }
  });

  test('an observer that saw no finite value throws a RangeError saying so', () => {
    for (const method of ALL_METHODS) {
      const fresh = createObserver({ method, dtype: 'uint8', symmetric: false });
      expect(() => fresh.range()).toThrow(RangeError);
      expect(() => fresh.range()).toThrow(/range\(\): expected at least one finite observed value, received none/);
      const onlyBad = createObserver({ method, dtype: 'uint8', symmetric: false });
      onlyBad.observe(Float32Array.of(NaN, Infinity));
      onlyBad.observe(new Float32Array(0));
      expect(() => onlyBad.range()).toThrow(/received none \(2 non-finite values skipped\)/);
    }
  });

  test('options are checked with errors naming the option, the expectation and the value', () => {
    expect(() => createObserver({ method: 'kmeans' as CalibrationMethod, dtype: 'int8', symmetric: true }))
      .toThrow(/options.method: expected one of 'minmax', 'movingAverage', 'percentile', 'entropy', 'mse', received "kmeans"/);
    expect(() => createObserver({ method: 'percentile', percentile: 0, dtype: 'int8', symmetric: true }))
      .toThrow(/options.percentile: expected a number in \(0, 100\], received 0/);
    expect(() => createObserver({ method: 'percentile', percentile: 100.5, dtype: 'int8', symmetric: true })).toThrow(RangeError);
    expect(() => createObserver({ method: 'movingAverage', averagingConstant: 0, dtype: 'int8', symmetric: true }))
      .toThrow(/averagingConstant: expected a number in \(0, 1\], received 0/);
    expect(() => createObserver({ method: 'mse', bins: 8, dtype: 'int8', symmetric: true })).toThrow(/bins/);
    expect(() => createObserver({ method: 'mse', dtype: 'int4' as QuantType, symmetric: true }))
      .toThrow(/options.dtype: expected 'uint8' or 'int8', received "int4"/);
    expect(() => createObserver({ method: 'mse', dtype: 'int8', symmetric: 1 as unknown as boolean }))
      .toThrow(/options.symmetric: expected a boolean, received 1/);
    expect(() => new MinMaxObserver().observe(new Float64Array(2) as unknown as Float32Array))
      .toThrow(/values: expected a Float32Array, received Float64Array\(2\)/);
  });

  test('observers are open for extension', () => {
    class ClampedObserver extends HistogramObserver {
      protected override percentileRange(): Range {
        const r = super.percentileRange();
        return { min: Math.max(r.min, -1), max: Math.min(r.max, 1) };
      }
    }
    const o = new ClampedObserver('percentile', { dtype: 'int8', symmetric: true });
    o.observe(gaussian(10000, 71));
    expect(o.range()).toEqual({ min: -1, max: 1 });
  });
});

describe('qparams', () => {
  const f = Math.fround;

  test('code ranges: full, symmetric (narrow) and reduced', () => {
    expect(codeRange('uint8', false)).toEqual({ qmin: 0, qmax: 255 });
    expect(codeRange('int8', false)).toEqual({ qmin: -128, qmax: 127 });
    expect(codeRange('uint8', true)).toEqual({ qmin: 1, qmax: 255 });
    expect(codeRange('int8', true)).toEqual({ qmin: -127, qmax: 127 });
    expect(codeRange('uint8', false, true)).toEqual({ qmin: 0, qmax: 127 });
    expect(codeRange('int8', false, true)).toEqual({ qmin: -64, qmax: 63 });
    expect(codeRange('int8', true, true)).toEqual({ qmin: -63, qmax: 63 });
  });

  test('zero range: scale 1 and the natural zero point', () => {
    const zero = { min: 0, max: 0 };
    expect(qparamsFromRange(zero, { dtype: 'uint8', symmetric: false })).toEqual({ scale: 1, zeroPoint: 0, dtype: 'uint8' });
    expect(qparamsFromRange(zero, { dtype: 'int8', symmetric: false })).toEqual({ scale: 1, zeroPoint: 0, dtype: 'int8' });
    expect(qparamsFromRange(zero, { dtype: 'uint8', symmetric: true })).toEqual({ scale: 1, zeroPoint: 128, dtype: 'uint8' });
    expect(qparamsFromRange(zero, { dtype: 'int8', symmetric: true })).toEqual({ scale: 1, zeroPoint: 0, dtype: 'int8' });
  });

  test('one-sided ranges are widened to include 0', () => {
    expect(qparamsFromRange({ min: -2, max: -1 }, { dtype: 'uint8', symmetric: false })).toEqual({ scale: f(2 / 255), zeroPoint: 255, dtype: 'uint8' });
    expect(qparamsFromRange({ min: -2, max: -1 }, { dtype: 'int8', symmetric: false })).toEqual({ scale: f(2 / 255), zeroPoint: 127, dtype: 'int8' });
    expect(qparamsFromRange({ min: 1, max: 2 }, { dtype: 'uint8', symmetric: false })).toEqual({ scale: f(2 / 255), zeroPoint: 0, dtype: 'uint8' });
    expect(qparamsFromRange({ min: 1, max: 2 }, { dtype: 'int8', symmetric: false })).toEqual({ scale: f(2 / 255), zeroPoint: -128, dtype: 'int8' });
    expect(qparamsFromRange({ min: 1, max: 2 }, { dtype: 'int8', symmetric: true })).toEqual({ scale: f(2 / 127), zeroPoint: 0, dtype: 'int8' });
  });

  test('asymmetric and symmetric scales and zero points', () => {
    // zero point = round(0 - (-1) / (4/255)) = round(63.75) = 64
    expect(qparamsFromRange({ min: -1, max: 3 }, { dtype: 'uint8', symmetric: false })).toEqual({ scale: f(4 / 255), zeroPoint: 64, dtype: 'uint8' });
    expect(qparamsFromRange({ min: -1, max: 3 }, { dtype: 'int8', symmetric: false })).toEqual({ scale: f(4 / 255), zeroPoint: -64, dtype: 'int8' });
    expect(qparamsFromRange({ min: -1, max: 3 }, { dtype: 'uint8', symmetric: true })).toEqual({ scale: f(3 / 127), zeroPoint: 128, dtype: 'uint8' });
    expect(qparamsFromRange({ min: -3, max: 1 }, { dtype: 'int8', symmetric: true })).toEqual({ scale: f(3 / 127), zeroPoint: 0, dtype: 'int8' });
    // Symmetric: both ends of the range are exactly on the grid.
    const q = qparamsFromRange({ min: -3, max: 1 }, { dtype: 'uint8', symmetric: true });
    expect(quantizeValue(3, q)).toBe(255);
    expect(quantizeValue(-3, q)).toBe(1);
    // The scale is a float32.
    const odd = qparamsFromRange({ min: -0.1, max: 0.7 }, { dtype: 'uint8', symmetric: false });
    expect(odd.scale).toBe(f(odd.scale));
    expect(odd.scale).toBe(f(0.8 / 255));
  });

  test('reduceRange uses 7 bits', () => {
    expect(qparamsFromRange({ min: 0, max: 1 }, { dtype: 'uint8', symmetric: false, reduceRange: true })).toEqual({ scale: f(1 / 127), zeroPoint: 0, dtype: 'uint8' });
    // zero point = round(-64 + 1 / (2/127)) = round(-0.5) = 0 (ties to even, and not -0)
    expect(qparamsFromRange({ min: -1, max: 1 }, { dtype: 'int8', symmetric: false, reduceRange: true })).toEqual({ scale: f(2 / 127), zeroPoint: 0, dtype: 'int8' });
    expect(qparamsFromRange({ min: -1, max: 1 }, { dtype: 'int8', symmetric: true, reduceRange: true })).toEqual({ scale: f(1 / 63), zeroPoint: 0, dtype: 'int8' });
    expect(qparamsFromRange({ min: -1, max: 1 }, { dtype: 'uint8', symmetric: true, reduceRange: true })).toEqual({ scale: f(1 / 63), zeroPoint: 64, dtype: 'uint8' });
  });

  test('bad ranges and options are rejected by name', () => {
    expect(() => qparamsFromRange({ min: 1, max: -1 }, { dtype: 'int8', symmetric: true })).toThrow(/range.max: expected a number >= range.min \(1\), received -1/);
    expect(() => qparamsFromRange({ min: NaN, max: 1 }, { dtype: 'int8', symmetric: true })).toThrow(/range.min: expected a finite number, received NaN/);
    expect(() => qparamsFromRange({ min: 0, max: Infinity }, { dtype: 'int8', symmetric: true })).toThrow(RangeError);
    expect(() => qparamsFromRange({ min: 0, max: 1 }, { dtype: 'fp8' as QuantType, symmetric: true })).toThrow(/options.dtype: expected 'uint8' or 'int8', received "fp8"/);
  });
});

describe('quantize, fake-quantize and SQNR', () => {
  const int8 = { scale: 1, zeroPoint: 0, dtype: 'int8' as const };
  const uint8 = { scale: 0.5, zeroPoint: 128, dtype: 'uint8' as const };

  test('quantizeValue rounds ties to even', () => {
    const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [0.49999997, 0], [1.2, 1], [-1.7, -2]];
    for (const [x, q] of cases) expect([x, quantizeValue(x, int8)]).toEqual([x, q]);
    // Ties after division by a non-unit scale: 1.25 / 0.5 = 2.5 -> 2, 1.75 / 0.5 = 3.5 -> 4, plus the zero point.
    expect(quantizeValue(1.25, uint8)).toBe(130);
    expect(quantizeValue(1.75, uint8)).toBe(132);
    expect(Object.is(quantizeValue(-0.4, int8), 0)).toBe(true);
  });

  test('quantizeValue saturates to the type, maps NaN to the lowest code like QuantizeLinear', () => {
    expect(quantizeValue(127.5, int8)).toBe(127);
    expect(quantizeValue(1e9, int8)).toBe(127);
    expect(quantizeValue(-1e9, int8)).toBe(-128);
    expect(quantizeValue(-128.5, int8)).toBe(-128);
    expect(quantizeValue(Infinity, int8)).toBe(127);
    expect(quantizeValue(-Infinity, int8)).toBe(-128);
    expect(quantizeValue(1000, uint8)).toBe(255);
    expect(quantizeValue(-1000, uint8)).toBe(0);
    expect(quantizeValue(NaN, uint8)).toBe(0);
    expect(quantizeValue(NaN, int8)).toBe(-128);
    expect(() => quantizeValue(1, { scale: 0, zeroPoint: 0, dtype: 'int8' })).toThrow(/qparams.scale: expected a finite number > 0, received 0/);
    expect(() => quantizeValue(1, { scale: 1, zeroPoint: 200, dtype: 'int8' })).toThrow(/qparams.zeroPoint: expected an integer in \[-128, 127\] for int8, received 200/);
  });

  test('quantizeValue divides in float32 like QuantizeLinear', () => {
    // In float64 0.35 / 0.1 is 3.4999999999999996 (-> 3); in float32 it is exactly 3.5 (-> 4, the even tie).
    expect(0.35 / 0.1).toBeLessThan(3.5);
    expect(Math.fround(Math.fround(0.35) / Math.fround(0.1))).toBe(3.5);
    expect(quantizeValue(0.35, { scale: 0.1, zeroPoint: 0, dtype: 'int8' })).toBe(4);
  });

  test('fakeQuantize reproduces grid points exactly and clips outside the range', () => {
    const q = qparamsFromRange({ min: -1, max: 3 }, { dtype: 'uint8', symmetric: false });
    const grid = Float32Array.from([0, 1, 2, 100, 255], (c) => (c - q.zeroPoint) * q.scale);
    expect(Array.from(fakeQuantize(grid, q))).toEqual(Array.from(grid));
    const out = fakeQuantize(Float32Array.of(1e6, -1e6, NaN), q);
    expect(out[0]).toBe(Math.fround((255 - q.zeroPoint) * q.scale));
    expect(out[1]).toBe(Math.fround((0 - q.zeroPoint) * q.scale));
    expect(out[2]).toBe(Math.fround((0 - q.zeroPoint) * q.scale));  // NaN -> code 0
  });

  test('sqnr: identity is Infinity, zero signal is handled, a known ratio', () => {
    const x = gaussian(1000, 81);
    expect(sqnr(x, x)).toBe(Infinity);
    expect(sqnr(new Float32Array(4), new Float32Array(4))).toBe(Infinity);
    expect(sqnr(new Float32Array(4), Float32Array.of(0, 1, 0, 0))).toBe(-Infinity);
    // signal 2, noise 0.02 (up to float32 rounding of 1.1 and 0.9): 20 dB
    expect(sqnr(Float32Array.of(1, 1), Float32Array.of(1.1, 0.9))).toBeCloseTo(20, 4);
    expect(() => sqnr(x, new Float32Array(3))).toThrow(/actual: expected a Float32Array of reference's length 1000, received Float32Array\(3\)/);
  });
});

describe('entropy on data that does not reach zero', () => {
  test.each([true, false])('an offset tensor keeps its values (symmetric %s)', (symmetric) => {
    // All values in [-2.5, -1.4], like a pre-sigmoid gate: clipping to the bin nearest zero
    // would map them all to one code.
    let s = 9;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const obs = createObserver({ method: 'entropy', dtype: 'uint8', symmetric });
    obs.observe(Float32Array.from({ length: 50000 }, () => -1.4 - 1.1 * r()));
    const range = obs.range();
    expect(range.min).toBeLessThan(-2.4);
    expect(range.max).toBeLessThanOrEqual(-1.39);
  });
});
