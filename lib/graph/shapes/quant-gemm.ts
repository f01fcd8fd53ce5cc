// Shape rules for com.microsoft QGemm and DynamicQuantizeMatMul; nquant QLinearConv/QLinearMatMul with a fused clamp.
// Keyed 'domain:OpType'.
import { DataType } from '../../tensor';
import { InferCtx, ShapeFn } from './context';
import { conv, gemm, matmul } from './nn';

/** Quantized to y_zero_point's type when that input (at yzp) is given, else float32. */
const quantizedOrFloat = (yzp: number) => (ctx: InferCtx): DataType | undefined => (ctx.has(yzp) ? ctx.dtype(yzp) : 'float32');

export const QUANT_GEMM: { [domainOp: string]: ShapeFn } = {
  // A, a_scale, a_zero_point, B, b_scale, b_zero_point, C, y_scale, y_zero_point.
  'com.microsoft:QGemm': gemm(quantizedOrFloat(8), 0, 3),
  // A (float32, batched), B, b_scale, b_zero_point, bias.
  'com.microsoft:DynamicQuantizeMatMul': matmul(() => 'float32', 0, 1),
  // ONNX QLinearConv's inputs, y_scale/y_zero_point (6, 7) optional.
  'nquant:QLinearConv': conv(quantizedOrFloat(7), 0, 3),
  // ONNX QLinearMatMul's inputs (+ bias), y_scale/y_zero_point (6, 7) optional.
  'nquant:QLinearMatMul': matmul(quantizedOrFloat(7), 0, 3),
};
