// Observers watch every calibration batch of one activation tensor and turn what they saw into the
// clip range the tensor's scale and zero point are computed from.

import { invalidRange, invalidType } from '../../errors';
import { codeRange, qparamsFromRange, type QuantType } from '../qparams';
import { DEFAULT_HISTOGRAM_BINS, Histogram } from './histogram';

// Read once for the search loops: inside a vm context (jest, for one) every lookup of a global such
// as `Math` goes through an interceptor and costs more than the arithmetic around it.
const { abs, floor, log, round } = Math;

/** A closed interval of real values, min <= max. */
export interface Range { min: number; max: number }

/** Watches batches of one tensor's values and proposes the range to quantize it with. */
export interface Observer {
  /** Takes one batch into account; NaN and ±Infinity are counted and otherwise ignored. */
  observe(values: Float32Array): void;
  /** The range to quantize with; throws a RangeError when no finite value was observed. */
  range(): Range;
  /** Finite values observed. */
  readonly count: number;
  /** NaN and ±Infinity values observed (and skipped). */
  readonly nonFinite: number;
}

/** How a range is derived from what was observed. */
export type CalibrationMethod = 'minmax' | 'movingAverage' | 'percentile' | 'entropy' | 'mse';

/** The calibration methods that work from a histogram. */
export type HistogramMethod = 'percentile' | 'entropy' | 'mse';

/** Options of {@link createObserver}. */
export interface ObserverOptions {
  method: CalibrationMethod;
  /** percentile: the share of values kept, in (0, 100]; default 99.999. */
  percentile?: number;
  /** movingAverage: weight of each new batch's min and max, in (0, 1]; default 0.01 as in onnxruntime. */
  averagingConstant?: number;
  /** Histogram methods: bins per side of zero; default 2048. */
  bins?: number;
  /** The type the tensor will be quantized to (entropy levels, mse grid). */
  dtype: QuantType;
  /** Whether the tensor will be quantized symmetrically (percentile tails, entropy levels, mse grid). */
  symmetric: boolean;
}

/** Options of {@link HistogramObserver}. */
export interface HistogramObserverOptions {
  dtype: QuantType;
  symmetric: boolean;
  percentile?: number;
  bins?: number;
}

/** Default share of values the percentile method keeps. */
export const DEFAULT_PERCENTILE = 99.999;
/** Default weight of a new batch in the moving average (onnxruntime's). */
export const DEFAULT_AVERAGING_CONSTANT = 0.01;

const METHODS: readonly CalibrationMethod[] = ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'];

/** Builds the observer for a calibration method, checking every option. */
export function createObserver(opts: ObserverOptions): Observer {
  if (typeof opts !== 'object' || opts === null) throw invalidType('options', 'an object { method, dtype, symmetric }', opts);
  if (!METHODS.includes(opts.method)) {
    throw invalidRange('options.method', `one of ${METHODS.map((m) => `'${m}'`).join(', ')}`, opts.method);
  }
  const { dtype, symmetric } = opts;
  if (dtype !== 'uint8' && dtype !== 'int8') throw invalidRange('options.dtype', "'uint8' or 'int8'", dtype);
  if (typeof symmetric !== 'boolean') throw invalidType('options.symmetric', 'a boolean', symmetric);
  switch (opts.method) {
    case 'minmax':
      return new MinMaxObserver();
    case 'movingAverage':
      return new MovingAverageObserver(opts.averagingConstant);
    default:
      return new HistogramObserver(opts.method, { dtype, symmetric, percentile: opts.percentile, bins: opts.bins });
  }
}

function checkBatch(values: Float32Array): void {
  if (!(values instanceof Float32Array)) throw invalidType('values', 'a Float32Array', values);
}

function nothingObserved(observer: Observer): RangeError {
  return new RangeError(
    `${observer.constructor.name}.range(): expected at least one finite observed value, received none` +
      ` (${observer.nonFinite} non-finite values skipped)`,
  );
}

/** Range = the exact smallest and largest finite values over all batches. */
export class MinMaxObserver implements Observer {
  protected minimum = Infinity;
  protected maximum = -Infinity;
  protected finiteCount = 0;
  protected nonFiniteCount = 0;

  observe(values: Float32Array): void {
    checkBatch(values);
    let lo = this.minimum;
    let hi = this.maximum;
    let bad = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) { bad++; continue; }
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.minimum = lo;
    this.maximum = hi;
    this.nonFiniteCount += bad;
    this.finiteCount += values.length - bad;
  }

  range(): Range {
    if (this.finiteCount === 0) throw nothingObserved(this);
    return { min: this.minimum, max: this.maximum };
  }

  get count(): number { return this.finiteCount; }
  get nonFinite(): number { return this.nonFiniteCount; }
}

/**
 * Range = exponential moving average of each batch's min and max (onnxruntime's moving_average
 * MinMax): the first batch sets them, each later one moves them by `averagingConstant` of the gap.
 * Batches without a finite value leave them alone.
 */
export class MovingAverageObserver implements Observer {
  readonly averagingConstant: number;
  protected minimum = NaN;
  protected maximum = NaN;
  protected finiteCount = 0;
  protected nonFiniteCount = 0;

  constructor(averagingConstant: number = DEFAULT_AVERAGING_CONSTANT) {
    if (typeof averagingConstant !== 'number') throw invalidType('averagingConstant', 'a number', averagingConstant);
    if (!(averagingConstant > 0 && averagingConstant <= 1)) {
      throw invalidRange('averagingConstant', 'a number in (0, 1]', averagingConstant);
    }
    this.averagingConstant = averagingConstant;
  }

  observe(values: Float32Array): void {
    checkBatch(values);
    let lo = Infinity;
    let hi = -Infinity;
    let bad = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) { bad++; continue; }
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.nonFiniteCount += bad;
    if (bad === values.length) return;
    if (this.finiteCount === 0) {
      this.minimum = lo;
      this.maximum = hi;
    } else {
      const c = this.averagingConstant;
      this.minimum += c * (lo - this.minimum);
      this.maximum += c * (hi - this.maximum);
    }
    this.finiteCount += values.length - bad;
  }

  range(): Range {
    if (this.finiteCount === 0) throw nothingObserved(this);
    return { min: this.minimum, max: this.maximum };
  }

  get count(): number { return this.finiteCount; }
  get nonFinite(): number { return this.nonFiniteCount; }
}

/**
 * Range from a streaming {@link Histogram}, by one of three methods:
 * - `percentile`: keeps the given share of the values. Asymmetric: the two tails are cut evenly from
 *   the signed histogram; symmetric: the cut is one threshold on |x|. A bound never crosses zero.
 * - `entropy`: TensorRT's KL-divergence threshold search on |x|, with 128 levels (256 for non-negative
 *   data quantized asymmetrically); the first bin, where exact zeros pile up, counts as its neighbour.
 * - `mse`: the range whose quantization grid gives the least expected squared error (rounding plus
 *   clipping), searched over shrinking factors of the observed range.
 * Override {@link HistogramObserver.range} or one of the protected methods to change a method.
 */
export class HistogramObserver implements Observer {
  readonly method: HistogramMethod;
  readonly dtype: QuantType;
  readonly symmetric: boolean;
  readonly percentile: number;
  protected readonly histogram: Histogram;

  constructor(method: HistogramMethod, options: HistogramObserverOptions) {
    if (method !== 'percentile' && method !== 'entropy' && method !== 'mse') {
      throw invalidRange('method', "'percentile', 'entropy' or 'mse'", method);
    }
    if (typeof options !== 'object' || options === null) throw invalidType('options', 'an object { dtype, symmetric }', options);
    const { dtype, symmetric, percentile = DEFAULT_PERCENTILE, bins = DEFAULT_HISTOGRAM_BINS } = options;
    if (dtype !== 'uint8' && dtype !== 'int8') throw invalidRange('options.dtype', "'uint8' or 'int8'", dtype);
    if (typeof symmetric !== 'boolean') throw invalidType('options.symmetric', 'a boolean', symmetric);
    if (typeof percentile !== 'number') throw invalidType('options.percentile', 'a number', percentile);
    if (!(percentile > 0 && percentile <= 100)) throw invalidRange('options.percentile', 'a number in (0, 100]', percentile);
    this.method = method;
    this.dtype = dtype;
    this.symmetric = symmetric;
    this.percentile = percentile;
    this.histogram = new Histogram(bins);
  }

  observe(values: Float32Array): void {
    this.histogram.add(values);
  }

  get count(): number { return this.histogram.count; }
  get nonFinite(): number { return this.histogram.nonFinite; }

  range(): Range {
    const h = this.histogram;
    if (h.count === 0) throw nothingObserved(this);
    // All zeros (or a single repeated value): nothing to clip.
    if (h.binWidth === 0 || h.min === h.max) return { min: h.min, max: h.max };
    switch (this.method) {
      case 'percentile': return this.percentileRange();
      case 'entropy': return this.entropyRange();
      case 'mse': return this.mseRange();
    }
  }

  protected percentileRange(): Range {
    const h = this.histogram;
    const { min, max, binWidth: w, bins } = h;
    const cut = 1 - this.percentile / 100;
    if (this.symmetric) {
      const t = upperQuantile(h.absoluteCounts(), 0, w, h.count * cut, minAbs(min, max), Math.max(-min, max));
      return { min: Math.max(min, -t), max: Math.min(max, t) };
    }
    const counts = h.signedCounts();
    const origin = -bins * w;
    let lo = lowerQuantile(counts, origin, w, (h.count * cut) / 2, min, max);
    let hi = upperQuantile(counts, origin, w, (h.count * cut) / 2, min, max);
    if (lo > hi) lo = hi = (lo + hi) / 2;
    if (min <= 0) lo = Math.min(lo, 0);
    if (max >= 0) hi = Math.max(hi, 0);
    return { min: lo, max: hi };
  }

  protected entropyRange(): Range {
    const h = this.histogram;
    // The threshold never cuts below the smallest |x| present: data that does not reach zero
    // (e.g. all in [-2.5, -1.4]) would otherwise collapse onto one code.
    const floorT = minAbs(h.min, h.max);
    const threshold = (counts: Float64Array, levels: number, spike: boolean): number => {
      // Exact zeros (ReLU, padding) pile up in the first bin. Every grid holds 0 exactly, so that
      // spike says nothing about where to clip, yet spread over a merged level it would dominate
      // the divergence and drag the threshold down; the first bin is taken to look like its
      // neighbour.
      if (spike && counts.length > 1) counts[0] = counts[1];
      let total = 0;
      for (let k = 0; k < counts.length; k++) total += counts[k];
      return total > 0 ? Math.max(floorT, entropyThreshold(counts, total, levels) * h.binWidth) : floorT;
    };
    if (!this.symmetric) {
      // Asymmetric codes: all of them go to the sign the data has (256 levels), or each side of
      // zero gets its own threshold over half of them, so a skewed tensor is not clipped to the
      // scale of its short side.
      if (h.min >= 0) return { min: h.min, max: Math.min(h.max, threshold(h.sideCounts('positive'), 256, true)) };
      if (h.max <= 0) return { min: Math.max(h.min, -threshold(h.sideCounts('negative'), 256, false)), max: h.max };
      return { min: Math.max(h.min, -threshold(h.sideCounts('negative'), 128, false)), max: Math.min(h.max, threshold(h.sideCounts('positive'), 128, true)) };
    }
    const t = threshold(h.absoluteCounts(), 128, true);
    return { min: Math.max(h.min, -t), max: Math.min(h.max, t) };
  }

  protected mseRange(): Range {
    return mseSearch(this.histogram, this.dtype, this.symmetric);
  }
}

function minAbs(min: number, max: number): number {
  if (min > 0) return min;
  if (max < 0) return -max;
  return 0;
}

// ---- percentile ------------------------------------------------------------------------------------

// Bin k covers [origin + k·w, origin + (k+1)·w), narrowed to the data's [lo, hi]; values are taken as
// spread evenly inside a bin. `mass` is the count to cut from the low (or high) end.
function lowerQuantile(counts: Float64Array, origin: number, w: number, mass: number, lo: number, hi: number): number {
  let cum = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if (c === 0) continue;
    if (cum + c >= mass) {
      const left = Math.max(origin + k * w, lo);
      const right = Math.min(origin + (k + 1) * w, hi);
      return left + ((mass - cum) / c) * Math.max(0, right - left);
    }
    cum += c;
  }
  return hi;
}

function upperQuantile(counts: Float64Array, origin: number, w: number, mass: number, lo: number, hi: number): number {
  let cum = 0;
  for (let k = counts.length - 1; k >= 0; k--) {
    const c = counts[k];
    if (c === 0) continue;
    if (cum + c >= mass) {
      const left = Math.max(origin + k * w, lo);
      const right = Math.min(origin + (k + 1) * w, hi);
      return right - ((mass - cum) / c) * Math.max(0, right - left);
    }
    cum += c;
  }
  return lo;
}

// ---- entropy ---------------------------------------------------------------------------------------

// Probability given to a candidate bin that received no mass although the reference has some: keeps
// the divergence finite while still penalising the candidate heavily.
const KL_SMOOTHING = 1e-7;
// Candidates that clip more than this share of the values are skipped. Data far from zero (say
// all in [1.4, 2.5]) otherwise folds into one bin whose KL is zero, and the search "wins" by
// clipping everything.
const MAX_CLIPPED_FRACTION = 0.01;

/**
 * TensorRT's calibration: for each candidate cut i (bins kept, from `levels` up to the last non-empty
 * bin) the reference P is the first i bins with everything beyond folded into bin i-1; the candidate Q
 * merges those i bins (without the folded outliers) into `levels` groups and spreads each group's mass
 * evenly over the group's bins where P is non-zero. Returns the i of least KL(P || Q), in bins.
 *
 * Within a group Q is constant on P's support, so KL = Σ P log P - Σ_groups P(group) · log q(group):
 * with prefix sums of counts, non-empty bins and P log P, each candidate costs O(levels).
 */
function entropyThreshold(abs: Float64Array, total: number, levels: number): number {
  let used = abs.length;
  while (used > 0 && abs[used - 1] === 0) used--;
  if (used <= levels) return used;

  const mass = new Float64Array(used + 1); // mass[k] = Σ abs[0..k)
  const support = new Float64Array(used + 1); // non-empty bins among abs[0..k)
  const plogp = new Float64Array(used + 1); // Σ p log p over abs[0..k)
  for (let k = 0; k < used; k++) {
    const c = abs[k];
    const p = c / total;
    mass[k + 1] = mass[k] + c;
    support[k + 1] = support[k] + (c > 0 ? 1 : 0);
    plogp[k + 1] = plogp[k] + (c > 0 ? p * log(p) : 0);
  }

  let best = used;
  let bestKl = Infinity;
  for (let i = levels; i <= used; i++) {
    const outliers = total - mass[i];
    const inside = mass[i];
    if (inside === 0 || outliers > MAX_CLIPPED_FRACTION * total) continue;
    const pLast = (abs[i - 1] + outliers) / total;
    const selfTerm = plogp[i - 1] + (pLast > 0 ? pLast * log(pLast) : 0);
    let cross = 0;
    for (let j = 0; j < levels; j++) {
      const start = floor((j * i) / levels);
      const end = floor(((j + 1) * i) / levels);
      const groupMass = mass[end] - mass[start];
      let groupSupport = support[end] - support[start];
      let pMass = groupMass / total;
      if (end === i && outliers > 0) {
        if (abs[i - 1] === 0) groupSupport++;
        pMass += outliers / total;
      }
      if (pMass === 0) continue;
      const q = groupMass > 0 ? groupMass / (groupSupport * inside) : KL_SMOOTHING;
      cross += pMass * log(q);
    }
    const kl = selfTerm - cross;
    if (kl < bestKl) { bestKl = kl; best = i; }
  }
  return best;
}

// ---- mse -------------------------------------------------------------------------------------------

// Shrink factors of the observed range tried by the MSE search: a geometric grid from 1 down to
// MSE_SMALLEST_FACTOR, then a linear one between the best coarse point's neighbours.
const MSE_COARSE_STEPS = 128;
const MSE_FINE_STEPS = 24;
const MSE_SMALLEST_FACTOR = 2 ** -10;
// Coordinate-descent rounds over (lower, upper) factors after the joint search, when asymmetric.
const MSE_ROUNDS = 2;

interface Bins { lo: Float64Array; hi: Float64Array; count: Float64Array; n: number }

/** The non-empty signed bins as intervals narrowed to the data's [min, max]. */
function occupiedBins(h: Histogram): Bins {
  const counts = h.signedCounts();
  const w = h.binWidth;
  let n = 0;
  for (let k = 0; k < counts.length; k++) if (counts[k] > 0) n++;
  const out: Bins = { lo: new Float64Array(n), hi: new Float64Array(n), count: new Float64Array(n), n };
  let j = 0;
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] === 0) continue;
    out.lo[j] = Math.max((k - h.bins) * w, h.min);
    out.hi[j] = Math.min((k - h.bins + 1) * w, h.max);
    out.count[j] = counts[k];
    j++;
  }
  return out;
}

/**
 * Expected total squared error of QuantizeLinear → DequantizeLinear with the parameters derived from
 * [lo, hi], values spread evenly inside each bin. Saturation is to the whole type, as in ONNX.
 */
function quantizationError(bins: Bins, lo: number, hi: number, dtype: QuantType, symmetric: boolean): number {
  const q = qparamsFromRange({ min: lo, max: hi }, { dtype, symmetric });
  const full = codeRange(dtype, false);
  const inv = 1 / q.scale;
  const zp = q.zeroPoint;
  const { lo: left, hi: right, count, n } = bins;
  let total = 0;
  for (let b = 0; b < n; b++) {
    total += count[b] * meanCodeError(left[b] * inv + zp, right[b] * inv + zp, full.qmin, full.qmax);
  }
  return total * q.scale * q.scale;
}

/** Mean over z uniform on [a, b] of (z - clamp(round(z), qmin, qmax))², in squared code units. */
function meanCodeError(a: number, b: number, qmin: number, qmax: number): number {
  const width = b - a;
  if (!(width > 1e-9 * (1 + abs(a)))) {
    const z = (a + b) / 2;
    const r = round(z);
    const c = r < qmin ? qmin : r > qmax ? qmax : r;
    return (z - c) * (z - c);
  }
  const below = qmin - 0.5;
  const above = qmax + 0.5;
  let integral = 0;
  if (a < below) integral += squareIntegral(a - qmin, (b < below ? b : below) - qmin);
  if (b > above) integral += squareIntegral((a > above ? a : above) - qmax, b - qmax);
  const from = a > below ? a : below;
  const to = b < above ? b : above;
  if (to > from) integral += roundingIntegral(from, to);
  return integral / width;
}

/** ∫ t² dt over [u, v], in a form that stays accurate far from the origin. */
function squareIntegral(u: number, v: number): number {
  return ((v - u) * (u * u + u * v + v * v)) / 3;
}

/** ∫ (z - round(z))² dz over [from, to]: every whole code cell contributes 1/12. */
function roundingIntegral(from: number, to: number): number {
  const kf = floor(from + 0.5);
  const kt = floor(to + 0.5);
  const uf = from - kf;
  const ut = to - kt;
  return (kt - kf) / 12 + (ut * ut * ut - uf * uf * uf) / 3;
}

/** Best factor f in [smallest, 1] for `error(f)`: coarse geometric grid, then a fine linear one. */
function searchFactor(error: (f: number) => number, smallest: number): { factor: number; error: number } {
  let bestFactor = 1;
  let bestError = error(1);
  if (smallest >= 1) return { factor: bestFactor, error: bestError };
  const ratio = (smallest) ** (1 / MSE_COARSE_STEPS);
  let bestStep = 0;
  for (let s = 1; s <= MSE_COARSE_STEPS; s++) {
    const e = error(ratio ** s);
    if (e < bestError) { bestError = e; bestFactor = ratio ** s; bestStep = s; }
  }
  const upper = Math.min(1, ratio ** (bestStep - 1));
  const lower = Math.max(smallest, ratio ** (bestStep + 1));
  for (let s = 1; s < MSE_FINE_STEPS; s++) {
    const f = lower + ((upper - lower) * s) / MSE_FINE_STEPS;
    const e = error(f);
    if (e < bestError) { bestError = e; bestFactor = f; }
  }
  return { factor: bestFactor, error: bestError };
}

/**
 * Least-squared-error clip range. Symmetric: one threshold T = f · max|x|. Asymmetric: first one factor
 * shrinking both ends together, then alternating searches of each end with the other fixed. For data
 * that never crosses zero only the far end moves: the near one does not change the grid.
 */
function mseSearch(h: Histogram, dtype: QuantType, symmetric: boolean): Range {
  const { min, max } = h;
  const bins = occupiedBins(h);
  // Clipping inside one bin is below what the histogram can tell apart.
  const resolution = h.binWidth;
  // The grid always includes 0, so [0, hi] and [min, hi] give the same parameters when min >= 0, and
  // [-T, T] the same as any range reaching ±T: the candidates are scored in those simpler forms.
  const errorOf = (lo: number, hi: number): number => quantizationError(bins, lo, hi, dtype, symmetric);

  if (symmetric) {
    const absmax = Math.max(-min, max);
    const smallest = Math.max(MSE_SMALLEST_FACTOR, Math.min(1, Math.max(resolution, minAbs(min, max)) / absmax));
    const t = searchFactor((f) => errorOf(-f * absmax, f * absmax), smallest).factor * absmax;
    // min(max, t) >= max(min, -t) up to rounding of f · absmax, when the data stays off zero.
    const lo = Math.max(min, -t);
    const hi = Math.min(max, t);
    return lo <= hi ? { min: lo, max: hi } : min > 0 ? { min, max: min } : { min: max, max };
  }

  if (min >= 0) {
    const smallest = Math.min(1, Math.max(MSE_SMALLEST_FACTOR, resolution / max, min / max));
    const f = searchFactor((g) => errorOf(0, g * max), smallest).factor;
    return { min, max: Math.max(min, f * max) };
  }
  if (max <= 0) {
    const smallest = Math.min(1, Math.max(MSE_SMALLEST_FACTOR, resolution / -min, max / min));
    const f = searchFactor((g) => errorOf(g * min, 0), smallest).factor;
    return { min: Math.min(max, f * min), max };
  }

  const smallestLo = Math.min(1, Math.max(MSE_SMALLEST_FACTOR, resolution / -min));
  const smallestHi = Math.min(1, Math.max(MSE_SMALLEST_FACTOR, resolution / max));
  const joint = searchFactor((f) => errorOf(f * min, f * max), Math.max(smallestLo, smallestHi));
  let fLo = joint.factor;
  let fHi = joint.factor;
  let best = joint.error;
  for (let round = 0; round < MSE_ROUNDS; round++) {
    const up = searchFactor((f) => errorOf(fLo * min, f * max), smallestHi);
    if (up.error < best) { best = up.error; fHi = up.factor; }
    const down = searchFactor((f) => errorOf(f * min, fHi * max), smallestLo);
    if (down.error < best) { best = down.error; fLo = down.factor; }
  }
  return { min: fLo * min, max: fHi * max };
}
