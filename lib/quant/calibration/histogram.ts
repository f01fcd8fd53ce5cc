// A fixed-size histogram that follows a stream of activation batches.
//
// Both sides of zero are binned by magnitude with one shared width w, so the same counts serve the
// magnitude histogram TensorRT's entropy search wants and the signed one percentile and MSE ranges
// want. Memory is 2·bins doubles whatever the stream length.
//
// Exactness of growth: the bin index is floor(|x| · inv) with inv = 1/w. Growth only ever halves inv,
// and halving commutes with IEEE rounding, so floor(|x| · inv/2^s) = floor(floor(|x| · inv) / 2^s)
// exactly: merging groups of 2^s bins gives the very counts re-binning every past value would.

import { assertInteger, invalidType } from '../../errors';

/** Bins per side of zero when none are asked for (TensorRT's histogram size). */
export const DEFAULT_HISTOGRAM_BINS = 2048;
/** Fewest bins per side a histogram accepts. */
export const MIN_HISTOGRAM_BINS = 16;
/** Most bins per side a histogram accepts. */
export const MAX_HISTOGRAM_BINS = 1 << 22;

// The first range sits a hair above the first batch's largest magnitude, so that value still lands
// in the last bin and the data fills the whole histogram (as TensorRT's [0, max] histogram does).
const FIRST_RANGE_HEADROOM = 1 - 2 ** -24;

/**
 * Streaming histogram of the finite values of a tensor, in memory bounded by the bin count.
 *
 * `positive[i]` counts x ≥ 0 (including -0) with floor(x / w) = i and `negative[i]` counts x < 0 with
 * floor(-x / w) = i, for a bin width w shared by both sides; together they cover (-R, R), R = bins · w.
 * Non-negative data leaves the negative side empty, which makes the positive side the classic [0, R)
 * histogram. A batch reaching past R doubles R as often as needed, merging bins exactly.
 * NaN and ±Infinity are counted in {@link Histogram.nonFinite} and left out of everything else.
 */
export class Histogram {
  /** Bins on each side of zero. */
  readonly bins: number;
  private readonly positive: Float64Array;
  private readonly negative: Float64Array;
  // 1 / bin width; 0 while every finite value so far is zero (zeros land in positive[0] at any width).
  private inverseWidth = 0;
  private finiteCount = 0;
  private nonFiniteCount = 0;
  private minimum = Infinity;
  private maximum = -Infinity;

  constructor(bins: number = DEFAULT_HISTOGRAM_BINS) {
    this.bins = assertInteger('bins', bins, MIN_HISTOGRAM_BINS, MAX_HISTOGRAM_BINS);
    this.positive = new Float64Array(this.bins);
    this.negative = new Float64Array(this.bins);
  }

  /** Adds one batch of values: two linear passes, no allocation. */
  add(values: Float32Array): void {
    if (!(values instanceof Float32Array)) throw invalidType('values', 'a Float32Array', values);
    const n = values.length;
    let lo = Infinity;
    let hi = -Infinity;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      // v - v is NaN for NaN and ±Infinity, 0 for every finite v.
      if (v - v !== 0) { bad++; continue; }
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.nonFiniteCount += bad;
    if (bad === n) return;
    this.finiteCount += n - bad;
    if (lo < this.minimum) this.minimum = lo;
    if (hi > this.maximum) this.maximum = hi;
    this.cover(Math.max(-lo, hi));

    const pos = this.positive;
    const neg = this.negative;
    const inv = this.inverseWidth;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      // cover() made floor(|v| · inv) < bins for the batch's largest |v|, and rounding is monotonic,
      // so the truncation below is a floor of a small non-negative number.
      const t = v * inv;
      if (t >= 0) pos[t | 0]++;
      else neg[-t | 0]++;
    }
  }

  /** Grows the range until a magnitude of `maxAbs` falls inside it. */
  private cover(maxAbs: number): void {
    if (maxAbs === 0) return;
    const bins = this.bins;
    if (this.inverseWidth === 0) {
      let inv = (bins * FIRST_RANGE_HEADROOM) / maxAbs;
      while (Math.floor(maxAbs * inv) >= bins) inv *= FIRST_RANGE_HEADROOM;
      this.inverseWidth = inv;
      return;
    }
    let inv = this.inverseWidth;
    let shift = 0;
    while (Math.floor(maxAbs * inv) >= bins) { inv *= 0.5; shift++; }
    if (shift === 0) return;
    this.inverseWidth = inv;
    mergeBins(this.positive, shift);
    mergeBins(this.negative, shift);
  }

  /** Finite values added. */
  get count(): number { return this.finiteCount; }
  /** NaN and ±Infinity values seen and skipped. */
  get nonFinite(): number { return this.nonFiniteCount; }
  /** Smallest finite value added (exact); Infinity while none was. */
  get min(): number { return this.minimum; }
  /** Largest finite value added (exact); -Infinity while none was. */
  get max(): number { return this.maximum; }
  /** Width of every bin; 0 while every finite value added is zero. */
  get binWidth(): number { return this.inverseWidth === 0 ? 0 : 1 / this.inverseWidth; }
  /** R: the histogram covers (-R, R). */
  get limit(): number { return this.bins * this.binWidth; }

  /** Counts of |x| per bin (bin i covers [i·w, (i+1)·w)): a new array of `bins` entries. */
  /** Counts of one side by |x| bin: x >= 0 (`'positive'`) or x < 0 (`'negative'`); a copy. */
  sideCounts(side: 'positive' | 'negative'): Float64Array {
    return Float64Array.from(side === 'positive' ? this.positive : this.negative);
  }

  absoluteCounts(): Float64Array {
    const out = new Float64Array(this.bins);
    for (let i = 0; i < this.bins; i++) out[i] = this.positive[i] + this.negative[i];
    return out;
  }

  /**
   * Counts in signed order: a new array of 2·bins entries where entry k covers [(k - bins)·w,
   * (k - bins + 1)·w). Negative bins hold their upper edge rather than their lower one, which only
   * matters for values exactly on an edge.
   */
  signedCounts(): Float64Array {
    const bins = this.bins;
    const out = new Float64Array(2 * bins);
    for (let i = 0; i < bins; i++) {
      out[bins - 1 - i] = this.negative[i];
      out[bins + i] = this.positive[i];
    }
    return out;
  }
}

/** Sums every group of 2^shift neighbouring bins into the group's index, in place. */
function mergeBins(counts: Float64Array, shift: number): void {
  const n = counts.length;
  const factor = 2 ** shift;
  if (factor >= n) {
    let total = 0;
    for (let i = 0; i < n; i++) total += counts[i];
    counts.fill(0);
    counts[0] = total;
    return;
  }
  // Index i moves to i / factor < i. A target j ≥ 1 is itself moved out at index j, before any of
  // its sources (j·factor and up) is reached, so it receives only after it was emptied.
  for (let i = 1; i < n; i++) {
    const c = counts[i];
    counts[i] = 0;
    counts[Math.floor(i / factor)] += c;
  }
}
