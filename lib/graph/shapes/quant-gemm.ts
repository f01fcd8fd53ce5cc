// Shape rules for com.microsoft QGemm and DynamicQuantizeMatMul; nquant QLinearConv/QLinearMatMul with a fused clamp.
// Keyed 'domain:OpType'.
import { ShapeFn } from './context';

export const QUANT_GEMM: { [domainOp: string]: ShapeFn } = {};
