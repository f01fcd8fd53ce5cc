// Shape functions of the compute-heavy ops: convolutions, pooling, Gemm/MatMul and the
// ONNX quantization ops (whose output dtype comes from a zero-point input).
import { DataType } from '../../tensor';
import { Dim, attrString } from '../ir';
import { InferCtx, Known, ShapeFn, broadcast, isNum } from './context';
import { castTarget } from './elementwise';

interface Window { kernel: number[]; strides: number[]; dilations: number[]; pads: number[]; autoPad: string }

function windowAttrs(ctx: InferCtx, spatial: number, kernel: number[] | undefined): Window {
  const k = ctx.ints_('kernel_shape', kernel);
  if (!k || k.length !== spatial) ctx.fail(`kernel_shape ${k ? `[${k.join(', ')}]` : 'unknown'} does not match ${spatial} spatial dims`);
  return {
    kernel: k,
    strides: ctx.ints_('strides', new Array(spatial).fill(1)) as number[],
    dilations: ctx.ints_('dilations', new Array(spatial).fill(1)) as number[],
    pads: ctx.ints_('pads', new Array(spatial * 2).fill(0)) as number[],
    autoPad: attrString(ctx.node, 'auto_pad', 'NOTSET'),
  };
}

/** Output size of one spatial axis of a convolution or pooling window. */
function windowOut(input: Dim, w: Window, i: number, spatial: number, ceil: boolean): Dim {
  const s = w.strides[i], k = (w.kernel[i] - 1) * w.dilations[i] + 1;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    if (s === 1) return input;
    return isNum(input) ? Math.ceil(input / s) : null;
  }
  const pad = w.autoPad === 'VALID' ? 0 : w.pads[i] + w.pads[i + spatial];
  if (s === 1 && pad === k - 1) return input;  // 'same' convolution keeps symbolic sizes
  if (!isNum(input)) return null;
  const span = input + pad - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // Ceil mode may not start a window inside the end padding (onnxruntime, PyTorch).
  if (ceil && (out - 1) * s >= input + (w.autoPad === 'VALID' ? 0 : w.pads[i])) out--;
  return out;
}

/** Spatial axes of an [N, C, spatial...] input: at least one, or the node fails naming the rank. */
function spatialRank(ctx: InferCtx, x: Dim[]): number {
  if (x.length < 3) ctx.fail(`input rank ${x.length} (dims [${x.join(', ')}]): expected at least 3, [N, C, spatial...]`);
  return x.length - 2;
}

/** Output spatial dims of a window op over NCHW-ordered dims x (attributes read from ctx). */
export function spatialOut(ctx: InferCtx, x: Dim[], kernel: number[] | undefined, ceil: boolean): Dim[] {
  const spatial = spatialRank(ctx, x);
  const w = windowAttrs(ctx, spatial, kernel);
  return x.slice(2).map((d, i) => windowOut(d, w, i, spatial, ceil));
}

/** Conv-shaped rule: x at input xi, weights at wi (for the quantized convs' extra inputs). */
export function conv(outDtype: (ctx: InferCtx) => DataType | undefined, xi: number, wi: number): ShapeFn {
  return (ctx) => {
    const x = ctx.dims(xi), w = ctx.dims(wi);
    const dtype = outDtype(ctx);
    if (!x) return [{ dtype }];
    const kernel = w ? (w.slice(2).every(isNum) ? (w.slice(2) as number[]) : undefined) : undefined;
    const spatial = spatialRank(ctx, x);
    const k = ctx.ints_('kernel_shape', kernel);
    if (!k || k.length !== spatial) return [{ dtype, dims: [x[0], w ? w[0] : null, ...new Array<Dim>(spatial).fill(null)] }];
    return [{ dtype, dims: [x[0], w ? w[0] : null, ...spatialOut(ctx, x, k, false)] }];
  };
}

function convTranspose(ctx: InferCtx): Known[] {
  const x = ctx.dims(0), w = ctx.dims(1);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  const spatial = spatialRank(ctx, x);
  const group = ctx.int('group', 1);
  const m = w && isNum(w[1]) ? w[1] * group : null;
  const outputShape = ctx.ints_('output_shape');
  if (outputShape) return [{ dtype, dims: [x[0], m, ...outputShape.slice(-spatial)] }];
  const kernel = w && w.slice(2).every(isNum) ? (w.slice(2) as number[]) : undefined;
  const win = windowAttrs(ctx, spatial, kernel);
  const outPad = ctx.ints_('output_padding', new Array(spatial).fill(0)) as number[];
  const dims = x.slice(2).map((d, i): Dim => {
    if (!isNum(d)) return null;
    const s = win.strides[i];
    if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') return d * s;
    const pad = win.autoPad === 'VALID' ? 0 : win.pads[i] + win.pads[i + spatial];
    return s * (d - 1) + outPad[i] + (win.kernel[i] - 1) * win.dilations[i] + 1 - pad;
  });
  return [{ dtype, dims: [x[0], m, ...dims] }];
}

function pool(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }, { dtype: 'int64' }];
  const dims = [x[0], x[1], ...spatialOut(ctx, x, undefined, ctx.int('ceil_mode', 0) === 1)];
  return [{ dtype, dims }, { dtype: 'int64', dims }];
}

function globalPool(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  return [{ dtype: ctx.dtype(0), dims: x ? [x[0], x[1], ...x.slice(2).map(() => 1)] : undefined }];
}

/** Gemm-shaped rule (transA/transB): A at input ai, B at bi. */
export function gemm(dtype: (ctx: InferCtx) => DataType | undefined, ai = 0, bi = 1): ShapeFn {
  return (ctx) => {
    const a = ctx.dims(ai), b = ctx.dims(bi);
    const m = a ? (ctx.int('transA', 0) ? a[1] : a[0]) : null;
    const n = b ? (ctx.int('transB', 0) ? b[0] : b[1]) : null;
    if ((a && a.length !== 2) || (b && b.length !== 2)) ctx.fail(`expected 2-D A and B, received ranks ${a?.length ?? 'unknown'} and ${b?.length ?? 'unknown'}`);
    return [{ dtype: dtype(ctx), dims: [m ?? null, n ?? null] }];
  };
}

/** numpy.matmul shapes: 1-D operands are promoted and the added dim removed again. */
export function matmulDims(ctx: InferCtx, a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
  if (!a || !b) return undefined;
  if (a.length === 0 || b.length === 0) ctx.fail('MatMul operands must not be scalars');
  const A = a.length === 1 ? [1, a[0]] : a;
  const B = b.length === 1 ? [b[0], 1] : b;
  let batch: Dim[] | undefined;
  try {
    batch = broadcast(A.slice(0, -2), B.slice(0, -2));
  } catch (e) {
    ctx.fail(`batch dims do not broadcast: ${(e as Error).message}`);
  }
  const out = [...(batch as Dim[])];
  if (a.length !== 1) out.push(A[A.length - 2]);
  if (b.length !== 1) out.push(B[B.length - 1]);
  return out;
}

/** MatMul-shaped rule (numpy batch broadcasting): A at input ai, B at bi. */
export function matmul(dtype: (ctx: InferCtx) => DataType | undefined, ai: number, bi: number): ShapeFn {
  return (ctx) => [{ dtype: dtype(ctx), dims: matmulDims(ctx, ctx.dims(ai), ctx.dims(bi)) }];
}

const input0 = (ctx: InferCtx): DataType | undefined => ctx.dtype(0);
const int32 = (): DataType => 'int32';

function quantizeLinear(ctx: InferCtx): Known[] {
  const explicit = ctx.node.attributes.has('output_dtype') ? castTarget(ctx.int('output_dtype', 0)) : undefined;
  return [{ dtype: ctx.has(2) ? ctx.dtype(2) : explicit ?? 'uint8', dims: ctx.dims(0) }];
}

function dequantizeLinear(ctx: InferCtx): Known[] {
  return [{ dtype: ctx.dtype(1) ?? 'float32', dims: ctx.dims(0) }];
}

export const NN: { [op: string]: ShapeFn } = {
  Conv: conv(input0, 0, 1),
  ConvInteger: conv(int32, 0, 1),
  QLinearConv: conv((ctx) => ctx.dtype(7), 0, 3),
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  Gemm: gemm(input0),
  MatMul: matmul(input0, 0, 1),
  MatMulInteger: matmul(int32, 0, 1),
  QLinearMatMul: matmul((ctx) => ctx.dtype(7), 0, 3),
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: (ctx) => [{ dtype: 'uint8', dims: ctx.dims(0) }, { dtype: 'float32', dims: [] }, { dtype: 'uint8', dims: [] }],
};
