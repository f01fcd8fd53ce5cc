// Turns a graph with fully resolved shapes into the native PlanSpec: every value gets a home
// (a caller's input or output array, a constant, or arena bytes shared by lifetime), every
// node becomes a step the native op registry creates a kernel for.
import type { Binding } from '../../binding';
import { Attribute, Graph, Node, nodeName } from '../graph/ir';
import { dtypeToOnnx } from '../onnx/tensor-proto';
import { checkedByteSize, resolveLimit } from '../limits';
import { ARRAY_TYPES, DataType, Tensor } from '../tensor';
import { planMemory, Lifetime } from './memory-plan';

export interface ResolvedValue {
  dtype: DataType;
  dims: number[];
}

export interface BuiltPlan {
  spec: Binding.PlanSpec;
  /** Feed names in the order runPlan takes their arrays. */
  inputNames: string[];
  /** Output names (graph outputs, then captured intermediates) in runPlan's order. */
  outputNames: string[];
  outputValues: ResolvedValue[];
}

export interface PlanOptions {
  /** Intermediate values to hand back as extra outputs (calibration observers). */
  capture?: string[];
  /** Opset of the default domain: passed to every step as the "__opset" attribute. */
  opset: number;
  /**
   * Initializers bound as state (training): runPlan's state arrays in this order, which
   * steps read and write in place instead of constants packed at creation.
   */
  state?: string[];
  /** Node outputs that write into a state value in place: output name -> state name. */
  stateUpdates?: Map<string, string>;
  /** Largest input, output or intermediate value, in bytes. Default getLimits().maxTensorBytes. */
  maxTensorBytes?: number;
}

function planAttribute(node: Node, name: string, a: Attribute): Binding.PlanAttribute | undefined {
  switch (a.type) {
    case 'int': return { kind: 'int', value: a.value };
    case 'float': return { kind: 'float', value: a.value };
    case 'string': return { kind: 'string', value: a.value };
    case 'ints': return { kind: 'ints', value: a.value };
    case 'floats': return { kind: 'floats', value: a.value };
    case 'strings': return { kind: 'strings', value: a.value };
    case 'tensor': return undefined;  // passed as an extra constant input instead
    default:  // graphs, tensor lists, foreign (opaque) attributes
      throw new TypeError(`${node.opType} node '${nodeName(node)}': attribute '${name}' of type ${a.type} is not supported by the runtime`);
  }
}

function isChannelsLastConv(node: Node): boolean {
  const layout = node.attributes.get('channels_last');
  return (node.opType === 'Conv' || node.opType === 'FusedConv') && layout?.type === 'int' && layout.value === 1;
}

/** A conv the native runtime runs into an NHWC output: channels_last 1 (NHWC X) or 2 (NCHW X). */
function isNhwcOutputConv(node: Node): boolean {
  const layout = node.attributes.get('channels_last');
  return (node.opType === 'Conv' || node.opType === 'FusedConv') && layout?.type === 'int' && (layout.value === 1 || layout.value === 2);
}

function groupOf(node: Node): number {
  const g = node.attributes.get('group');
  return g?.type === 'int' ? g.value : 1;
}

export function buildPlan(graph: Graph, resolvedShapes: Map<string, ResolvedValue>, opts: PlanOptions): BuiltPlan {
  const shapes = new Map(resolvedShapes);  // output copies add entries; the caller's map stays as it was
  const maxBytes = resolveLimit('maxTensorBytes', opts.maxTensorBytes);
  // Every value the run allocates (arena bytes, output arrays) or reads (inputs) is sized
  // here, before native code or run() allocates anything: shapes computed from data (a
  // Reshape target, a Range length, a ConstantOfShape) are refused naming the value.
  const byteSize = (name: string, v: ResolvedValue, what: string): number =>
    checkedByteSize(v.dims, ARRAY_TYPES[v.dtype].BYTES_PER_ELEMENT, `${what}: value '${name}'`, maxBytes);
  const values: Binding.PlanValue[] = [];
  const constants: Binding.PlanSpec['constants'] = [];
  const ids = new Map<string, number>();
  const resolved = (name: string, what: string): ResolvedValue => {
    const s = shapes.get(name) ?? (graph.initializers.has(name) ? { dtype: graph.initializers.get(name)!.dtype, dims: [...graph.initializers.get(name)!.dims] } : undefined);
    if (!s) throw new RangeError(`${what}: the shape of value '${name}' could not be resolved`);
    return s;
  };
  const addValue = (name: string | null, v: Binding.PlanValue): number => {
    values.push(v);
    if (name !== null) ids.set(name, values.length - 1);
    return values.length - 1;
  };
  const addConstant = (name: string | null, t: Tensor): number => {
    constants.push(t.data as Binding.PlanSpec['constants'][number]);
    return addValue(name, { dtype: dtypeToOnnx(t.dtype), dims: [...t.dims], kind: 'const', index: constants.length - 1 });
  };

  const inputNames = graph.feedInputs.map((i) => i.name);
  inputNames.forEach((name, index) => {
    const s = resolved(name, 'graph input');
    byteSize(name, s, 'graph input');
    addValue(name, { dtype: dtypeToOnnx(s.dtype), dims: s.dims, kind: 'input', index });
  });
  (opts.state ?? []).forEach((name, index) => {
    const t = graph.initializers.get(name);
    if (!t) throw new RangeError(`state value '${name}' is not an initializer of the graph`);
    addValue(name, { dtype: dtypeToOnnx(t.dtype), dims: [...t.dims], kind: 'state', index });
  });
  for (const [name, t] of graph.initializers) if (!ids.has(name)) addConstant(name, t);

  const outputNames = [...graph.outputs.map((o) => o.name)];
  for (const c of opts.capture ?? []) if (!outputNames.includes(c)) outputNames.push(c);
  const outputIndex = new Map(outputNames.map((n, i) => [n, i]));

  // Graph outputs that are inputs or constants themselves need a step to land in the
  // caller's output array; Identity does it.
  const steps: Binding.PlanStep[] = [];
  const lifetimes = new Map<number, Lifetime>();
  const stepNodes: Node[] = [...graph.nodes];
  for (const name of outputNames) {
    if (ids.has(name)) {
      const copyName = `${name}__nquant_out`;
      stepNodes.push({ name: `output_copy_${name}`, opType: 'Identity', domain: '', inputs: [name], outputs: [copyName], attributes: new Map() });
      outputIndex.set(copyName, outputIndex.get(name)!);
      outputIndex.delete(name);
      shapes.set(copyName, resolved(name, 'graph output'));
    }
  }

  stepNodes.forEach((node, stepIndex) => {
    const where = `${node.opType} node '${nodeName(node)}'`;
    const inputs = node.inputs.map((name) => {
      if (!name) return -1;
      const id = ids.get(name);
      if (id === undefined) throw new RangeError(`${where}: input '${name}' is not produced before this node`);
      const life = lifetimes.get(id);
      if (life) life.lastStep = stepIndex;
      return id;
    });
    const previous = stepIndex > 0 ? stepNodes[stepIndex - 1] : undefined;
    if (previous && isChannelsLastConv(node) && isChannelsLastConv(previous) && groupOf(previous) > 1 && node.inputs[0] === previous.outputs[0]) {
      // The native plan may run a depthwise conv and the conv reading its output as one step
      // (band by band, fuse_depthwise_pointwise), reading the depthwise input while writing
      // this output: the depthwise input lives until this step, so they never share memory.
      // The same holds for the input of a group-1 conv producing the depthwise input (a 1x1
      // expansion, or the stem), which the step may take in too (fuse_expand_depthwise_pointwise).
      const chain = [previous];
      const first = stepIndex > 1 ? stepNodes[stepIndex - 2] : undefined;
      if (first && isNhwcOutputConv(first) && groupOf(first) === 1 && previous.inputs[0] === first.outputs[0]) chain.push(first);
      for (const name of chain.flatMap((n) => n.inputs)) {
        const life = name ? lifetimes.get(ids.get(name) ?? -1) : undefined;
        if (life) life.lastStep = stepIndex;
      }
    }
    const attributes: Binding.PlanStep['attributes'] = { __opset: { kind: 'int', value: opts.opset } };
    for (const [name, a] of node.attributes) {
      const pa = planAttribute(node, name, a);
      if (pa) attributes[name] = pa;
      else if (a.type === 'tensor') inputs.push(addConstant(null, a.value));
    }
    const outputs = node.outputs.map((name) => {
      if (!name) return -1;
      const stateName = opts.stateUpdates?.get(name);
      if (stateName !== undefined) {
        const id = ids.get(stateName);
        if (id === undefined || values[id].kind !== 'state') throw new RangeError(`${where}: output '${name}' updates '${stateName}', which is not a state value`);
        ids.set(name, id);
        return id;
      }
      const s = resolved(name, where);
      const bytes = byteSize(name, s, where);
      const dtype = dtypeToOnnx(s.dtype);
      const out = outputIndex.get(name);
      if (out !== undefined) return addValue(name, { dtype, dims: s.dims, kind: 'output', index: out });
      const id = addValue(name, { dtype, dims: s.dims, kind: 'arena' });
      lifetimes.set(id, { id, bytes, firstStep: stepIndex, lastStep: stepIndex });
      return id;
    });
    // The name is what native errors quote: unnamed nodes get the label TS errors use.
    steps.push({ opType: node.opType, domain: node.domain === 'ai.onnx' ? '' : node.domain, name: nodeName(node), inputs, outputs, attributes });
  });

  for (const name of outputIndex.keys()) {
    if (!ids.has(name)) throw new RangeError(`graph output '${name}' is not produced by any node`);
  }
  const memory = planMemory([...lifetimes.values()]);
  for (const [id, offset] of memory.offsets) values[id].offset = offset;

  const finalOutputs = [...outputIndex.entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n);
  return {
    spec: { values, constants, arenaBytes: memory.arenaBytes, steps },
    inputNames,
    outputNames,
    outputValues: finalOutputs.map((n) => resolved(n, 'output')),
  };
}
