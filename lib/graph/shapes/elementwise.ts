// Shape functions of elementwise ops: unary (shape of input 0), numpy-broadcast binary and
// variadic ops, comparisons (bool), Where, Cast, Clip, Dropout and the normalizations.
import { dtypeFromOnnx } from '../../onnx/tensor-proto';
import { DataType } from '../../tensor';
import { Dim } from '../ir';
import { InferCtx, Known, ShapeFn, arith, broadcast, floatArith, isFloatDtype, isNum, roundToFloat } from './context';

const same: ShapeFn = (ctx) => [{ dtype: ctx.dtype(0), dims: ctx.dims(0) }];

const UNARY = [
  'Sqrt', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Erf', 'Gelu', 'Softmax',
  'LogSoftmax', 'Abs', 'Neg', 'Exp', 'Log', 'Ceil', 'Floor', 'Round', 'Reciprocal', 'Sign', 'Sin', 'Cos',
  'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Elu', 'Selu', 'Softplus',
  'Softsign', 'Mish', 'ThresholdedRelu', 'Celu', 'Not', 'LRN', 'Hardmax', 'BitwiseNot', 'Shrink', 'CumSum',
  'Trilu', 'LpNormalization', 'MeanVarianceNormalization', 'InstanceNormalization', 'PRelu',
  'ReverseSequence', 'Clip', 'QuickGelu', 'FastGelu',
];

/** Broadcasting binary/variadic ops that keep the first input's dtype. */
const BROADCAST = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Mean', 'Sum', 'Mod', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'];
const LOGICAL = ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'];

function allDims(ctx: InferCtx): (Dim[] | undefined)[] {
  return ctx.node.inputs.map((_, i) => (ctx.has(i) ? ctx.dims(i) : []));
}

export function broadcastOrFail(ctx: InferCtx, shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  try {
    return broadcast(...shapes);
  } catch (e) {
    return ctx.fail(`inputs do not broadcast: ${(e as Error).message}`);
  }
}

/**
 * Tracked-value arithmetic: integer shape computations (Shape -> Mul -> Reshape), and float
 * ones on small known tensors (a window length Cast to float, scaled, then fed to Range).
 */
function binaryValue(ctx: InferCtx): Dim[] | undefined {
  const dtype = ctx.dtype(0);
  const float = isFloatDtype(dtype);
  if (dtype === 'float16') return undefined;  // float16 is a storage type here: no kernel computes in it
  const a = float ? ctx.contents(0) : ctx.value(0), b = float ? ctx.contents(1) : ctx.value(1);
  if (!a || !b || ctx.node.inputs.length !== 2) return undefined;
  const n = Math.max(a.length, b.length);
  if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
  const op = ctx.node.opType;
  const apply = float ? (x: Dim, y: Dim): Dim => floatArith(op, x, y, dtype) : (x: Dim, y: Dim): Dim => arith(op, x, y);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) out.push(apply(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]));
  return out;
}

function binary(ctx: InferCtx): Known[] {
  const dims = broadcastOrFail(ctx, allDims(ctx));
  return [{ dtype: ctx.dtype(0), dims, value: binaryValue(ctx) }];
}

/** Comparisons of tracked integer values, as 0/1: lets a known If condition be decided. */
function logicalValue(ctx: InferCtx): Dim[] | undefined {
  const a = ctx.value(0), b = ctx.value(1);
  if (!a || !b || ctx.node.inputs.length !== 2 || a.length !== b.length) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (typeof x !== 'number' || typeof y !== 'number') return undefined;
    switch (ctx.node.opType) {
      case 'Equal': out.push(x === y ? 1 : 0); break;
      case 'Less': out.push(x < y ? 1 : 0); break;
      case 'Greater': out.push(x > y ? 1 : 0); break;
      case 'LessOrEqual': out.push(x <= y ? 1 : 0); break;
      case 'GreaterOrEqual': out.push(x >= y ? 1 : 0); break;
      default: return undefined;
    }
  }
  return out;
}

function logical(ctx: InferCtx): Known[] {
  return [{ dtype: 'bool', dims: broadcastOrFail(ctx, allDims(ctx)), value: logicalValue(ctx) }];
}

function where(ctx: InferCtx): Known[] {
  return [{ dtype: ctx.dtype(1) ?? ctx.dtype(2), dims: broadcastOrFail(ctx, allDims(ctx)) }];
}

export function castTarget(to: number): DataType | undefined {
  try {
    return dtypeFromOnnx(to, 'to');
  } catch {
    return undefined;  // string / bfloat16 / float8: not a dtype nquant computes with
  }
}

const INT_TYPES = new Set<DataType | undefined>(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64']);

/** The range a float Cast to each integer type saturates to, as the native kernel does. */
const INT_RANGE: { [t: string]: [number, number] } = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1], int64: [-(2 ** 63), 2 ** 63], uint64: [0, 2 ** 64],
};

/** A float cast to an integer type: truncated toward zero, NaN to 0, saturated (tensor_cast.cc). */
function floatToInt(x: number, to: DataType): Dim {
  if (Number.isNaN(x)) return 0;
  const [lo, hi] = INT_RANGE[to];
  const t = Math.min(Math.max(Math.trunc(x), lo), hi);
  // A 64-bit integer past 2^53 has no exact JS number, so which one the kernel writes is unknown.
  return Number.isSafeInteger(t) ? t : null;
}

/** Tracked contents after a Cast from `from` to `to`, where inference can say them exactly. */
function castValue(values: Dim[], from: DataType, to: DataType): Dim[] | undefined {
  if (INT_TYPES.has(to) && INT_TYPES.has(from)) return values;
  if (isFloatDtype(to) && (INT_TYPES.has(from) || isFloatDtype(from))) return values.map((v) => (isNum(v) ? roundToFloat(v, to) : null));
  if (INT_TYPES.has(to) && isFloatDtype(from)) return values.map((v) => (isNum(v) ? floatToInt(v, to) : null));
  return undefined;
}

function cast(ctx: InferCtx): Known[] {
  const dtype = castTarget(ctx.int('to', 1));
  const from = ctx.dtype(0);
  const values = isFloatDtype(from) ? ctx.contents(0) : ctx.value(0);
  const value = dtype && from && values ? castValue(values, from, dtype) : undefined;
  return [{ dtype, dims: ctx.dims(0), value }];
}

function dropout(ctx: InferCtx): Known[] {
  return [{ dtype: ctx.dtype(0), dims: ctx.dims(0), value: ctx.value(0) }, { dtype: 'bool', dims: ctx.dims(0) }];
}

function identity(ctx: InferCtx): Known[] {
  const k = ctx.in(0);
  return [{ dtype: k.dtype, dims: k.dims, value: k.value, tensor: k.tensor }];
}

function batchNorm(ctx: InferCtx): Known[] {
  const c = ctx.dims(0)?.[1] ?? null;
  const stat = { dtype: ctx.dtype(1) ?? ctx.dtype(0), dims: [c] };
  return [{ dtype: ctx.dtype(0), dims: ctx.dims(0) }, stat, stat, stat, stat];
}

function layerNorm(ctx: InferCtx): Known[] {
  const dims = ctx.dims(0);
  const statDims = dims ? dims.map((d, i) => (i < ctx.axis(ctx.int('axis', -1), dims.length) ? d : 1)) : undefined;
  const stash = castTarget(ctx.int('stash_type', 1));
  return [{ dtype: ctx.dtype(0), dims }, { dtype: stash, dims: statDims }, { dtype: stash, dims: statDims }];
}

export const ELEMENTWISE: { [op: string]: ShapeFn } = {
  Identity: identity,
  Dropout: dropout,
  Cast: cast,
  CastLike: (ctx) => [{ dtype: ctx.dtype(1), dims: ctx.dims(0) }],
  Where: where,
  IsNaN: (ctx) => [{ dtype: 'bool', dims: ctx.dims(0) }],
  IsInf: (ctx) => [{ dtype: 'bool', dims: ctx.dims(0) }],
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
};
for (const op of UNARY) ELEMENTWISE[op] = same;
for (const op of BROADCAST) ELEMENTWISE[op] = binary;
for (const op of LOGICAL) ELEMENTWISE[op] = logical;
