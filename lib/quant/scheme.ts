// QuantScheme: how one layer's weights are quantized (bits, signedness, symmetry, granularity,
// rounding, and the observer that picks each range). quantizeMixed applies a scheme per layer;
// users construct one, or subclass it (override observe / params / round) for their own rule.
import { invalidRange, invalidType } from '../errors';
import { roundHalfToEven } from '../numeric';
import { Tensor } from '../tensor';
import { MinMaxObserver, Observer, Range } from './calibration/observers';
import { CodeRange, codeRange, QParams } from './qparams';
import type { QuantizedWeight, WeightQuantizer } from './weights';

export type SchemeGranularity = 'per-tensor' | 'per-channel' | 'per-block';
export type SchemeRounding = 'nearest';
/** A class whose instances watch values and propose a range (MinMaxObserver, or the user's own). */
export type ObserverClass = new () => Observer;

export interface QuantSchemeOptions {
  /** Weight bits, 2..8 (default 8). */
  bits?: number;
  /** int8 codes (true, default) or uint8 codes (false). */
  signed?: boolean;
  /** Zero point in the middle of the codes (default true). Signed schemes must be symmetric. */
  symmetric?: boolean;
  /** One range per tensor, per output channel (default), or per block of `blockSize` along K (4-bit MatMul/Gemm only). */
  granularity?: SchemeGranularity;
  /** per-block only: 32 (default), 64 or 128. */
  blockSize?: 32 | 64 | 128;
  /** Only 'nearest' (ties to even), as ONNX QuantizeLinear rounds. */
  rounding?: SchemeRounding;
  /** Observer class for each weight range (default MinMaxObserver); one instance per tensor or channel. */
  observer?: ObserverClass;
  /** Shown in reports (default e.g. 'w4 per-channel'). */
  name?: string;
}

const GRANULARITIES: readonly SchemeGranularity[] = ['per-tensor', 'per-channel', 'per-block'];

export class QuantScheme implements WeightQuantizer {
  readonly bits: number;
  readonly signed: boolean;
  readonly symmetric: boolean;
  readonly granularity: SchemeGranularity;
  readonly blockSize: 32 | 64 | 128;
  readonly rounding: SchemeRounding;
  readonly observer: ObserverClass;
  readonly name: string;

  constructor(opts: QuantSchemeOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw invalidType('scheme options', 'an object', opts);
    const bits = opts.bits ?? 8;
    if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 2 || bits > 8) throw invalidRange('scheme.bits', 'an integer from 2 to 8', bits);
    const signed = opts.signed ?? true;
    if (typeof signed !== 'boolean') throw invalidType('scheme.signed', 'a boolean', signed);
    const symmetric = opts.symmetric ?? true;
    if (typeof symmetric !== 'boolean') throw invalidType('scheme.symmetric', 'a boolean', symmetric);
    // The INT8 kernels take int8 weights with zero point 0 only; uint8 weights carry zero points.
    if (signed && !symmetric) throw invalidRange('scheme.symmetric', 'true for signed weights (asymmetric grids need signed: false)', symmetric);
    const granularity = opts.granularity ?? 'per-channel';
    if (!GRANULARITIES.includes(granularity)) throw invalidRange('scheme.granularity', GRANULARITIES.map((g) => `'${g}'`).join(', '), granularity);
    const blockSize = opts.blockSize ?? 32;
    if (blockSize !== 32 && blockSize !== 64 && blockSize !== 128) throw invalidRange('scheme.blockSize', '32, 64 or 128', blockSize);
    if (granularity === 'per-block') {
      if (bits !== 4) throw invalidRange('scheme.bits', '4 with granularity per-block (MatMulNBits)', bits);
      if (opts.observer !== undefined) throw invalidRange('scheme.observer', 'undefined with granularity per-block (quantizeInt4 picks block ranges itself)', opts.observer);
    }
    const rounding = opts.rounding ?? 'nearest';
    if (rounding !== 'nearest') throw invalidRange('scheme.rounding', "'nearest'", rounding);
    const observer = opts.observer ?? MinMaxObserver;
    if (typeof observer !== 'function') throw invalidType('scheme.observer', 'an Observer class (new () => Observer)', observer);
    if (opts.name !== undefined && typeof opts.name !== 'string') throw invalidType('scheme.name', 'a string', opts.name);
    this.bits = bits;
    this.signed = signed;
    this.symmetric = symmetric;
    this.granularity = granularity;
    this.blockSize = blockSize;
    this.rounding = rounding;
    this.observer = observer;
    const obsName = observer === MinMaxObserver ? '' : ` ${observer.name}`;
    this.name = opts.name ?? (granularity === 'per-block' ? `int4 block ${blockSize}${symmetric ? '' : ' asym'}` : `w${bits}${signed ? '' : ' u'}${symmetric ? '' : ' asym'} ${granularity}${obsName}`);
  }

  /** The codes weights are stored on (in int8 or uint8). */
  codes(): CodeRange {
    if (this.symmetric) return codeRange(this.signed ? 'int8' : 'uint8', true, false, this.bits);
    // An asymmetric narrow grid: the lowest 2^bits codes of uint8.
    return { qmin: 0, qmax: 2 ** this.bits - 1 };
  }

  /** One range from a fresh observer that sees `values` (one tensor, or one channel). */
  observe(values: Float32Array): Range {
    const obs = new this.observer();
    if (typeof obs.observe !== 'function' || typeof obs.range !== 'function') {
      throw invalidType('scheme.observer', 'a class implementing Observer (observe, range)', this.observer);
    }
    obs.observe(values);
    return obs.range();
  }

  /** Scale and zero point for a range on this scheme's codes. */
  params(r: Range): QParams {
    const { qmin, qmax } = this.codes();
    const dtype = this.signed ? 'int8' : 'uint8';
    let lo = Math.min(r.min, 0), hi = Math.max(r.max, 0);
    if (this.symmetric) { hi = Math.max(-lo, hi); lo = -hi; }
    const scale = Math.fround((hi - lo) / (qmax - qmin));
    const mid = (qmin + qmax) / 2;
    if (!(scale >= 2 ** -126)) return { scale: 1, zeroPoint: this.symmetric ? mid : qmin, dtype };
    if (this.symmetric) return { scale, zeroPoint: mid, dtype };
    return { scale, zeroPoint: Math.min(qmax, Math.max(qmin, roundHalfToEven(qmin - lo / scale))), dtype };
  }

  /** The code of one value, clamped to the scheme's codes (the observer may have clipped the range). */
  round(x: number, q: QParams, codes: CodeRange): number {
    const c = roundHalfToEven(Math.fround(Math.fround(x) / q.scale)) + q.zeroPoint;
    return c < codes.qmin ? codes.qmin : c > codes.qmax ? codes.qmax : c;
  }

  quantizeWeight(w: Tensor<'float32'>, axis: number): QuantizedWeight {
    if (this.granularity === 'per-block') throw new RangeError(`scheme '${this.name}': per-block weights become MatMulNBits (quantizeMixed), not QDQ`);
    const dims = w.dims;
    const perChannel = this.granularity === 'per-channel' && dims.length >= 1;
    const ax = perChannel ? (axis < 0 ? axis + dims.length : axis) : 0;
    const channels = perChannel ? dims[ax] : 1;
    let inner = 1;
    for (let i = ax + 1; i < dims.length; i++) inner *= dims[i];
    const src = w.data as Float32Array;
    const channelOf = (i: number) => (channels === 1 ? 0 : Math.floor(i / inner) % channels);
    const groups = Array.from({ length: channels }, () => [] as number[]);
    for (let i = 0; i < src.length; i++) groups[channelOf(i)].push(src[i]);
    const params = groups.map((g) => this.params(g.length ? this.observe(Float32Array.from(g)) : { min: 0, max: 0 }));
    const codes = this.codes();
    const q = this.signed ? new Int8Array(src.length) : new Uint8Array(src.length);
    const deq = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const p = params[channelOf(i)];
      q[i] = this.round(src[i], p, codes);
      deq[i] = (q[i] - p.zeroPoint) * p.scale;
    }
    const shape = perChannel ? [channels] : [];
    const scale = new Tensor('float32', Float32Array.from(params, (p) => p.scale), shape);
    const zeroPoint = this.signed
      ? new Tensor('int8', Int8Array.from(params, (p) => p.zeroPoint), shape)
      : new Tensor('uint8', Uint8Array.from(params, (p) => p.zeroPoint), shape);
    const data = this.signed ? new Tensor('int8', q as Int8Array, [...dims]) : new Tensor('uint8', q as Uint8Array, [...dims]);
    return { data, scale, zeroPoint, axis: ax, dequantized: deq };
  }

  /**
   * Bytes the scheme implies for a weight of `elements` values with `channels` output channels and
   * `k` values per channel, packed at `bits` per code: codes + float32 scales (+ zero points at
   * `bits` each when asymmetric). The runnable ONNX stores the codes as int8/uint8.
   */
  packedBytes(elements: number, channels: number, k: number): number {
    const ranges = this.granularity === 'per-tensor' ? 1 : this.granularity === 'per-channel' ? channels : channels * Math.ceil(k / this.blockSize);
    return (elements * this.bits) / 8 + ranges * 4 + (this.symmetric ? 0 : (ranges * this.bits) / 8);
  }
}
