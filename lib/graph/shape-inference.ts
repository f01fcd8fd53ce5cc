// Shape inference over the IR: dtypes and dims of every value (symbolic dims carried through,
// null where unknowable), plus the contents of small tensors so that shape computations
// (Shape -> Gather -> Concat -> Reshape, as exported PyTorch models have, or a length Cast to
// float and scaled before Range) resolve. Per-op rules live in shapes/*.ts.
import { Dim, Graph, Node, ValueInfo, nodeName } from './ir';
import { InferCtx, Known, ShapeFn, isNum, tensorValue, toNchw, toNhwc } from './shapes/context';

export type { Known };
import { ELEMENTWISE } from './shapes/elementwise';
import { NN, matmulDims } from './shapes/nn';
import { TENSOR_OPS } from './shapes/tensor-ops';
import { QUANT_CONTRIB } from './shapes/quant-contrib';
import { QUANT_GEMM } from './shapes/quant-gemm';
import { TRAIN } from './shapes/train';
import { BINARY } from './shapes/binary';
import { FUSED_BASE, NQUANT_DOMAIN } from './passes/fused';
import { topoSort } from './topo';
import { DataType, Tensor } from '../tensor';
import { checkedElementCount } from '../limits';

const FUNCTIONS: { [op: string]: ShapeFn } = { ...ELEMENTWISE, ...NN, ...TENSOR_OPS };
// Rules for ops outside the default domain, keyed 'domain:OpType'.
const DOMAIN_FUNCTIONS: { [domainOp: string]: ShapeFn } = { ...QUANT_CONTRIB, ...QUANT_GEMM, ...TRAIN, ...BINARY };

/** Float ops the runtime's layout pass may mark channels_last=1 (X and Y [N, spatial..., C]). */
const CHANNELS_LAST_FLOAT = new Set(['Conv', 'MaxPool', 'GlobalAveragePool']);

/**
 * The NCHW rule run on input 0 seen as NCHW, its output 0 given back channels-last
 * (channels_last=1: NHWC in and out; 2: NCHW in, NHWC out).
 */
function channelsLast(fn: ShapeFn): ShapeFn {
  return (ctx) => {
    const layout = ctx.int('channels_last', 0);
    if (layout === 2) {
      const outs = fn(ctx);
      const y = outs[0]?.dims;
      return y && y.length >= 3 ? [{ ...outs[0], dims: toNhwc(y) }, ...outs.slice(1)] : outs;
    }
    if (layout !== 1) return fn(ctx);
    const x = ctx.in(0);
    const nchw = new InferCtx(ctx.node, ctx.opset, (name) => {
      const i = ctx.node.inputs.indexOf(name);
      if (i < 0) return undefined;
      const k = ctx.in(i);
      return i === 0 && k.dims && k.dims.length >= 3 ? { ...k, dims: toNchw(k.dims) } : k;
    });
    const outs = fn(nchw);
    const y = outs[0]?.dims;
    return x.dims && y && y.length >= 3 ? [{ ...outs[0], dims: toNhwc(y) }, ...outs.slice(1)] : outs;
  };
}

function shapeFunction(node: Node): ShapeFn | undefined {
  if (node.domain === '') {
    const fn: ShapeFn | undefined = FUNCTIONS[node.opType];
    return fn !== undefined && CHANNELS_LAST_FLOAT.has(node.opType) ? channelsLast(fn) : fn;
  }
  if (node.domain === NQUANT_DOMAIN && node.opType in FUSED_BASE) {
    if (node.opType === 'FusedMatMul') return (ctx) => [{ dtype: ctx.dtype(0), dims: matmulDims(ctx, ctx.dims(0), ctx.dims(1)) }];
    const fn = FUNCTIONS[FUSED_BASE[node.opType]];
    return node.opType === 'FusedConv' ? channelsLast(fn) : fn;
  }
  return DOMAIN_FUNCTIONS[`${node.domain}:${node.opType}`];
}

/** Ops inferShapes has a rule for (default domain). */
export function shapeInferenceOps(): string[] {
  return [...Object.keys(FUNCTIONS), 'If'].sort();
}

export interface UnknownValue {
  value: string;
  /** Producing node ('' for graph inputs) and its op. */
  node: string;
  opType: string;
  /** Why: no rule for the op, an error in the rule, or data-dependent dims. */
  reason: string;
}

export interface ShapeReport {
  /** Values whose dtype, rank or some dim stays unknown (symbolic dims count as known). */
  unknown: UnknownValue[];
}

type Opsets = ReadonlyMap<string, number> | number;

interface Mode {
  concrete: boolean;
  report: UnknownValue[];
  /** Write results into graph.valueInfo (inferShapes) or leave the graph alone. */
  write: boolean;
}

const opsetOf = (o: Opsets | undefined): number => (o === undefined ? 21 : typeof o === 'number' ? o : o.get('') ?? 21);

function complete(k: Known | undefined): boolean {
  return !!k && k.dtype !== undefined && k.dims !== undefined && k.dims.every((d) => d !== null);
}

/** Keeps what we inferred, filling gaps from the model's own value_info. */
function mergeHint(k: Known, hint: ValueInfo | undefined): Known {
  if (!hint || hint.foreign) return k;
  const out = { ...k, dtype: k.dtype ?? hint.dtype };
  if (!k.dims) out.dims = hint.dims ? [...hint.dims] : undefined;
  else if (hint.dims && hint.dims.length === k.dims.length) out.dims = k.dims.map((d, i) => d ?? hint.dims?.[i] ?? null);
  return out;
}

function mergeBranches(a: Known | undefined, b: Known | undefined): Known {
  if (!a || !b) return {};
  const dims = a.dims && b.dims && a.dims.length === b.dims.length ? a.dims.map((d, i) => (d === b.dims?.[i] ? d : null)) : undefined;
  return { dtype: a.dtype ?? b.dtype, dims };
}

function run(graph: Graph, opset: number, mode: Mode, outer: (n: string) => Known | undefined, inputDims?: { [name: string]: readonly number[] }, inputValues?: { [name: string]: Tensor }): Map<string, Known> {
  const known = new Map<string, Known>();
  const lookup = (n: string): Known | undefined => known.get(n) ?? outer(n);
  const declared = new Set(graph.inputs.map((i) => i.name));
  for (const [name, t] of graph.initializers) {
    // An initializer that is also a graph input is only a default: callers may feed another.
    known.set(name, declared.has(name) ? { dtype: t.dtype, dims: [...t.dims] } : { dtype: t.dtype, dims: [...t.dims], value: tensorValue(t), tensor: t });
  }
  for (const input of graph.inputs) {
    if (input.foreign) continue;
    const given = inputDims?.[input.name];
    if (given) {
      if (input.dims && input.dims.length !== given.length) {
        throw new Error(`input '${input.name}': expected rank ${input.dims.length} ([${input.dims.join(', ')}]), received dims [${given.join(', ')}]`);
      }
      input.dims?.forEach((d, i) => {
        if (isNum(d) && d !== given[i]) throw new Error(`input '${input.name}': expected dim ${i} = ${d}, received ${given[i]}`);
      });
      // A fed small integer tensor (a shape, axes, a length) lets value-dependent outputs
      // (Reshape, Expand, Range, ConstantOfShape, ...) resolve for this plan.
      const fed = inputValues?.[input.name];
      known.set(input.name, { dtype: input.dtype, dims: [...given], value: fed ? tensorValue(fed) : undefined, tensor: fed });
    } else if (!graph.initializers.has(input.name)) {
      known.set(input.name, { dtype: input.dtype, dims: input.dims ? [...input.dims] : undefined });
      if (mode.concrete && inputDims && !complete(known.get(input.name))) {
        throw new Error(`input '${input.name}': dims [${input.dims?.join(', ') ?? '?'}] are not fixed; pass them in inputDims`);
      }
    }
  }
  for (const node of topoSort(graph)) {
    let outs: Known[] = [];
    let reason = '';
    const ctx = new InferCtx(node, opset, lookup);
    try {
      if (node.opType === 'If' && node.domain === '') outs = inferIf(node, ctx, opset, mode, lookup);
      else {
        const fn = shapeFunction(node);
        if (fn) outs = fn(ctx);
        else reason = `no shape rule for ${node.domain ? `${node.domain}:` : ''}${node.opType}`;
      }
    } catch (e) {
      if (mode.concrete) throw e;
      reason = (e as Error).message;
    }
    node.outputs.forEach((name, j) => {
      if (!name) return;
      let k = outs[j] ?? {};
      if (!mode.concrete) k = mergeHint(k, graph.valueInfo.get(name));
      known.set(name, k);
      if (complete(k)) return;
      const label = `${node.opType} node '${nodeName(node)}'`;
      if (mode.concrete) {
        throw new Error(`${label}: cannot resolve output '${name}' to concrete dims (got ${k.dims ? formatDims(k.dims) : 'unknown rank'}${reason ? `; ${reason}` : ''})`);
      }
      mode.report.push({ value: name, node: node.name, opType: node.opType, reason: reason || (k.dims ? 'data-dependent or symbolic arithmetic' : 'rank unknown') });
    });
  }
  if (mode.write) writeValueInfo(graph, known);
  return known;
}

function inferIf(node: Node, ctx: InferCtx, opset: number, mode: Mode, lookup: (n: string) => Known | undefined): Known[] {
  const branch = (name: string): Known[] | undefined => {
    const a = node.attributes.get(name);
    if (!a || a.type !== 'graph') return undefined;
    const sub = run(a.value, opset, { concrete: false, report: mode.concrete ? [] : mode.report, write: mode.write }, lookup);
    return a.value.outputs.map((o) => sub.get(o.name) ?? lookup(o.name) ?? { dtype: o.foreign ? undefined : o.dtype, dims: o.dims });
  };
  const cond = ctx.value(0);
  const thenOuts = branch('then_branch'), elseOuts = branch('else_branch');
  if (cond && cond.length === 1 && isNum(cond[0])) return (cond[0] ? thenOuts : elseOuts) ?? [];
  return node.outputs.map((_, j) => mergeBranches(thenOuts?.[j], elseOuts?.[j]));
}

function writeValueInfo(graph: Graph, known: Map<string, Known>): void {
  const isInput = new Set(graph.inputs.map((i) => i.name));
  for (const node of graph.nodes) {
    for (const name of node.outputs) {
      const k = known.get(name);
      if (!name || !k || k.dtype === undefined) continue;
      const vi: ValueInfo = { name, dtype: k.dtype };
      if (k.dims) vi.dims = k.dims;
      graph.valueInfo.set(name, vi);
    }
  }
  for (const out of graph.outputs) {
    const k = known.get(out.name);
    if (out.foreign || !k?.dims || isInput.has(out.name)) continue;
    if (!out.dims) out.dims = [...k.dims];
    else if (out.dims.length === k.dims.length) out.dims = out.dims.map((d, i) => d ?? k.dims?.[i] ?? null);
  }
}

/**
 * Fills graph.valueInfo (and unknown dims of graph outputs) with inferred dtypes and dims.
 * Values the rules cannot determine are listed in the report rather than thrown.
 */
export function inferShapes(graph: Graph, opsets?: Opsets): ShapeReport {
  const mode: Mode = { concrete: false, report: [], write: true };
  run(graph, opsetOf(opsets), mode, () => undefined);
  return { unknown: mode.report };
}

/**
 * What inference knows of every value, including tracked contents of small integer tensors,
 * without touching the graph (constant folding reads it).
 */
export function inferValues(graph: Graph, opsets?: Opsets): Map<string, Known> {
  return run(graph, opsetOf(opsets), { concrete: false, report: [], write: false }, () => undefined);
}

export interface ConcreteValue {
  name: string;
  dtype: DataType;
  dims: number[];
  /**
   * Contents, when the value is a small tensor computable for these inputs: integers, or
   * float32/float64 numbers rounded as the kernels round them.
   */
  value?: number[];
}

/**
 * Resolves every value (inputs, initializers, node outputs) to concrete dims for the given
 * input dims, without touching the graph (the runtime plans memory with it). Throws naming
 * the node whose output cannot be resolved.
 */
export function inferShapesForInputs(graph: Graph, inputDims: { [name: string]: readonly number[] }, opsets?: Opsets, inputValues?: { [name: string]: Tensor }): Map<string, ConcreteValue> {
  for (const [name, dims] of Object.entries(inputDims)) {
    if (!graph.inputs.some((i) => i.name === name)) throw new Error(`inputDims: '${name}' is not a graph input (inputs: ${graph.inputs.map((i) => i.name).join(', ')})`);
    checkedElementCount(dims, `inputDims['${name}']`);
  }
  const known = run(graph, opsetOf(opsets), { concrete: true, report: [], write: false }, () => undefined, inputDims, inputValues);
  const out = new Map<string, ConcreteValue>();
  for (const [name, k] of known) {
    if (name && k.dtype && k.dims && k.dims.every(isNum)) {
      const value = k.value && k.value.every(isNum) ? (k.value as number[]) : undefined;
      out.set(name, { name, dtype: k.dtype, dims: k.dims as number[], value });
    }
  }
  return out;
}

/** Dims as text for messages and reports: [batch, 3, ?]. */
export function formatDims(dims: readonly Dim[] | undefined): string {
  return dims ? `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '(rank unknown)';
}
