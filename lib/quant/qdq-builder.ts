// Rewrites a float graph into QDQ form from a plan and per-tensor parameters: every planned
// activation gets one QuantizeLinear -> DequantizeLinear pair (the dequantized value keeps the
// tensor's name, so reports and captures line up with the float model), weights become integer
// initializers behind DequantizeLinear, biases int32. The runtime lowers the islands to INT8
// ops (runtime/qdq-lowering.ts); onnxruntime reads the same file as its own QDQ format.
import { Graph, Node } from '../graph/ir';
import { constant, freshName, isGraphOutput, readers, renameReads } from '../graph/passes/util';
import { eliminateDeadNodes, sortGraph } from '../graph/topo';
import { Tensor } from '../tensor';
import { NodePlan, QuantPlan } from './plan';
import { QParams, QuantType, qparamsFromRange, quantizeValue } from './qparams';
import { quantizeBias, quantizeWeight, WeightQuantizer } from './weights';

export interface WeightReport {
  dtype: QuantType;
  perChannel: boolean;
  /** Smallest and largest scale over channels. */
  scaleRange: [number, number];
}

export interface BuildOptions {
  /** Type and symmetry of activations (constant operands of Add/Mul follow them). */
  activationType: QuantType;
  symmetricActivations: boolean;
  weightType: QuantType;
  perChannel: boolean;
  reduceRange: boolean;
  /** Bits of the symmetric int8 weight grid (8: the whole type). */
  weightBits: number;
  /** Default-domain opset (per-channel DequantizeLinear needs 13). */
  opset: number;
  /** Per-node weight quantization by node name, in place of the fields above. */
  weightQuantizers?: ReadonlyMap<string, WeightQuantizer>;
}

export interface BuildResult {
  /** Nodes whose activation was absorbed into the producer's output range. */
  fusedActivations: Map<Node, Node>;
  weights: Map<Node, WeightReport>;
  /** The float weights as the quantized model sees them (for bias correction and reports). */
  dequantizedWeights: Map<Node, Float32Array>;
  /** The parameters finally used, per tensor. */
  params: Map<string, QParams>;
  /** Tensor -> name of its integer value (QuantizeLinear's output). */
  quantizedNames: Map<string, string>;
}

function qmin(dtype: QuantType): number {
  return dtype === 'uint8' ? 0 : -128;
}

function scalarTensor(dtype: QuantType, v: number): Tensor {
  return dtype === 'uint8' ? new Tensor('uint8', new Uint8Array([v]), []) : new Tensor('int8', new Int8Array([v]), []);
}

/** Clip's bounds (attributes before opset 11, constant inputs after); undefined when dynamic. */
function clipBounds(graph: Graph, node: Node): [number, number] | undefined {
  if (node.opType === 'Relu') return [0, Infinity];
  if (node.attributes.has('min') || node.attributes.has('max')) {
    const a = node.attributes.get('min'), b = node.attributes.get('max');
    return [a && a.type === 'float' ? a.value : -Infinity, b && b.type === 'float' ? b.value : Infinity];
  }
  const bound = (i: number, d: number): number | undefined => {
    if (!node.inputs[i]) return d;
    const t = constant(graph, node.inputs[i]);
    return t && t.size === 1 ? Number(t.data[0]) : undefined;
  };
  const lo = bound(1, -Infinity), hi = bound(2, Infinity);
  return lo === undefined || hi === undefined ? undefined : [lo, hi];
}

/** The activation is implied by quantizing to `q`: every representable value lies inside its bounds. */
function impliedBy(q: QParams, bounds: [number, number]): boolean {
  const lo = (qmin(q.dtype) - q.zeroPoint) * q.scale;
  const hi = (qmin(q.dtype) + 255 - q.zeroPoint) * q.scale;
  return lo >= bounds[0] && hi <= bounds[1];
}

export function buildQdq(graph: Graph, plan: QuantPlan, params: Map<string, QParams>, opts: BuildOptions): BuildResult {
  if (opts.opset < 10) throw new RangeError(`model opset: expected 10 or later for QuantizeLinear, received ${opts.opset}`);
  const result: BuildResult = { fusedActivations: new Map(), weights: new Map(), dequantizedWeights: new Map(), params: new Map(params), quantizedNames: new Map() };
  const p = result.params;
  absorbActivations(graph, plan, p, result);

  const users = readers(graph);
  const producers = graph.producers();
  const feedNames = new Set(graph.feedInputs.map((i) => i.name));
  // Pushed as they are made, so freshName sees their outputs.
  const added = graph.nodes;
  const paramInputs = (base: string, q: QParams): [string, string] => {
    const s = freshName(graph, `${base}_scale`);
    graph.initializers.set(s, new Tensor('float32', new Float32Array([q.scale]), []));
    const z = freshName(graph, `${base}_zero_point`);
    graph.initializers.set(z, scalarTensor(q.dtype, q.zeroPoint));
    return [s, z];
  };

  for (const [tensor, q] of p) {
    if (!users.has(tensor) && !isGraphOutput(graph, tensor)) continue;
    const [s, z] = paramInputs(tensor, q);
    const quantized = freshName(graph, `${tensor}_quantized`);
    result.quantizedNames.set(tensor, quantized);
    if (feedNames.has(tensor)) {
      const deq = freshName(graph, `${tensor}_dequantized`);
      renameReads(graph, tensor, deq);
      added.push({ name: `${tensor}_QuantizeLinear`, opType: 'QuantizeLinear', domain: '', inputs: [tensor, s, z], outputs: [quantized], attributes: new Map() });
      added.push({ name: `${tensor}_DequantizeLinear`, opType: 'DequantizeLinear', domain: '', inputs: [quantized, s, z], outputs: [deq], attributes: new Map() });
    } else {
      const producer = producers.get(tensor);
      if (!producer) continue;
      const fp = freshName(graph, `${tensor}_float`);
      producer.outputs = producer.outputs.map((o) => (o === tensor ? fp : o));
      const vi = graph.valueInfo.get(tensor);
      if (vi) graph.valueInfo.set(fp, { ...vi, name: fp });
      added.push({ name: `${tensor}_QuantizeLinear`, opType: 'QuantizeLinear', domain: '', inputs: [fp, s, z], outputs: [quantized], attributes: new Map() });
      added.push({ name: `${tensor}_DequantizeLinear`, opType: 'DequantizeLinear', domain: '', inputs: [quantized, s, z], outputs: [tensor], attributes: new Map() });
    }
    graph.valueInfo.set(quantized, { name: quantized, dtype: q.dtype, dims: graph.valueInfo.get(tensor)?.dims ?? graph.inputs.find((i) => i.name === tensor)?.dims });
  }

  for (const np of plan.nodes) if (np.quantized && np.weight) quantizeNodeWeights(graph, np, p, opts, added, result);
  for (const np of plan.nodes) if (np.quantized && np.constants) quantizeConstantOperands(graph, np, opts, added);
  eliminateDeadNodes(graph);
  sortGraph(graph);
  return result;
}

/**
 * Relu/Clip after a quantized producer: when the output's parameters alone reproduce the
 * activation (e.g. zero point at the bottom of the range for Relu), the node is dropped and
 * the producer writes the activation's output with its parameters, as onnxruntime does.
 */
function absorbActivations(graph: Graph, plan: QuantPlan, p: Map<string, QParams>, result: BuildResult): void {
  const users = readers(graph);
  const producers = graph.producers();
  for (const np of plan.nodes) {
    if (!np.quantized || np.kind !== 'activation') continue;
    const node = np.node;
    const x = node.inputs[0], y = node.outputs[0];
    const producer = producers.get(x);
    const qy = p.get(y);
    const bounds = clipBounds(graph, node);
    if (!producer || !qy || !bounds || isGraphOutput(graph, x) || (users.get(x) ?? []).length !== 1 || !impliedBy(qy, bounds)) continue;
    producer.outputs = producer.outputs.map((o) => (o === x ? y : o));
    graph.nodes = graph.nodes.filter((n) => n !== node);
    graph.valueInfo.delete(x);
    p.delete(x);
    result.fusedActivations.set(node, producer);
  }
}

/** A constant operand of Add/Mul: per tensor, in the activations' type, behind a DequantizeLinear. */
function quantizeConstantOperands(graph: Graph, np: NodePlan, opts: BuildOptions, added: Node[]): void {
  for (const name of np.constants ?? []) {
    const t = constant(graph, name);
    if (!t || t.dtype !== 'float32') continue;
    const values = t.data as Float32Array;
    let min = 0, max = 0;
    for (const v of values) { if (v < min) min = v; if (v > max) max = v; }
    const q = qparamsFromRange({ min, max }, { dtype: opts.activationType, symmetric: opts.symmetricActivations });
    const ints = Array.from(values, (v) => quantizeValue(v, q));
    const data = q.dtype === 'uint8' ? new Tensor('uint8', Uint8Array.from(ints), [...t.dims]) : new Tensor('int8', Int8Array.from(ints), [...t.dims]);
    const base = `${name}_${np.node.name}`;
    const dataName = freshName(graph, `${base}_quantized`);
    graph.initializers.set(dataName, data);
    const scaleName = freshName(graph, `${base}_scale`);
    graph.initializers.set(scaleName, new Tensor('float32', new Float32Array([q.scale]), []));
    const zpName = freshName(graph, `${base}_zero_point`);
    graph.initializers.set(zpName, scalarTensor(q.dtype, q.zeroPoint));
    const deq = freshName(graph, `${base}_dequantized`);
    added.push({ name: `${base}_DequantizeLinear`, opType: 'DequantizeLinear', domain: '', inputs: [dataName, scaleName, zpName], outputs: [deq], attributes: new Map() });
    np.node.inputs = np.node.inputs.map((i) => (i === name ? deq : i));
  }
}

function quantizeNodeWeights(graph: Graph, np: NodePlan, p: Map<string, QParams>, opts: BuildOptions, added: Node[], result: BuildResult): void {
  const node = np.node;
  const wName = node.inputs[np.weight!.input];
  const w = constant(graph, wName) as Tensor<'float32'>;
  const perChannel = opts.perChannel && opts.opset >= 13;
  const custom = opts.weightQuantizers?.get(node.name);
  const qw = custom ? custom.quantizeWeight(w, np.weight!.axis) : quantizeWeight(w, { dtype: opts.weightType, perChannel, axis: np.weight!.axis, reduceRange: opts.reduceRange, bits: opts.weightBits });
  const base = `${wName}`;
  const dataName = freshName(graph, `${base}_quantized`);
  graph.initializers.set(dataName, qw.data);
  const scaleName = freshName(graph, `${base}_scale`);
  graph.initializers.set(scaleName, qw.scale);
  const zpName = freshName(graph, `${base}_zero_point`);
  graph.initializers.set(zpName, qw.zeroPoint);
  const deq = freshName(graph, `${base}_dequantized`);
  const attrs = new Map();
  if (qw.scale.size > 1) attrs.set('axis', { type: 'int', value: qw.axis });
  added.push({ name: `${wName}_DequantizeLinear_${node.name}`, opType: 'DequantizeLinear', domain: '', inputs: [dataName, scaleName, zpName], outputs: [deq], attributes: attrs });
  node.inputs[np.weight!.input] = deq;
  const scales = qw.scale.data as Float32Array;
  let lo = Infinity, hi = -Infinity;
  for (const s of scales) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
  result.weights.set(node, { dtype: qw.data.dtype, perChannel: qw.scale.size > 1, scaleRange: [lo, hi] });
  result.dequantizedWeights.set(node, qw.dequantized);

  if (np.bias === undefined || !node.inputs[np.bias]) return;
  const bName = node.inputs[np.bias];
  const b = constant(graph, bName);
  const qx = p.get(np.activations[0]);
  if (!b || b.dtype !== 'float32' || !qx) return;
  const channels = b.size;
  const weightScales = scales;
  if (weightScales.length !== 1 && weightScales.length !== channels) return;
  const qb = quantizeBias(b.data as Float32Array, qx.scale, weightScales);
  // Per-tensor weights: one bias scale, so no per-axis DequantizeLinear (opset 13) is needed.
  const biasScale = weightScales.length === 1 ? new Tensor('float32', qb.scale.data.slice(0, 1), []) : qb.scale;
  const bData = freshName(graph, `${bName}_quantized`);
  graph.initializers.set(bData, qb.data);
  const bScale = freshName(graph, `${bName}_scale`);
  graph.initializers.set(bScale, biasScale);
  const bDeq = freshName(graph, `${bName}_dequantized`);
  const battrs = new Map();
  if (biasScale.size > 1) battrs.set('axis', { type: 'int', value: 0 });
  added.push({ name: `${bName}_DequantizeLinear_${node.name}`, opType: 'DequantizeLinear', domain: '', inputs: [bData, bScale], outputs: [bDeq], attributes: battrs });
  node.inputs[np.bias] = bDeq;
}

