// quantizeDynamic: weights become int8 ahead of time; activations are quantized at run time
// from their live range. Written with standard ONNX ops, in the pattern onnxruntime's own
// quantize_dynamic produces (DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast ->
// Mul by the scale product -> Add bias), so the file runs anywhere; nquant's runtime fuses the
// MatMul form into one DynamicQuantizeMatMul step.
import { cloneGraph } from '../graph/clone';
import { Graph, Node, attrFloat, attrInt } from '../graph/ir';
import { optimize } from '../graph/passes/index';
import { upgradeOpset } from '../graph/passes/upgrade-opset';
import { constant, freshName, transposeMatrix } from '../graph/passes/util';
import { eliminateDeadNodes, sortGraph } from '../graph/topo';
import { invalidType } from '../errors';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { isExcluded, QuantizeDynamicOptions, resolveDynamicOptions, ResolvedDynamicOptions } from './options';
import { QuantizedModel, withDefaultOpset } from './quantized-model';
import { NodeReport, QuantReport } from './report';
import { quantizeWeight } from './weights';

interface Ctx {
  graph: Graph;
  o: ResolvedDynamicOptions;
  /** One DynamicQuantizeLinear per activation, shared by its readers. */
  quantizedInputs: Map<string, [string, string, string]>;
  nodes: Node[];
  /** A constant by name, in this graph or (for a subgraph) an enclosing one. */
  constant(name: string): Tensor | undefined;
  /** Names made in a subgraph carry its scope, so sibling branches never define the same one. */
  scope: string;
}

function add(ctx: Ctx, opType: string, inputs: string[], outBase: string, attrs: [string, number][] = [], outputs?: string[]): string[] {
  const outs = outputs ?? [freshName(ctx.graph, `${outBase}${ctx.scope}`)];
  const node: Node = { name: freshName(ctx.graph, `${outBase}_${opType}${ctx.scope}`), opType, domain: '', inputs, outputs: outs, attributes: new Map(attrs.map(([k, v]) => [k, { type: 'int' as const, value: v }])) };
  ctx.graph.nodes.push(node);
  ctx.nodes.push(node);
  return outs;
}

function constantInput(ctx: Ctx, base: string, t: Tensor): string {
  const name = freshName(ctx.graph, `${base}${ctx.scope}`);
  ctx.graph.initializers.set(name, t);
  return name;
}

function quantizedActivation(ctx: Ctx, x: string): [string, string, string] {
  const known = ctx.quantizedInputs.get(x);
  if (known) return known;
  const outs = add(ctx, 'DynamicQuantizeLinear', [x], `${x}_quantized`, [], [freshName(ctx.graph, `${x}_quantized${ctx.scope}`), freshName(ctx.graph, `${x}_scale${ctx.scope}`), freshName(ctx.graph, `${x}_zero_point${ctx.scope}`)]);
  const r = outs as [string, string, string];
  ctx.quantizedInputs.set(x, r);
  return r;
}

/** Why a node cannot be quantized dynamically, or undefined when it can. */
function refusal(ctx: Ctx, node: Node): string | undefined {
  const w = ctx.constant(node.inputs[1]);
  if (!w || w.dtype !== 'float32') return 'weight is not a float32 constant';
  if (node.opType === 'MatMul') return w.dims.length === 2 ? undefined : 'MatMul weight is not a matrix';
  if (node.opType === 'Gemm') {
    if (w.dims.length !== 2) return 'Gemm weight is not a matrix';
    if (attrInt(node, 'transA', 0) !== 0 || attrFloat(node, 'alpha', 1) !== 1 || (node.inputs[2] && attrFloat(node, 'beta', 1) !== 1)) return 'Gemm with transA or alpha/beta other than 1';
    const c = node.inputs[2] ? ctx.constant(node.inputs[2]) : undefined;
    if (node.inputs[2] && (!c || c.dtype !== 'float32')) return 'Gemm bias C is not a float32 constant';
    return undefined;
  }
  if (node.inputs[2] && !ctx.constant(node.inputs[2])) return 'Conv bias is not a constant';
  return undefined;
}

function quantizeMatMulLike(ctx: Ctx, node: Node): NodeReport['weight'] {
  let w = ctx.constant(node.inputs[1]) as Tensor<'float32'>;
  if (node.opType === 'Gemm' && attrInt(node, 'transB', 0)) w = transposeMatrix(w);
  const qw = quantizeWeight(w, { dtype: ctx.o.weightType, perChannel: ctx.o.perChannel, axis: 1, reduceRange: ctx.o.reduceRange });
  const [aq, as, az] = quantizedActivation(ctx, node.inputs[0]);
  const base = node.outputs[0];
  const wq = constantInput(ctx, `${node.inputs[1]}_quantized`, qw.data);
  const wz = constantInput(ctx, `${node.inputs[1]}_zero_point`, qw.zeroPoint);
  const ws = constantInput(ctx, `${node.inputs[1]}_scale`, qw.scale);
  const [acc] = add(ctx, 'MatMulInteger', [aq, wq, az, wz], `${base}_int32`);
  const [accf] = add(ctx, 'Cast', [acc], `${base}_cast`, [['to', 1]]);
  const [scale] = add(ctx, 'Mul', [as, ws], `${base}_scale`);
  const c = node.opType === 'Gemm' && node.inputs[2] ? node.inputs[2] : '';
  if (c) {
    const [y] = add(ctx, 'Mul', [accf, scale], `${base}_unbiased`);
    add(ctx, 'Add', [y, c], base, [], [base]);
  } else {
    add(ctx, 'Mul', [accf, scale], base, [], [base]);
  }
  return report(qw.scale.data as Float32Array, ctx.o);
}

function quantizeConv(ctx: Ctx, node: Node): NodeReport['weight'] {
  const w = ctx.constant(node.inputs[1]) as Tensor<'float32'>;
  // ConvInteger takes one weight zero point: int8 weights are symmetric (all zero points 0,
  // so per-channel scales still work); uint8 weights are asymmetric, hence per tensor.
  const perChannel = ctx.o.perChannel && ctx.o.weightType === 'int8';
  const qw = quantizeWeight(w, { dtype: ctx.o.weightType, perChannel, axis: 0, reduceRange: ctx.o.reduceRange });
  const [xq, xs, xz] = quantizedActivation(ctx, node.inputs[0]);
  const base = node.outputs[0];
  const wq = constantInput(ctx, `${node.inputs[1]}_quantized`, qw.data);
  const wz = constantInput(ctx, `${node.inputs[1]}_zero_point`, new Tensor(qw.zeroPoint.dtype as 'int8', (qw.zeroPoint.data as Int8Array).slice(0, 1), []));
  const spatial = w.dims.length - 2;
  const m = w.dims[0];
  const ones = new Array<number>(spatial).fill(1);
  const ws = constantInput(ctx, `${node.inputs[1]}_scale`, new Tensor('float32', qw.scale.data as Float32Array, qw.scale.size > 1 ? [m, ...ones] : []));
  const attrs = new Map(node.attributes);
  const [acc] = add(ctx, 'ConvInteger', [xq, wq, xz, wz], `${base}_int32`);
  ctx.nodes[ctx.nodes.length - 1].attributes = attrs;
  const [accf] = add(ctx, 'Cast', [acc], `${base}_cast`, [['to', 1]]);
  const [scale] = add(ctx, 'Mul', [xs, ws], `${base}_scale`);
  const b = node.inputs[2] ? ctx.constant(node.inputs[2]) : undefined;
  if (b) {
    const [y] = add(ctx, 'Mul', [accf, scale], `${base}_unbiased`);
    const bias = constantInput(ctx, `${node.inputs[2]}_broadcast`, new Tensor('float32', b.data as Float32Array, [m, ...ones]));
    add(ctx, 'Add', [y, bias], base, [], [base]);
  } else {
    add(ctx, 'Mul', [accf, scale], base, [], [base]);
  }
  return report(qw.scale.data as Float32Array, { ...ctx.o, perChannel });
}

function report(scales: Float32Array, o: { weightType: ResolvedDynamicOptions['weightType']; perChannel: boolean }): NodeReport['weight'] {
  let lo = Infinity, hi = -Infinity;
  for (const s of scales) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
  return { dtype: o.weightType, perChannel: scales.length > 1, scaleRange: [lo, hi] };
}

/** Quantizes the graph's MatMul/Gemm/Conv nodes, and those of its subgraphs (If/Loop/Scan bodies). */
function quantizeGraph(graph: Graph, o: ResolvedDynamicOptions, outer: (name: string) => Tensor | undefined, scope: string, nodes: NodeReport[]): void {
  const ctx: Ctx = {
    graph, o, quantizedInputs: new Map(), nodes: [], scope,
    constant: (name) => (graph.initializers.has(name) && !graph.inputs.some((i) => i.name === name) ? graph.initializers.get(name) : graph.inputs.some((i) => i.name === name) ? undefined : outer(name)),
  };
  for (const node of [...graph.nodes]) {
    const r: NodeReport = { name: node.name, opType: node.opType, quantized: false };
    nodes.push(r);
    const subgraphs = [...node.attributes.entries()].flatMap(([k, a]) => (a.type === 'graph' ? [[k, a.value] as const] : a.type === 'graphs' ? a.value.map((g, i) => [`${k}${i}`, g] as const) : []));
    if (subgraphs.length > 0) {
      r.reason = 'control flow: its subgraphs are quantized node by node (listed after it)';
      for (const [key, sub] of subgraphs) {
        quantizeGraph(sub, o, ctx.constant, `${scope}__${node.name || node.opType}_${key}`, nodes);
        eliminateDeadNodes(sub);
      }
      continue;
    }
    if (node.domain !== '' || !['MatMul', 'Gemm', 'Conv'].includes(node.opType)) { r.reason = 'dynamic quantization covers MatMul, Gemm and Conv'; continue; }
    if (!o.opTypes.has(node.opType)) { r.reason = `op type ${node.opType} not in opts.opTypes`; continue; }
    if (isExcluded(node.name, o.nodesToExclude)) { r.reason = 'excluded by opts.nodesToExclude'; continue; }
    const why = refusal(ctx, node);
    if (why) { r.reason = why; continue; }
    graph.nodes = graph.nodes.filter((n) => n !== node);
    r.weight = node.opType === 'Conv' ? quantizeConv(ctx, node) : quantizeMatMulLike(ctx, node);
    r.quantized = true;
  }
  sortGraph(graph);
}

export async function quantizeDynamic(model: Model, opts: QuantizeDynamicOptions = {}): Promise<QuantizedModel> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const o = resolveDynamicOptions(opts);
  const graph = cloneGraph(model.ir.graph);
  optimize(graph, { level: 'extended', opsets: model.ir.meta.opsets });
  // MatMulInteger/ConvInteger need 10; per-column weight parameters read best at 13.
  const opset = Math.max(model.opset, 13);
  upgradeOpset(graph, model.opset, opset);
  const opsets = withDefaultOpset(model.ir.meta.opsets, opset);
  if (graph.nodes.some((n) => n.opType === 'DynamicQuantizeLinear' || n.opType === 'DequantizeLinear' || n.opType === 'MatMulInteger')) {
    throw new TypeError('model: expected a float model, received one that is already quantized');
  }
  const nodes: NodeReport[] = [];
  quantizeGraph(graph, o, (name) => constant(graph, name), '', nodes);
  eliminateDeadNodes(graph);
  sortGraph(graph);
  const report: QuantReport = {
    mode: 'dynamic',
    nodes,
    float: nodes.filter((n) => !n.quantized).map((n) => ({ name: n.name, opType: n.opType, reason: n.reason ?? '' })),
    sizeBytes: { before: 0, after: 0, ratio: 1 },
    outputSqnr: {},
  };
  const result = new QuantizedModel({ graph, meta: { ...model.ir.meta, opsets } }, report, 'qoperator');
  report.sizeBytes.before = model.sizeBytes();
  report.sizeBytes.after = result.sizeBytes();
  report.sizeBytes.ratio = report.sizeBytes.before / report.sizeBytes.after;
  return result;
}
