// Shape functions of data-movement ops (Reshape, Transpose, Concat, Split, Slice, Gather,
// Squeeze/Unsqueeze, Pad, Resize, reductions, Shape, Expand...). Many of them also
// propagate tracked contents, so Shape -> Gather -> Concat -> Reshape chains resolve.
import { DataType, Tensor } from '../../tensor';
import { Dim } from '../ir';
import { InferCtx, Known, MAX_TRACKED, ShapeFn, addDim, broadcast, isFloatDtype, isNum, product, roundToFloat, tensorValue, unknownDims } from './context';

/** Slice bounds on one axis, as ONNX defines them (clamping, negative steps). */
export function sliceRange(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) { s = clamp(s, 0, dim); e = clamp(e, 0, dim); } else { s = clamp(s, 0, dim - 1); e = clamp(e, -1, dim - 1); }
  const count = Math.max(0, Math.ceil((e - s) / step));
  return { start: s, count };
}

function reshape(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const target = ctx.node.attributes.has('shape') ? ctx.ints_('shape') : ctx.value(1);
  const dtype = ctx.dtype(0);
  if (!target) {
    const n = ctx.dims(1)?.[0];
    return [{ dtype, dims: unknownDims(n) }];
  }
  const allowZero = ctx.int('allowzero', 0) === 1;
  const bad = target.find((d) => isNum(d) && (!Number.isInteger(d) || d < -1));
  if (bad !== undefined) ctx.fail(`shape [${target.join(', ')}] has ${bad}: expected sizes >= 0, or -1 once`);
  const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? (x ? x[i] ?? null : null) : d));
  const minus = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) ctx.fail('shape has more than one -1');
  if (minus >= 0) out[minus] = inferredDim(x, out.filter((_, i) => i !== minus));
  if (isNum(out[minus]) && !Number.isInteger(out[minus])) {
    ctx.fail(`input dims [${x?.join(', ')}] do not divide into shape [${target.join(', ')}]`);
  }
  if (x && x.every(isNum) && out.every(isNum) && product(x) !== product(out)) {
    const resolved = out.join(', ') === target.join(', ') ? '' : ` (resolved to [${out.join(', ')}])`;
    ctx.fail(`input dims [${x.join(', ')}] (${product(x)} elements) cannot take shape [${target.join(', ')}]${resolved} (${product(out)} elements)`);
  }
  const value = ctx.value(0);
  return [{ dtype, dims: out, value }];
}

/** The -1 of a Reshape: input elements over the other output dims, cancelling symbols. */
function inferredDim(x: Dim[] | undefined, others: Dim[]): Dim {
  if (!x || x.includes(null) || others.includes(null)) return null;
  const syms = x.filter((d) => !isNum(d)) as string[];
  const num = (x.filter(isNum) as number[]).reduce((a, b) => a * b, 1);
  let den = 1;
  for (const d of others) {
    if (isNum(d)) den *= d;
    else {
      const k = syms.indexOf(d as string);
      if (k < 0) return null;
      syms.splice(k, 1);
    }
  }
  if (den === 0) return null;
  if (syms.length === 0) return num / den;
  if (syms.length === 1 && num === den) return syms[0];
  return null;
}

function transpose(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  if (!x) return [{ dtype: ctx.dtype(0) }];
  const perm = ctx.ints_('perm', x.map((_, i) => x.length - 1 - i)) as number[];
  if (perm.length !== x.length) ctx.fail(`perm has ${perm.length} entries for rank ${x.length}`);
  return [{ dtype: ctx.dtype(0), dims: perm.map((p) => x[p]) }];
}

/** Concatenation of the given values along the node's axis attribute. */
export function concatOf(ctx: InferCtx, inputs: Known[]): Known {
  const dtype = inputs.find((k) => k.dtype)?.dtype;
  const ranked = inputs.find((k) => k.dims)?.dims;
  if (!ranked) return { dtype };
  const axis = ctx.axis(ctx.int('axis', 0), ranked.length);
  const dims = ranked.map((_, i): Dim => {
    if (i === axis) return inputs.reduce<Dim>((acc, k) => (k.dims ? addDim(acc, k.dims[i]) : null), 0);
    return inputs.map((k) => k.dims?.[i] ?? null).find((d) => d !== null) ?? null;
  });
  let value: Dim[] | undefined;
  if (ranked.length === 1 && inputs.every((k) => k.value)) value = inputs.flatMap((k) => k.value as Dim[]);
  return { dtype, dims, value };
}

function concat(ctx: InferCtx): Known[] {
  return [concatOf(ctx, ctx.node.inputs.map((_, i) => ctx.in(i)))];
}

function split(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const n = ctx.node.outputs.length;
  const dtype = ctx.dtype(0);
  if (!x) return new Array(n).fill({ dtype });
  const axis = ctx.axis(ctx.int('axis', 0), x.length);
  const sizes = ctx.intsFromAttrOrInput('split', 1);
  const d = x[axis];
  const parts: Dim[] = [];
  if (sizes) parts.push(...sizes);
  else if (!ctx.has(1) || ctx.node.attributes.has('num_outputs')) {
    if (!isNum(d)) parts.push(...new Array<Dim>(n).fill(null));
    else {
      // Opset 18 allows an uneven last chunk (ceil); before, sizes had to divide evenly.
      const chunk = Math.ceil(d / n);
      for (let i = 0; i < n; i++) parts.push(Math.max(0, Math.min(chunk, d - chunk * i)));
    }
  } else parts.push(...new Array<Dim>(n).fill(null));
  return parts.map((p) => ({ dtype, dims: x.map((v, i) => (i === axis ? p : v)) }));
}

function slice(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  // Before opset 10 starts/ends/axes were attributes; their presence tells the form.
  const old = ctx.node.attributes.has('starts');
  const starts = old ? ctx.ints_('starts') : ctx.ints(1);
  const ends = old ? ctx.ints_('ends') : ctx.ints(2);
  const axesIn = old ? ctx.ints_('axes') : ctx.has(3) ? ctx.ints(3) : undefined;
  const steps = old ? undefined : ctx.has(4) ? ctx.ints(4) : undefined;
  if (!starts || !ends || (!old && ctx.has(3) && !axesIn) || (ctx.has(4) && !steps)) return [{ dtype, dims: x.map(() => null) }];
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => ctx.axis(a, x.length));
  const dims = [...x];
  const value = ctx.value(0);
  let outValue: Dim[] | undefined;
  axes.forEach((a, k) => {
    const step = steps?.[k] ?? 1;
    if (step === 0) ctx.fail('slice step 0');
    const d = x[a];
    if (isNum(d)) {
      const r = sliceRange(d, starts[k], ends[k], step);
      dims[a] = r.count;
      if (value && x.length === 1) outValue = Array.from({ length: r.count }, (_, i) => value[r.start + i * step]);
    } else {
      dims[a] = starts[k] === 0 && step === 1 && ends[k] >= 2 ** 31 - 1 ? d : null;
    }
  });
  return [{ dtype, dims, value: outValue }];
}

function squeeze(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const axes = ctx.intsFromAttrOrInput('axes', 1);
  const dtype = ctx.dtype(0);
  if (!x || (!axes && ctx.has(1))) return [{ dtype }];
  let dims: Dim[] | undefined;
  if (!axes) dims = x.some((d) => !isNum(d)) ? undefined : x.filter((d) => d !== 1);
  else {
    const drop = new Set(axes.map((a) => ctx.axis(a, x.length)));
    dims = x.filter((_, i) => !drop.has(i));
  }
  return [{ dtype, dims, value: ctx.value(0) }];
}

function unsqueeze(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const axes = ctx.intsFromAttrOrInput('axes', 1);
  const dtype = ctx.dtype(0);
  if (!x || !axes) return [{ dtype }];
  const rank = x.length + axes.length;
  const at = new Set(axes.map((a) => ctx.axis(a, rank)));
  const dims: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) dims.push(at.has(i) ? 1 : x[k++]);
  return [{ dtype, dims, value: ctx.value(0) }];
}

function gather(ctx: InferCtx): Known[] {
  const x = ctx.dims(0), idx = ctx.dims(1);
  const dtype = ctx.dtype(0);
  if (!x || !idx) return [{ dtype }];
  const axis = ctx.axis(ctx.int('axis', 0), x.length);
  const dims = [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];
  const value = ctx.value(0), indices = ctx.ints(1);
  let outValue: Dim[] | undefined;
  if (value && indices && x.length === 1 && isNum(x[0])) {
    const n = x[0];
    outValue = indices.map((i) => value[i < 0 ? i + n : i] ?? null);
  }
  return [{ dtype, dims, value: outValue }];
}

function pad(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  const pads = ctx.intsFromAttrOrInput('pads', 1);
  if (!pads) return [{ dtype, dims: x.map(() => null) }];
  const axes = ctx.has(3) ? ctx.ints(3) : x.map((_, i) => i);
  if (!axes) return [{ dtype, dims: x.map(() => null) }];
  const dims = [...x];
  axes.forEach((a, k) => {
    const i = ctx.axis(a, x.length);
    const p = pads[k] + pads[k + axes.length];
    dims[i] = p === 0 ? x[i] : isNum(x[i]) ? (x[i] as number) + p : null;
  });
  return [{ dtype, dims }];
}

function resize(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  // Upsample and Resize-10 take (X, scales); Resize-11+ takes (X, roi, scales, sizes).
  const upsample = ctx.node.opType === 'Upsample' || ctx.node.inputs.length === 2;
  const scalesIdx = upsample ? 1 : 2;
  const sizes = !upsample && ctx.has(3) ? ctx.ints(3) : undefined;
  const scales = ctx.node.attributes.has('scales') ? ctx.node.attributes.get('scales')?.value as number[] : ctx.has(scalesIdx) ? ctx.floats(scalesIdx) : undefined;
  const axesAttr = ctx.ints_('axes');
  const axes = (axesAttr ?? x.map((_, i) => i)).map((a) => ctx.axis(a, x.length));
  const dims: Dim[] = [...x];
  if (sizes && sizes.length === axes.length && ctx.int('keep_aspect_ratio_policy', 0) === 0) axes.forEach((a, k) => { dims[a] = sizes[k]; });
  else if (scales && scales.length === axes.length) axes.forEach((a, k) => { dims[a] = scales[k] === 1 ? x[a] : isNum(x[a]) ? Math.floor((x[a] as number) * scales[k]) : null; });
  else return [{ dtype, dims: x.map((d, i) => (i < 2 ? d : null)) }];
  return [{ dtype, dims }];
}

function reduce(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!x) return [{ dtype }];
  const keep = ctx.int('keepdims', 1) === 1;
  let axes = ctx.node.attributes.has('axes') ? ctx.ints_('axes') : ctx.has(1) ? ctx.ints(1) : [];
  if (!axes) return [{ dtype, dims: keep ? x.map(() => null) : undefined }];
  if (axes.length === 0) {
    if (ctx.int('noop_with_empty_axes', 0) === 1) return [{ dtype, dims: x }];
    axes = x.map((_, i) => i);
  }
  const set = new Set(axes.map((a) => ctx.axis(a, x.length)));
  const dims = keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i));
  return [{ dtype, dims }];
}

function argReduce(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  if (!x) return [{ dtype: 'int64' }];
  const axis = ctx.axis(ctx.int('axis', 0), x.length);
  const keep = ctx.int('keepdims', 1) === 1;
  return [{ dtype: 'int64', dims: keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis) }];
}

function shape(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  if (!x) return [{ dtype: 'int64', dims: [null] }];
  const r = x.length;
  const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = norm(ctx.int('start', 0));
  const end = norm(ctx.int('end', r));
  const value = x.slice(start, Math.max(start, end));
  return [{ dtype: 'int64', dims: [value.length], value }];
}

function expand(ctx: InferCtx): Known[] {
  const target = ctx.value(1);
  const x = ctx.dims(0);
  const dtype = ctx.dtype(0);
  if (!target) {
    const n = ctx.dims(1)?.[0];
    return [{ dtype, dims: isNum(n) && x ? unknownDims(Math.max(n, x.length)) : undefined }];
  }
  try {
    return [{ dtype, dims: broadcast(x, target.map((d) => (d === -1 ? 1 : d))) }];
  } catch (e) {
    return ctx.fail(`input does not expand to the target shape: ${(e as Error).message}`);
  }
}

function flatten(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  if (!x) return [{ dtype: ctx.dtype(0), dims: [null, null] }];
  let axis = ctx.int('axis', 1);
  if (axis < 0) axis += x.length;
  if (axis < 0 || axis > x.length) ctx.fail(`axis ${ctx.int('axis', 1)} out of range for rank ${x.length}`);
  return [{ dtype: ctx.dtype(0), dims: [product(x.slice(0, axis)), product(x.slice(axis))] }];
}

function constantOfShape(ctx: InferCtx): Known[] {
  const a = ctx.node.attributes.get('value');
  const dtype = a && a.type === 'tensor' ? a.value.dtype : 'float32';
  const dims = ctx.value(0);
  let value: Dim[] | undefined;
  const n = dims && dims.every(isNum) ? product(dims) : null;
  if (a && a.type === 'tensor' && isNum(n) && n <= MAX_TRACKED) {
    const v = tensorValue(a.value);
    if (v) value = new Array<Dim>(n).fill(v[0]);
  }
  return [{ dtype, dims: dims ?? unknownDims(ctx.dims(0)?.[0]), value }];
}

/** The tensor a Constant node holds (value, value_float(s), value_int(s)). */
export function constantTensor(ctx: InferCtx): Tensor | undefined {
  const attrs = ctx.node.attributes;
  const a = attrs.get('value');
  if (a?.type === 'tensor') return a.value;
  const f = attrs.get('value_float'), fs = attrs.get('value_floats'), i = attrs.get('value_int'), is = attrs.get('value_ints');
  if (f?.type === 'float') return new Tensor('float32', new Float32Array([f.value]), []);
  if (fs?.type === 'floats') return new Tensor('float32', Float32Array.from(fs.value));
  if (i?.type === 'int') return new Tensor('int64', [BigInt(i.value)], []);
  if (is?.type === 'ints') return new Tensor('int64', is.value.map((v) => BigInt(v)));
  return undefined;  // string or sparse constants: not computable here
}

function constant(ctx: InferCtx): Known[] {
  const t = constantTensor(ctx);
  if (!t) return [{}];
  return [{ dtype: t.dtype, dims: [...t.dims], value: tensorValue(t), tensor: t }];
}

/**
 * Range's element count, computed in the inputs' dtype as ONNX's reference does: in float32,
 * 0 to 1.1 by 0.1 gives 11 elements, where the same bounds divided in float64 give 12.
 */
function rangeCount(start: number, limit: number, delta: number, dtype: DataType | undefined): number {
  const steps = isFloatDtype(dtype) ? roundToFloat(roundToFloat(limit - start, dtype) / delta, dtype) : (limit - start) / delta;
  return Math.max(Math.ceil(steps), 0);
}

function range(ctx: InferCtx): Known[] {
  const dtype = ctx.dtype(0);
  const [s, l, d] = [ctx.floats(0), ctx.floats(1), ctx.floats(2)];
  if (!s || !l || !d || d[0] === 0) return [{ dtype, dims: [null] }];
  const n = rangeCount(s[0], l[0], d[0], dtype);
  const value = n <= MAX_TRACKED && !isFloatDtype(dtype) ? Array.from({ length: n }, (_, i) => s[0] + i * d[0]) : undefined;
  return [{ dtype, dims: [n], value }];
}

function tile(ctx: InferCtx): Known[] {
  const x = ctx.dims(0), reps = ctx.ints(1);
  if (!x) return [{ dtype: ctx.dtype(0) }];
  return [{ dtype: ctx.dtype(0), dims: x.map((d, i) => (reps ? (reps[i] === 1 ? d : isNum(d) ? d * reps[i] : null) : null)) }];
}

function size(ctx: InferCtx): Known[] {
  const x = ctx.dims(0);
  const n = x ? product(x) : null;
  return [{ dtype: 'int64', dims: [], value: [n] }];
}

const REDUCE = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

export const TENSOR_OPS: { [op: string]: ShapeFn } = {
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Gather: gather,
  Pad: pad,
  Resize: resize,
  Upsample: resize,
  ArgMax: argReduce,
  ArgMin: argReduce,
  Shape: shape,
  Size: size,
  Expand: expand,
  Flatten: flatten,
  ConstantOfShape: constantOfShape,
  Constant: constant,
  Range: range,
  Tile: tile,
  NonZero: (ctx) => [{ dtype: 'int64', dims: [ctx.dims(0)?.length ?? null, null] }],
};
for (const op of REDUCE) TENSOR_OPS[op] = reduce;
