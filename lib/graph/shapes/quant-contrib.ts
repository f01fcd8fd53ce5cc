// Shape rules for com.microsoft QLinearAdd, QLinearMul, QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid.
// Keyed 'domain:OpType'.
import { ShapeFn } from './context';

export const QUANT_CONTRIB: { [domainOp: string]: ShapeFn } = {};
