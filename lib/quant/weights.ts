// Constant tensors to integers: weights per tensor or per channel, biases to int32 on the
// product of their input's and weight's scales.
import { roundHalfToEven } from '../numeric';
import { Tensor } from '../tensor';
import { QuantType, qparamsFromRange, quantizeValue } from './qparams';

export interface QuantizedWeight {
  data: Tensor<'int8'> | Tensor<'uint8'>;
  /** One scale (per tensor) or one per channel along `axis`. */
  scale: Tensor<'float32'>;
  zeroPoint: Tensor<'int8'> | Tensor<'uint8'>;
  /** The DequantizeLinear axis (meaningful when per channel). */
  axis: number;
  /** Float32 values the integers stand for (what the quantized model computes with). */
  dequantized: Float32Array;
}

export interface WeightScheme {
  dtype: QuantType;
  /** int8 weights are symmetric, uint8 asymmetric, like onnxruntime's defaults. */
  perChannel: boolean;
  /** Channel axis when per channel (0 for Conv, the N axis for MatMul/Gemm). */
  axis: number;
  reduceRange: boolean;
  /** Symmetric int8 weights on a narrower grid, ±(2^(bits-1) − 1) (default 8). */
  bits?: number;
}

/**
 * Quantizes one node's weight in place of the options-wide scheme (quantizeMixed's per-layer
 * QuantScheme). `axis` is the output-channel axis of the weight.
 */
export interface WeightQuantizer {
  quantizeWeight(w: Tensor<'float32'>, axis: number): QuantizedWeight;
}

/** Quantizes a float32 weight tensor; per channel along `axis` when asked and rank allows. */
export function quantizeWeight(w: Tensor<'float32'>, scheme: WeightScheme): QuantizedWeight {
  const dims = w.dims;
  const perChannel = scheme.perChannel && dims.length >= 1;
  const axis = perChannel ? (scheme.axis < 0 ? scheme.axis + dims.length : scheme.axis) : 0;
  const channels = perChannel ? dims[axis] : 1;
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
  const src = w.data;
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < src.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    const v = src[i];
    if (!Number.isFinite(v)) throw new RangeError(`weight: expected finite values, received ${v} at element ${i}`);
    if (v < mins[c]) mins[c] = v;
    if (v > maxs[c]) maxs[c] = v;
  }
  const symmetric = scheme.dtype === 'int8';
  const params = Array.from({ length: channels }, (_, c) =>
    qparamsFromRange({ min: src.length ? mins[c] : 0, max: src.length ? maxs[c] : 0 }, { dtype: scheme.dtype, symmetric, reduceRange: scheme.reduceRange, bits: scheme.bits }));
  const q = scheme.dtype === 'int8' ? new Int8Array(src.length) : new Uint8Array(src.length);
  const deq = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    const p = params[c];
    q[i] = quantizeValue(src[i], p);
    deq[i] = (q[i] - p.zeroPoint) * p.scale;
  }
  const shape = perChannel ? [channels] : [];
  const scale = new Tensor('float32', Float32Array.from(params, (p) => p.scale), shape);
  const zeroPoint = scheme.dtype === 'int8'
    ? new Tensor('int8', Int8Array.from(params, (p) => p.zeroPoint), shape)
    : new Tensor('uint8', Uint8Array.from(params, (p) => p.zeroPoint), shape);
  const data = scheme.dtype === 'int8' ? new Tensor('int8', q as Int8Array, dims) : new Tensor('uint8', q as Uint8Array, dims);
  return { data, scale, zeroPoint, axis, dequantized: deq };
}

/** A float bias as int32 on scale inputScale * weightScale[c] (zero point 0). */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { data: Tensor<'int32'>; scale: Tensor<'float32'> } {
  const n = bias.length;
  const scales = new Float32Array(n);
  const q = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    // A zero weight scale (all-zero channel) would divide by zero; any scale works for it.
    const s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]) || 1;
    scales[c] = s;
    const v = roundHalfToEven(bias[c] / s);
    q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v));
  }
  return { data: new Tensor('int32', q, [n]), scale: new Tensor('float32', scales, [n]) };
}
