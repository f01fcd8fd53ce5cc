// Which nodes of a float graph static quantization puts in INT8, which tensors it must
// observe during calibration, and why each node that stays in float does.
import { Graph, Node, attrInt, attrFloat } from '../graph/ir';
import { FUSED_BASE, fusedActivation, isFused } from '../graph/passes/fused';
import { constant } from '../graph/passes/util';
import { isExcluded, ResolvedStaticOptions } from './options';

export type NodeKind = 'compute' | 'binary' | 'concat' | 'pool' | 'passThrough' | 'activation' | 'ownRange';

export interface NodePlan {
  node: Node;
  /** The op as the user knows it (Conv for nquant FusedConv). */
  opType: string;
  kind?: NodeKind;
  quantized: boolean;
  /** Why the node stays in float (when quantized is false). */
  reason?: string;
  /** Float activation inputs that get Q/DQ. */
  activations: string[];
  /** Constant weight input index and its per-channel axis (compute nodes). */
  weight?: { input: number; axis: number };
  /** Bias input index (compute nodes). */
  bias?: number;
  /** Constant float inputs quantized like activations (an Add/Mul by a constant). */
  constants?: string[];
}

export interface QuantPlan {
  nodes: NodePlan[];
  /** Tensors whose range calibration measures. */
  observed: Set<string>;
  /** Output tensor -> input tensor whose parameters it shares (data movement ops). */
  inherits: Map<string, string>;
}

const KIND: { [op: string]: NodeKind } = {
  Conv: 'compute', Gemm: 'compute', MatMul: 'compute',
  Add: 'binary', Mul: 'binary',
  Concat: 'concat',
  AveragePool: 'pool', GlobalAveragePool: 'pool',
  MaxPool: 'passThrough', Reshape: 'passThrough', Flatten: 'passThrough', Transpose: 'passThrough', Squeeze: 'passThrough', Unsqueeze: 'passThrough',
  Relu: 'activation', Clip: 'activation',
  Sigmoid: 'ownRange', Softmax: 'ownRange',
};

export const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);

function baseOp(node: Node): string | undefined {
  if (isFused(node)) return FUSED_BASE[node.opType];
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : undefined;
}

export function planQuantization(graph: Graph, opts: ResolvedStaticOptions): QuantPlan {
  const nodes: NodePlan[] = [];
  const observed = new Set<string>();
  const inherits = new Map<string, string>();
  const dtypeOf = (name: string) => graph.valueInfo.get(name)?.dtype ?? graph.inputs.find((i) => i.name === name)?.dtype ?? constant(graph, name)?.dtype;
  const isFloat = (name: string) => dtypeOf(name) === 'float32';
  const quantizedTensors = new Set<string>();  // outputs of quantized nodes
  const readCount = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) readCount.set(i, (readCount.get(i) ?? 0) + 1);
  // A model output nothing else reads: quantizing it would only add error.
  const finalOutput = (name: string) => graph.outputs.some((o) => o.name === name) && !readCount.has(name);

  for (const node of graph.nodes) {
    const op = baseOp(node);
    const plan: NodePlan = { node, opType: op ?? `${node.domain}:${node.opType}`, quantized: false, activations: [] };
    nodes.push(plan);
    const kind = op ? KIND[op] : undefined;
    const stay = (reason: string) => { plan.reason = reason; };
    if (CONTROL_FLOW.has(node.opType)) { stay('control flow: nodes inside its subgraphs are not quantized (not supported yet)'); continue; }
    if (!op || !kind) { stay('no INT8 implementation of this op'); continue; }
    plan.kind = kind;
    if (!opts.opTypes.has(op)) { stay(`op type ${op} not in opts.opTypes`); continue; }
    if (isExcluded(node.name, opts.nodesToExclude)) { stay('excluded by opts.nodesToExclude'); continue; }
    const out = node.outputs[0];
    if (!out || !isFloat(out)) { stay('output is not float32'); continue; }
    switch (kind) {
      case 'compute': {
        if (isFused(node) && fusedActivation(node).kind === 'LeakyRelu') { stay('fused LeakyRelu has no integer form'); continue; }
        const w = constant(graph, node.inputs[1]);
        if (op === 'Gemm') {
          const alpha = node.attributes.has(isFused(node) ? 'gemm_alpha' : 'alpha') ? attrFloat(node, isFused(node) ? 'gemm_alpha' : 'alpha') : 1;
          const beta = attrFloat(node, 'beta', 1);
          if (attrInt(node, 'transA', 0) !== 0 || alpha !== 1 || (node.inputs[2] && beta !== 1)) { stay('Gemm with transA or alpha/beta other than 1'); continue; }
          if (!w || w.dims.length !== 2) { stay('Gemm weight B is not a constant matrix'); continue; }
          const c = node.inputs[2] ? constant(graph, node.inputs[2]) : undefined;
          const n = attrInt(node, 'transB', 0) ? w.dims[0] : w.dims[1];
          if (node.inputs[2] && (!c || c.size !== n || c.dtype !== 'float32')) { stay('Gemm bias C is not a constant vector of N values'); continue; }
          plan.weight = { input: 1, axis: attrInt(node, 'transB', 0) ? 0 : 1 };
          if (node.inputs[2]) plan.bias = 2;
        } else if (op === 'MatMul') {
          if (w) {
            if (w.dims.length !== 2) { stay('MatMul weight is not a matrix'); continue; }
            plan.weight = { input: 1, axis: 1 };
            if (isFused(node) && node.inputs[2]) plan.bias = 2;
          } else {
            if (!isFloat(node.inputs[1])) { stay('MatMul B is not float32'); continue; }
            if (isFused(node) && node.inputs[2]) { stay('MatMul of two activations with a bias'); continue; }
            plan.activations.push(node.inputs[1]);
          }
        } else {
          if (!w) { stay('Conv weight is not a constant'); continue; }
          plan.weight = { input: 1, axis: 0 };
          if (node.inputs[2]) {
            if (!constant(graph, node.inputs[2])) { stay('Conv bias is not a constant'); continue; }
            plan.bias = 2;
          }
        }
        if (!w || w.dtype !== 'float32') if (plan.weight) { stay('weight is not float32'); continue; }
        if (!isFloat(node.inputs[0])) { stay('input is not float32'); continue; }
        plan.activations.unshift(node.inputs[0]);
        break;
      }
      case 'binary': {
        if (node.inputs.some((i) => !i || !isFloat(i))) { stay('an input is not float32'); continue; }
        const consts = node.inputs.filter((i) => constant(graph, i));
        if (consts.length === node.inputs.length) { stay('every input is a constant'); continue; }
        plan.constants = consts;
        plan.activations.push(...node.inputs.filter((i) => !consts.includes(i)));
        break;
      }
      case 'concat':
        if (node.inputs.some((i) => !i || constant(graph, i) || !isFloat(i))) { stay('an input is a constant or not float32'); continue; }
        plan.activations.push(...node.inputs);
        break;
      case 'pool':
        if (node.outputs.length > 1 && node.outputs[1]) { stay('second output'); continue; }
        plan.activations.push(node.inputs[0]);
        break;
      case 'passThrough':
      case 'activation':
      case 'ownRange':
        // Quantized only between quantized neighbours: on their own they would add a Q/DQ pair
        // and gain nothing.
        if (!quantizedTensors.has(node.inputs[0])) { stay('input is not quantized'); continue; }
        if (node.outputs.filter(Boolean).length > 1) { stay('second output'); continue; }
        plan.activations.push(node.inputs[0]);
        break;
    }
    plan.quantized = true;
    for (const a of plan.activations) observed.add(a);
    if (kind === 'passThrough') inherits.set(out, node.inputs[0]);
    else if (kind === 'compute' && finalOutput(out)) continue;  // written in float straight from the accumulators
    else observed.add(out);
    quantizedTensors.add(out);
  }
  return { nodes, observed, inherits };
}
