// A loaded model: its graph, and native plans compiled per input-shape signature.
// run() executes a whole plan in one native call on a worker thread, so the event loop
// stays free while the model runs.
import { promises as fs } from 'fs';
import type { Binding } from '../../binding';
import { invalidRange, invalidType } from '../errors';
import { cloneGraph } from '../graph/clone';
import { Dim, Graph, ModelIR } from '../graph/ir';
import { isFused, unfuseNode } from '../graph/passes/fused';
import { optimize, OptimizationLevel } from '../graph/passes/index';
import { inferShapes, inferShapesForInputs } from '../graph/shape-inference';
import { exportModel } from '../onnx/export';
import { getThreads } from '../cpu';
import { native } from '../native';
import { checkedElementCount } from '../limits';
import { ARRAY_TYPES, DataType, Tensor, TypedArray, sizeOf } from '../tensor';
import { buildPlan, BuiltPlan, ResolvedValue } from './plan-builder';
import { hasQdq, lowerQdq } from './qdq-lowering';
import { TO_NCHW_PERM, toNhwcLayout } from './nhwc-layout';
import { hasSubgraphs } from '../graph/passes/util';
import { inlinedPrefix, inlineKnownIfs } from './specialize-if';

export interface ValueSpec {
  name: string;
  dtype: DataType;
  /** number: fixed; string: symbolic (e.g. 'batch'); null: unknown. */
  dims: Dim[];
}

export type Feeds = { [name: string]: Tensor };
export type Outputs = { [name: string]: Tensor };

export interface RunOptions {
  /** Also return these intermediate values (by name), e.g. for calibration. */
  capture?: string[];
}

interface CompiledPlan {
  built: BuiltPlan;
  plan: Binding.Plan;
}

const MAX_CACHED_PLANS = 8;
// Integer feeds up to this size may decide output shapes (a Reshape target, a Range
// length): plans are specialized on their values.
const MAX_SHAPE_VALUE_ELEMENTS = 64;

// Float feeds read as sizes by these ops (Resize scales, Range bounds) decide shapes too.
const FLOAT_SHAPE_CONSUMERS = new Set(['Resize', 'Upsample', 'Range']);

// Per executed graph: scanning every node on each run() cost ~0.5 ms on a 300-node model.
const floatShapeInputsOf = new WeakMap<Graph, Set<string>>();

function shapeValues(graph: Graph, feeds: Feeds): { [name: string]: Tensor } {
  let floatShapeInputs = floatShapeInputsOf.get(graph);
  if (!floatShapeInputs) {
    floatShapeInputs = new Set(graph.nodes.filter((n) => FLOAT_SHAPE_CONSUMERS.has(n.opType)).flatMap((n) => n.inputs));
    floatShapeInputsOf.set(graph, floatShapeInputs);
  }
  const out: { [name: string]: Tensor } = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (t.size > MAX_SHAPE_VALUE_ELEMENTS) continue;
    if (t.dtype === 'int64' || t.dtype === 'int32' || (floatShapeInputs.has(name) && (t.dtype === 'float32' || t.dtype === 'float64'))) out[name] = t;
  }
  return out;
}

/** 'domain:OpType' of every op the native runtime implements ('' domain for ONNX). */
export function nativeOps(): Set<string> {
  return new Set(native.listOps().map((o) => `${o.domain}:${o.opType}`));
}

export interface ModelOptions {
  /** Graph optimizations applied to the executed copy of the graph (default 'all'). */
  optimize?: OptimizationLevel;
  /**
   * Run QDQ islands (DequantizeLinear -> op -> QuantizeLinear) as integer ops on the INT8
   * kernels (default true). false runs them as written, in float: quantization simulated.
   */
  integerExecution?: boolean;
  /**
   * Largest tensor in bytes: initializers when loading, and every input, intermediate and
   * output of a run (refused with a RangeError naming the value before anything is
   * allocated). Default getLimits().maxTensorBytes (4 GiB), read when the plan is built.
   */
  maxTensorBytes?: number;
}

function hasConv(g: Graph): boolean {
  return g.nodes.some((n) => n.opType === 'Conv' || n.opType === 'FusedConv');
}

function subgraphsOf(g: Graph): Graph[] {
  return g.nodes.flatMap((n) => [...n.attributes.values()].flatMap((a) => (a.type === 'graph' ? [a.value] : a.type === 'graphs' ? a.value : [])));
}

export class Model {
  private readonly plans = new Map<string, CompiledPlan>();
  private disposed = false;
  private executable?: Graph;
  /** Values the layout pass left only in NHWC form, by name -> their NHWC name. */
  private channelsLast = new Map<string, string>();
  /**
   * The graph plans are built from: the execution graph with float convolution chains moved
   * channels-last too (and Conv+Add+Relu fused). Kept apart from executionGraph, which
   * quantization and reports read as the model's optimized float graph.
   */
  private planned?: { graph: Graph; channelsLast: Map<string, string> };
  /** Values the residual Conv+Add(+Relu) fusion removed from the planned graph. */
  private fusedAway = new Set<string>();
  /** The planned graph without that fusion: runs that capture a fused-away value use it. */
  private unfused?: { graph: Graph; channelsLast: Map<string, string> };

  /** `ir` is the model as loaded (what toOnnx writes); runs use an optimized copy. */
  constructor(readonly ir: ModelIR, private readonly options: ModelOptions = {}) {}

  /** The graph that actually runs: optimized, with fused ops the native side lacks undone. */
  get executionGraph(): Graph {
    if (!this.executable) {
      const g = cloneGraph(this.ir.graph);
      optimize(g, { level: this.options.optimize ?? 'all', opsets: this.ir.meta.opsets });
      if ((this.options.integerExecution ?? true) && hasQdq(g)) {
        lowerQdq(g, 'runtime');
        if (!hasSubgraphs(g)) {
          inferShapes(g, this.ir.meta.opsets);  // the layout pass reads ranks and dtypes
          this.channelsLast = toNhwcLayout(g);
        }
      }
      // Branches of If/Loop with QDQ islands (static quantization of the branch calibration
      // took) are lowered too; the runtime inlines a decided branch as it stands.
      for (const sub of (this.options.integerExecution ?? true) ? subgraphsOf(g) : []) if (hasQdq(sub)) lowerQdq(sub, 'runtime');
      const supported = nativeOps();
      let counter = 0;
      const ctx = {
        opset: this.opset,
        freshName: (base: string) => `${base}__nq${counter++}`,
        addInitializer: (name: string, t: Tensor) => void g.initializers.set(name, t),
      };
      g.nodes = g.nodes.flatMap((n) => (isFused(n) && !supported.has(`${n.domain}:${n.opType}`) ? unfuseNode(n, ctx) : [n]));
      this.executable = g;
    }
    return this.executable;
  }

  /**
   * The graph runs are planned from: executionGraph (as a subclass may define it) with float
   * convolution chains moved channels-last and Conv+Add(+Relu) fused. A run capturing a value
   * that fusion removed is planned from the graph without it.
   */
  get plannedGraph(): Graph {
    return this.planning.graph;
  }

  private get planning(): { graph: Graph; channelsLast: Map<string, string> } {
    if (!this.planned) {
      this.fusedAway = new Set();
      this.planned = this.floatLayout(this.fusedAway);
    }
    return this.planned;
  }

  /**
   * executionGraph with its float convolutions channels-last (fusedAway: residual adds may
   * fuse, recording the values that disappear). Graphs the integer layout pass already
   * rewrote keep that layout only.
   */
  private floatLayout(fusedAway?: Set<string>): { graph: Graph; channelsLast: Map<string, string> } {
    const base = this.executionGraph;
    const laidOut = this.channelsLast.size > 0 || base.nodes.some((n) => n.attributes.has('channels_last'));
    if (laidOut || !hasConv(base) || hasSubgraphs(base)) return { graph: base, channelsLast: this.channelsLast };
    const g = cloneGraph(base);
    inferShapes(g, this.ir.meta.opsets);  // the layout pass reads ranks and dtypes
    return { graph: g, channelsLast: toNhwcLayout(g, { floatConvs: true, fusedAway }) };
  }

  get inputs(): ValueSpec[] {
    return this.ir.graph.feedInputs.map((v) => ({ name: v.name, dtype: v.dtype, dims: [...(v.dims ?? [])] }));
  }

  get outputs(): ValueSpec[] {
    return this.ir.graph.outputs.map((v) => ({ name: v.name, dtype: v.dtype, dims: [...(v.dims ?? [])] }));
  }

  /** The default-domain opset the model declares. */
  get opset(): number {
    return this.ir.meta.opsets.get('') ?? this.ir.meta.opsets.get('ai.onnx') ?? 13;
  }

  async run(feeds: Feeds, opts: RunOptions = {}): Promise<Outputs> {
    if (this.disposed) throw new Error('model: already disposed');
    const inputDims = this.checkFeeds(feeds);
    const compiled = this.planFor(inputDims, shapeValues(this.executionGraph, feeds), opts.capture ?? []);
    const inputs = compiled.built.inputNames.map((n) => feeds[n].data as ArrayBufferView);
    // Sizes were checked against maxTensorBytes when the plan was built.
    const outputs = compiled.built.outputValues.map((v) => new ARRAY_TYPES[v.dtype](sizeOf(v.dims)) as TypedArray);
    await native.runPlan(compiled.plan, inputs, outputs, true);
    const result: Outputs = {};
    compiled.built.outputNames.forEach((name, i) => {
      const v = compiled.built.outputValues[i];
      result[name] = new Tensor(v.dtype, outputs[i] as never, v.dims);
    });
    return result;
  }

  /** Whether run(feeds, { capture: [name] }) can return this value of the executed graph. */
  canCapture(name: string): boolean {
    const g = this.executionGraph;
    const planned = this.planning;
    if (this.fusedAway.has(name) || planned.channelsLast.has(name) || this.channelsLast.has(name) || g.nodes.some((n) => n.outputs.includes(name)) || g.inputs.some((i) => i.name === name)) return true;
    // A value of an If branch, under the name inlining gives it ('<if>/then/<name>').
    return g.nodes.some((n) => n.opType === 'If' && (['then', 'else'] as const).some((side) => {
      const prefix = inlinedPrefix(n, side);
      const branch = n.attributes.get(`${side}_branch`);
      return name.startsWith(prefix) && branch?.type === 'graph' && branch.value.nodes.some((b) => b.outputs.includes(name.slice(prefix.length)));
    }));
  }

  /** ONNX bytes of the model as it is now (onnxruntime can load them). */
  toOnnx(): Uint8Array {
    return exportModel(this.ir);
  }

  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) throw invalidType('path', 'a file path', path);
    await fs.writeFile(path, this.toOnnx());
  }

  /** Size of the serialized model in bytes. */
  sizeBytes(): number {
    return this.toOnnx().byteLength;
  }

  /**
   * Call after changing initializer values in place (training does): compiled plans hold
   * packed copies of the weights, so they and the optimized graph are rebuilt on next run.
   */
  weightsChanged(): void {
    for (const p of this.plans.values()) p.plan.dispose();
    this.plans.clear();
    this.executable = undefined;
    this.channelsLast = new Map();
    this.planned = undefined;
    this.fusedAway = new Set();
    this.unfused = undefined;
  }

  /** Frees the native plans (packed weights); the model cannot run afterwards. */
  dispose(): void {
    for (const p of this.plans.values()) p.plan.dispose();
    this.plans.clear();
    this.disposed = true;
  }

  private checkFeeds(feeds: Feeds): { [name: string]: number[] } {
    if (typeof feeds !== 'object' || feeds === null) throw invalidType('feeds', 'an object of input name to Tensor', feeds);
    const dims: { [name: string]: number[] } = {};
    const expected = this.inputs;
    for (const input of this.ir.graph.feedInputs) {
      if (input.foreign) throw new TypeError(`input '${input.name}' has type ${input.foreign.description}, which nquant cannot run`);
    }
    for (const spec of expected) {
      const t = feeds[spec.name];
      if (t === undefined) throw invalidRange('feeds', `a tensor for input '${spec.name}' (inputs: ${expected.map((e) => e.name).join(', ')})`, Object.keys(feeds).join(', ') || 'no inputs');
      if (!(t instanceof Tensor)) throw invalidType(`feeds['${spec.name}']`, 'a Tensor', t);
      if (t.dtype !== spec.dtype) throw invalidType(`feeds['${spec.name}']`, `dtype ${spec.dtype}`, t.dtype);
      // A Tensor made without its constructor (Object.create, a deserialized object) may
      // carry dims that do not describe its data: native code would read past the array.
      const count = checkedElementCount(t.dims, `feeds['${spec.name}']`);
      if (!(t.data instanceof ARRAY_TYPES[t.dtype]) || t.data.length !== count) {
        throw invalidRange(`feeds['${spec.name}']`, `a ${ARRAY_TYPES[t.dtype].name} of ${count} elements for dims [${t.dims.join(', ')}]`, t.data);
      }
      if (spec.dims.length > 0 && t.dims.length !== spec.dims.length) {
        throw invalidRange(`feeds['${spec.name}']`, `rank ${spec.dims.length} (dims [${spec.dims.map((d) => d ?? '?').join(', ')}])`, `dims [${t.dims.join(', ')}]`);
      }
      spec.dims.forEach((d, i) => {
        if (typeof d === 'number' && t.dims[i] !== d) {
          throw invalidRange(`feeds['${spec.name}']`, `dim ${i} = ${d} (dims [${spec.dims.map((x) => x ?? '?').join(', ')}])`, `dims [${t.dims.join(', ')}]`);
        }
      });
      dims[spec.name] = [...t.dims];
    }
    for (const name of Object.keys(feeds)) {
      if (!expected.some((e) => e.name === name)) throw invalidRange('feeds', `only the model's inputs (${expected.map((e) => e.name).join(', ')})`, `unknown input '${name}'`);
    }
    return dims;
  }

  private planFor(inputDims: { [name: string]: number[] }, values: { [name: string]: Tensor }, capture: string[]): CompiledPlan {
    const valueKey = Object.entries(values).map(([n, t]) => [n, Array.from(t.data as ArrayLike<number | bigint>, String)]);
    // Kernels size their work split and scratch for the thread count they were created under,
    // so a plan is specific to it: after setThreads(), new plans are built.
    const key = JSON.stringify([inputDims, valueKey, capture, getThreads()]);
    const cached = this.plans.get(key);
    if (cached) {
      this.plans.delete(key);  // refresh its place in the LRU order
      this.plans.set(key, cached);
      return cached;
    }
    let { graph, channelsLast } = this.planning;
    if (capture.some((c) => this.fusedAway.has(c))) {
      // A capture of a value the residual fusion removed (calibration observes each Add's
      // inputs) runs the graph built without that fusion.
      this.unfused ??= this.floatLayout();
      ({ graph, channelsLast } = this.unfused);
    }
    const moved = capture.filter((c) => channelsLast.has(c));
    if (moved.length > 0) {
      // Captured values that now live channels-last are transposed back for the caller.
      graph = cloneGraph(graph);
      for (const c of moved) {
        graph.nodes.push({ name: `${c}_capture_nchw`, opType: 'Transpose', domain: '', inputs: [channelsLast.get(c)!], outputs: [c], attributes: new Map([['perm', { type: 'ints' as const, value: TO_NCHW_PERM }]]) });
      }
    }
    let concrete = inferShapesForInputs(graph, inputDims, this.ir.meta.opsets, values);
    const specialized = inlineKnownIfs(graph, concrete);
    if (specialized !== graph) {
      graph = specialized;
      concrete = inferShapesForInputs(graph, inputDims, this.ir.meta.opsets, values);
    }
    // A declared output type the graph does not compute would make run() contradict
    // model.outputs (and a server's metadata): refuse the model as onnxruntime does.
    for (const out of graph.outputs) {
      const v = concrete.get(out.name);
      if (out.foreign) throw new TypeError(`graph output '${out.name}': type ${out.foreign.description} is not one nquant can compute`);
      if (v && v.dtype !== out.dtype) throw new TypeError(`graph output '${out.name}': declared ${out.dtype}, but the graph computes ${v.dtype}`);
    }
    const shapes = new Map<string, ResolvedValue>();
    for (const [name, v] of concrete) shapes.set(name, { dtype: v.dtype, dims: v.dims });
    const built = buildPlan(graph, shapes, { capture, opset: this.opset, maxTensorBytes: this.options.maxTensorBytes });
    const compiled = { built, plan: native.createPlan(built.spec) };
    this.plans.set(key, compiled);
    if (this.plans.size > MAX_CACHED_PLANS) {
      const oldest = this.plans.keys().next().value as string;
      this.plans.get(oldest)?.plan.dispose();
      this.plans.delete(oldest);
    }
    return compiled;
  }
}
