// Constant folding: Constant nodes become initializers; integer shape computations whose
// contents inference tracked (Shape/Gather/Concat/Unsqueeze/Cast/... on constants or known
// dims) become initializers; small elementwise float ops on initializers are evaluated here.
import { float16ArrayToFloat32 } from '../../numeric';
import { ARRAY_TYPES, DataType, Tensor, TypedArray } from '../../tensor';
import { Graph, Node } from '../ir';
import { inferValues } from '../shape-inference';
import { InferCtx, isNum } from '../shapes/context';
import { constantTensor } from '../shapes/tensor-ops';
import { eliminateDeadNodes } from '../topo';
import { constant } from './util';

/** Elementwise float folding is limited to tensors this small (weights are not rewritten). */
const MAX_FOLD_ELEMENTS = 1 << 16;
/** Ops that may not be folded even with constant inputs (random, or with side meaning). */
const NON_DETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'If', 'Loop', 'Scan']);

const UNARY: { [op: string]: (x: number) => number } = {
  Sqrt: Math.sqrt, Neg: (x) => -x, Reciprocal: (x) => 1 / x, Exp: Math.exp, Log: Math.log, Abs: Math.abs,
  Relu: (x) => Math.max(x, 0), Sigmoid: (x) => 1 / (1 + Math.exp(-x)), Tanh: Math.tanh, Floor: Math.floor, Ceil: Math.ceil,
};
const BINARY: { [op: string]: (a: number, b: number) => number } = {
  Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => a / b, Pow: (a, b) => a ** b,
  Max: Math.max, Min: Math.min,
};
/** Ops that only relabel dims: folded for constants of any size (no arithmetic). */
const RESHAPING = new Set(['Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Dropout']);

function makeTensor(dtype: DataType, dims: number[], values: ArrayLike<number>): Tensor {
  const data = new ARRAY_TYPES[dtype](values.length) as TypedArray;
  const out = data as unknown as { [i: number]: number | bigint };
  const big = dtype === 'int64' || dtype === 'uint64';
  for (let i = 0; i < values.length; i++) out[i] = big ? BigInt(Math.trunc(values[i])) : values[i];
  return new Tensor(dtype, data, dims);
}

/** Index of the broadcast source element for flat output index i. */
function broadcastIndex(i: number, outDims: number[], inDims: readonly number[]): number {
  let idx = 0, stride = 1, rem = i;
  const offset = outDims.length - inDims.length;
  const coords = new Array<number>(outDims.length);
  for (let d = outDims.length - 1; d >= 0; d--) { coords[d] = rem % outDims[d]; rem = Math.floor(rem / outDims[d]); }
  for (let d = inDims.length - 1; d >= 0; d--) {
    idx += (inDims[d] === 1 ? 0 : coords[d + offset]) * stride;
    stride *= inDims[d];
  }
  return idx;
}

function evaluateFloat(node: Node, inputs: Tensor[], dtype: DataType, dims: number[]): Tensor | undefined {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_FOLD_ELEMENTS || dtype !== 'float32') return undefined;
  const vals = inputs.map((t) => (t.dtype === 'float32' || t.dtype === 'float64' ? (t.data as Float32Array) : undefined));
  if (vals.some((v) => !v)) return undefined;
  const out = new Float64Array(n);
  const u = UNARY[node.opType], b = BINARY[node.opType];
  if (u && inputs.length === 1) for (let i = 0; i < n; i++) out[i] = u((vals[0] as Float32Array)[i]);
  else if (b && inputs.length === 2) {
    for (let i = 0; i < n; i++) out[i] = b((vals[0] as Float32Array)[broadcastIndex(i, dims, inputs[0].dims)], (vals[1] as Float32Array)[broadcastIndex(i, dims, inputs[1].dims)]);
  } else return undefined;
  return makeTensor('float32', dims, Float32Array.from(out));
}

/**
 * Folds what can be computed ahead of time into initializers and drops the dead nodes.
 * Returns the number of nodes folded.
 */
export function foldConstants(graph: Graph, opsets?: ReadonlyMap<string, number> | number): number {
  let folded = 0;
  for (;;) {
    let changed = false;
    const known = inferValues(graph, opsets);
    const keep: Node[] = [];
    for (const node of graph.nodes) {
      const replacement = node.domain === '' && !NON_DETERMINISTIC.has(node.opType) ? foldNode(graph, node, known) : undefined;
      if (!replacement) { keep.push(node); continue; }
      replacement.forEach((t, j) => graph.initializers.set(node.outputs[j], t));
      for (const o of node.outputs) graph.valueInfo.delete(o);
      folded++;
      changed = true;
    }
    graph.nodes = keep;
    if (!changed) break;
  }
  eliminateDeadNodes(graph);
  return folded;
}

function foldNode(graph: Graph, node: Node, known: ReturnType<typeof inferValues>): Tensor[] | undefined {
  if (node.outputs.length === 0 || node.outputs.some((o) => !o)) return undefined;
  if (node.opType === 'Constant' && !graph.outputs.some((o) => o.name === node.outputs[0])) {
    const t = constantTensor(new InferCtx(node, 21, () => undefined));
    return t ? [t] : undefined;
  }
  // Multi-output ops (Split, Dropout with mask) are left to the runtime; graph outputs stay computed.
  if (node.outputs.length !== 1 || graph.outputs.some((o) => o.name === node.outputs[0])) return undefined;
  const out = known.get(node.outputs[0]);
  if (!out || !out.dtype || !out.dims || !out.dims.every(isNum)) return undefined;
  const dims = out.dims as number[];
  const size = dims.reduce((a, b) => a * b, 1);
  // Integer contents tracked by inference (shape arithmetic).
  if (out.value && out.value.length === size && out.value.every(isNum) && out.dtype !== 'float32' && out.dtype !== 'float64' && out.dtype !== 'float16') {
    return [makeTensor(out.dtype, dims, out.value as number[])];
  }
  const inputs = node.inputs.filter((i) => i !== '').map((i) => constant(graph, i));
  if (inputs.length === 0 || inputs.some((t) => !t)) return undefined;
  const consts = inputs as Tensor[];
  // A Dropout in training mode draws a random mask: only its inference form is a copy.
  if (node.opType === 'Dropout' && node.inputs[2] && Number(constant(graph, node.inputs[2])?.data[0] ?? 0) !== 0) return undefined;
  if (RESHAPING.has(node.opType) && consts[0].size === size && consts[0].dtype === out.dtype) return [new Tensor(consts[0].dtype, consts[0].data, dims)];
  if (node.opType === 'Cast' && consts[0].dtype === 'float64' && out.dtype === 'float32' && size <= MAX_FOLD_ELEMENTS) {
    return [new Tensor('float32', Float32Array.from(consts[0].data as Float64Array), dims)];
  }
  // Weights stored in half precision (toFp16) widen once here, at load, whatever their size:
  // the float32 kernels then run on them with no per-run conversion.
  if (node.opType === 'Cast' && consts[0].dtype === 'float16' && out.dtype === 'float32') {
    return [new Tensor('float32', float16ArrayToFloat32(consts[0].data as Uint16Array), dims)];
  }
  const t = evaluateFloat(node, consts, out.dtype, dims);
  return t ? [t] : undefined;
}
