// Shape rules for com.microsoft QGemm, DynamicQuantizeMatMul and MatMulNBits; nquant QLinearConv/QLinearMatMul with a fused clamp.
// Keyed 'domain:OpType'.
import { DataType } from '../../tensor';
import { InferCtx, Known, ShapeFn, isNum, toNchw, toNhwc } from './context';
import { conv, gemm, matmul, spatialOut } from './nn';

/** Quantized to y_zero_point's type when that input (at yzp) is given, else float32. */
const quantizedOrFloat = (yzp: number) => (ctx: InferCtx): DataType | undefined => (ctx.has(yzp) ? ctx.dtype(yzp) : 'float32');

/** nquant QLinearConv: NCHW; channels_last=1: [N, spatial..., C] in and out; 2: NCHW in, channels-last out. */
function nquantConv(ctx: InferCtx): Known[] {
  const nchw = conv(quantizedOrFloat(7), 0, 3);
  const layout = ctx.int('channels_last', 0);
  if (layout === 0) return nchw(ctx);
  const x = ctx.dims(0), w = ctx.dims(3);
  const dtype = quantizedOrFloat(7)(ctx);
  if (!x || !w || x.length < 3) return [{ dtype }];
  const kernel = w.slice(2).every(isNum) ? (w.slice(2) as number[]) : undefined;
  const k = ctx.ints_('kernel_shape', kernel);
  // 1: x and y channels-last; 2: x NCHW, y channels-last.
  const xc = layout === 2 ? x : toNchw(x);
  return [{ dtype, dims: toNhwc([xc[0], w[0], ...spatialOut(ctx, xc, k, false)]) }];
}

/** com.microsoft NhwcMaxPool: [N, spatial..., C]. */
function nhwcMaxPool(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x || x.length < 3) return [{ dtype }];
  const xc = toNchw(x);
  return [{ dtype, dims: toNhwc([xc[0], xc[1], ...spatialOut(ctx, xc, undefined, ctx.int('ceil_mode', 0) === 1)]) }];
}

/** com.microsoft MatMulNBits: A [..., K] -> [..., N] (N an attribute), A's float type. */
function matMulNBits(ctx: InferCtx): Known[] {
  const a = ctx.dims(0);
  const n = ctx.int('N', -1);
  return [{ dtype: ctx.dtype(0), dims: a && n > 0 ? [...a.slice(0, -1), n] : undefined }];
}

export const QUANT_GEMM: { [domainOp: string]: ShapeFn } = {
  // A, a_scale, a_zero_point, B, b_scale, b_zero_point, C, y_scale, y_zero_point.
  'com.microsoft:QGemm': gemm(quantizedOrFloat(8), 0, 3),
  // A (float32, batched), B, b_scale, b_zero_point, bias.
  'com.microsoft:DynamicQuantizeMatMul': matmul(() => 'float32', 0, 1),
  // ONNX QLinearConv's inputs, y_scale/y_zero_point (6, 7) optional.
  'nquant:QLinearConv': nquantConv,
  'com.microsoft:NhwcMaxPool': nhwcMaxPool,
  // ONNX QLinearMatMul's inputs (+ bias), y_scale/y_zero_point (6, 7) optional.
  'nquant:QLinearMatMul': matmul(quantizedOrFloat(7), 0, 3),
  // A, B (packed 4-bit blocks), scales, zero_points, g_idx, bias.
  'com.microsoft:MatMulNBits': matMulNBits,
};
