// Shape rules for binary (1-bit) weights: the packed com.nquant BinaryMatMul and the training
// op com.nquant.train FakeBinarize. Keyed 'domain:OpType'.
import { Known, ShapeFn } from './context';

/** com.nquant BinaryMatMul: A [..., K] -> [..., N] (N an attribute), float32. */
function binaryMatMul(ctx: Parameters<ShapeFn>[0]): Known[] {
  const a = ctx.dims(0);
  const n = ctx.int('N', -1);
  return [{ dtype: 'float32', dims: a && n > 0 ? [...a.slice(0, -1), n] : undefined }];
}

export const BINARY: { [domainOp: string]: ShapeFn } = {
  // A, B (sign bits, uint8 [N, ceil(K/8)]), alpha [N], bias [N] (optional).
  'com.nquant:BinaryMatMul': binaryMatMul,
  // Y = sign(X)·alpha per channel: X's shape and type.
  'com.nquant.train:FakeBinarize': (ctx) => [{ dtype: ctx.dtype(0), dims: ctx.dims(0) }],
};
