// Scale and zero point from a calibrated range, and the QuantizeLinear / DequantizeLinear arithmetic
// they drive, with onnxruntime.quantization's conventions and ONNX's float32 semantics.

import { roundHalfToEven } from '../numeric';
import { invalidRange, invalidType } from '../errors';
import type { Range } from './calibration/observers';

/** Integer types activations and weights are quantized to. */
export type QuantType = 'uint8' | 'int8';

/** Per-tensor affine quantization: real = (q - zeroPoint) · scale. */
export interface QParams { scale: number; zeroPoint: number; dtype: QuantType }

/** How a range becomes quantization parameters. */
export interface QParamsOptions {
  dtype: QuantType;
  /** Zero point at the middle of the code range and a range of ±max(|min|, |max|). */
  symmetric: boolean;
  /** 7-bit codes (uint8 0..127, int8 -64..63), for kernels whose 8-bit products could overflow. */
  reduceRange?: boolean;
  /**
   * Fewer bits than the type holds (2..8, default 8), symmetric only: the codes ±(2^(bits-1) − 1)
   * around the zero point, stored in the 8-bit type (a 4-bit grid in int8 runs on the INT8 kernels).
   */
  bits?: number;
}

/** The codes a scale is fitted to. */
export interface CodeRange { qmin: number; qmax: number }

// Read once for the per-element loops: inside a vm context (jest, for one) every lookup of a global
// such as `Math` goes through an interceptor and costs more than the arithmetic around it.
const { fround, round } = Math;

// Smallest normal float32: a scale below it is noise (or 0), and onnxruntime falls back to 1 there.
const FLT_MIN_NORMAL = 2 ** -126;

const TYPE_RANGE: Readonly<Record<QuantType, CodeRange>> = {
  uint8: { qmin: 0, qmax: 255 },
  int8: { qmin: -128, qmax: 127 },
};

/**
 * The codes [qmin, qmax] a range is mapped onto.
 *
 * Asymmetric: the whole type (uint8 0..255, int8 -128..127), or 7 bits with reduceRange (0..127,
 * -64..63). Symmetric drops the lowest code so the grid is symmetric around its zero point and
 * ±absmax are both exactly representable: int8 -127..127 (zero point 0), uint8 1..255 (zero point
 * 128, the same grid shifted); with reduceRange int8 -63..63, uint8 1..127 (zero point 64).
 */
export function codeRange(dtype: QuantType, symmetric: boolean, reduceRange = false, bits = 8): CodeRange {
  assertQuantType('dtype', dtype);
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw invalidRange('bits', 'an integer from 2 to 8', bits);
  if (bits < 8) {
    if (!symmetric) throw invalidRange('bits', '8 unless the grid is symmetric (weights)', bits);
    if (reduceRange) throw invalidRange('reduceRange', 'false when bits < 8 (the grid is already narrower)', reduceRange);
    const half = 2 ** (bits - 1) - 1;
    const mid = dtype === 'int8' ? 0 : 128;
    return { qmin: mid - half, qmax: mid + half };
  }
  const full = TYPE_RANGE[dtype];
  const qmin = reduceRange ? full.qmin / 2 : full.qmin;
  const qmax = reduceRange ? (full.qmax + 1) / 2 - 1 : full.qmax;
  return { qmin: symmetric ? qmin + 1 : qmin, qmax };
}

/**
 * Scale and zero point for a calibrated range, as onnxruntime.quantization computes them: the range is
 * first widened to include 0; asymmetric maps [rmin, rmax] onto [qmin, qmax] with a rounded, clamped
 * zero point; symmetric maps ±max(|rmin|, |rmax|) with the zero point in the middle (0 for int8, 128 for
 * uint8). A zero-width range gives scale 1 and that same zero point (0 when asymmetric). The scale is
 * rounded to float32, the type the model stores it in, and the zero point is computed from it.
 */
export function qparamsFromRange(r: Range, opts: QParamsOptions): QParams {
  if (typeof r !== 'object' || r === null) throw invalidType('range', 'an object { min, max }', r);
  if (!Number.isFinite(r.min)) throw invalidRange('range.min', 'a finite number', r.min);
  if (!Number.isFinite(r.max)) throw invalidRange('range.max', 'a finite number', r.max);
  if (r.min > r.max) throw invalidRange('range.max', `a number >= range.min (${r.min})`, r.max);
  if (typeof opts !== 'object' || opts === null) throw invalidType('options', 'an object { dtype, symmetric }', opts);
  if (typeof opts.symmetric !== 'boolean') throw invalidType('options.symmetric', 'a boolean', opts.symmetric);
  if (opts.reduceRange !== undefined && typeof opts.reduceRange !== 'boolean') {
    throw invalidType('options.reduceRange', 'a boolean or undefined', opts.reduceRange);
  }
  const dtype = opts.dtype;
  assertQuantType('options.dtype', dtype);
  const { qmin, qmax } = codeRange(dtype, opts.symmetric, opts.reduceRange === true, opts.bits ?? 8);

  let rmin = Math.min(r.min, 0);
  let rmax = Math.max(r.max, 0);
  if (opts.symmetric) {
    const absmax = Math.max(-rmin, rmax);
    rmin = -absmax;
    rmax = absmax;
  }
  const scale = Math.fround((rmax - rmin) / (qmax - qmin));
  const middle = (qmin + qmax) / 2; // an integer: symmetric code ranges have an odd number of codes
  if (!(scale >= FLT_MIN_NORMAL)) return { scale: 1, zeroPoint: opts.symmetric ? middle : 0, dtype };
  if (opts.symmetric) return { scale, zeroPoint: middle, dtype };
  const zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfToEven(qmin - rmin / scale)));
  return { scale, zeroPoint, dtype };
}

/**
 * ONNX QuantizeLinear of one value: saturate(round(x / scale) + zeroPoint), with x and the division in
 * float32 as a tensor would hold them, ties rounded to even, and saturation to the whole type (not to
 * a reduced or symmetric code range). NaN maps to the type's lowest code (0 or -128), as the native
 * QuantizeLinear and onnxruntime do.
 */
export function quantizeValue(x: number, q: QParams): number {
  if (typeof x !== 'number') throw invalidType('x', 'a number', x);
  const { lo, hi, scale, zeroPoint } = checkedQParams(q);
  return quantizeCode(x, scale, zeroPoint, lo, hi);
}

/** Quantizes then dequantizes every value (ONNX QuantizeLinear then DequantizeLinear, in float32). */
export function fakeQuantize(values: Float32Array, q: QParams): Float32Array {
  if (!(values instanceof Float32Array)) throw invalidType('values', 'a Float32Array', values);
  const { lo, hi, scale, zeroPoint } = checkedQParams(q);
  const out = new Float32Array(values.length);
  // The Float32Array store rounds (code - zeroPoint) · scale to float32, as DequantizeLinear does.
  for (let i = 0; i < values.length; i++) out[i] = (quantizeCode(values[i], scale, zeroPoint, lo, hi) - zeroPoint) * scale;
  return out;
}

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (ref - actual)²), accumulated in
 * float64. Identical arrays give Infinity (also when both are all zeros); noise over a zero signal
 * gives -Infinity. Non-finite entries give NaN (-Infinity when only `actual` has them).
 */
export function sqnr(reference: Float32Array, actual: Float32Array): number {
  if (!(reference instanceof Float32Array)) throw invalidType('reference', 'a Float32Array', reference);
  if (!(actual instanceof Float32Array)) throw invalidType('actual', 'a Float32Array', actual);
  if (actual.length !== reference.length) {
    throw invalidRange('actual', `a Float32Array of reference's length ${reference.length}`, actual);
  }
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const d = r - actual[i];
    signal += r * r;
    noise += d * d;
  }
  if (Number.isNaN(signal) || Number.isNaN(noise)) return NaN;
  if (noise === 0) return Infinity;
  if (signal === 0) return -Infinity;
  return 10 * Math.log10(signal / noise);
}

/** Rounds to the nearest integer, ties to the even one (numpy.round, ONNX QuantizeLinear). */
export { roundHalfToEven };

function quantizeCode(x: number, scale: number, zeroPoint: number, lo: number, hi: number): number {
  const v = fround(fround(x) / scale);
  if (v !== v) return lo;
  const c = roundHalfToEven(v) + zeroPoint;
  return c < lo ? lo : c > hi ? hi : c;
}

function checkedQParams(q: QParams): { lo: number; hi: number; scale: number; zeroPoint: number } {
  if (typeof q !== 'object' || q === null) throw invalidType('qparams', 'an object { scale, zeroPoint, dtype }', q);
  assertQuantType('qparams.dtype', q.dtype);
  const { qmin: lo, qmax: hi } = TYPE_RANGE[q.dtype];
  if (typeof q.scale !== 'number' || !(q.scale > 0) || !Number.isFinite(q.scale)) {
    throw invalidRange('qparams.scale', 'a finite number > 0', q.scale);
  }
  if (!Number.isInteger(q.zeroPoint) || q.zeroPoint < lo || q.zeroPoint > hi) {
    throw invalidRange('qparams.zeroPoint', `an integer in [${lo}, ${hi}] for ${q.dtype}`, q.zeroPoint);
  }
  const scale = Math.fround(q.scale);
  if (scale === 0) throw invalidRange('qparams.scale', 'a number that stays > 0 in float32', q.scale);
  return { lo, hi, scale, zeroPoint: q.zeroPoint };
}

function assertQuantType(name: string, value: unknown): asserts value is QuantType {
  if (typeof value !== 'string') throw invalidType(name, "'uint8' or 'int8'", value);
  if (value !== 'uint8' && value !== 'int8') throw invalidRange(name, "'uint8' or 'int8'", value);
}
