// Shape rules for com.microsoft QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
// QLinearConcat, QLinearGlobalAveragePool and QLinearAveragePool: per-tensor quantized
// uint8/int8 ops whose output keeps the quantized input's dtype; and nquant's QLinearLookup.
// Keyed 'domain:OpType'.
import { Dim } from '../ir';
import { InferCtx, Known, ShapeFn, toNchw, toNhwc } from './context';
import { broadcastOrFail } from './elementwise';
import { spatialOut } from './nn';
import { concatOf } from './tensor-ops';

const MS = 'com.microsoft';

/** A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point -> C like A. */
const binary: ShapeFn = (ctx) => [{ dtype: ctx.dtype(0), dims: broadcastOrFail(ctx, [ctx.dims(0), ctx.dims(3)]) }];

const unary: ShapeFn = (ctx) => [{ dtype: ctx.dtype(0), dims: ctx.dims(0) }];

/** Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) triples; Y has Y_zero_point's dtype. */
function concat(ctx: InferCtx): Known[] {
  const parts: Known[] = [];
  for (let i = 2; i < ctx.node.inputs.length; i += 3) parts.push(ctx.in(i));
  if (parts.length === 0) ctx.fail('expects at least one (X, X_scale, X_zero_point) triple');
  // Requantized bytes are not the inputs' values: no contents are tracked.
  const { dims } = concatOf(ctx, parts);
  return [{ dtype: ctx.dtype(1) ?? parts.find((k) => k.dtype)?.dtype, dims }];
}


function checkRank(ctx: InferCtx, x: Dim[]): void {
  if (x.length < 3) ctx.fail(`X must have rank >= 3 (N, C and spatial dims), received [${x.join(', ')}]`);
}

function globalPool(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  checkRank(ctx, x);
  const last = ctx.int('channels_last', 0) !== 0;
  return [{ dtype, dims: x.map((d, i) => (last ? i === 0 || i === x.length - 1 : i < 2) ? d : 1) }];
}

function averagePool(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  checkRank(ctx, x);
  const last = ctx.int('channels_last', 0) !== 0;
  const nchw = last ? toNchw(x) : x;
  const y = [nchw[0], nchw[1], ...spatialOut(ctx, nchw, undefined, ctx.int('ceil_mode', 0) === 1)];
  return [{ dtype, dims: last ? toNhwc(y) : y }];
}

export const QUANT_CONTRIB: { [domainOp: string]: ShapeFn } = {
  [`${MS}:QLinearAdd`]: binary,
  [`${MS}:QLinearMul`]: binary,
  [`${MS}:QLinearSigmoid`]: unary,
  [`${MS}:QLinearLeakyRelu`]: unary,
  [`${MS}:QLinearConcat`]: concat,
  [`${MS}:QLinearGlobalAveragePool`]: globalPool,
  [`${MS}:QLinearAveragePool`]: averagePool,
  // X, table (256 values of the output type) -> Y with X's dims and the table's dtype.
  'nquant:QLinearLookup': (ctx) => [{ dtype: ctx.dtype(1), dims: ctx.dims(0) }],
};
