// quantizeStatic: calibrate activation ranges on the user's data, then rewrite the model to
// QDQ with those ranges; the runtime executes it on the INT8 kernels.
import { cloneGraph } from '../graph/clone';
import { inferShapes } from '../graph/shape-inference';
import { upgradeOpset } from '../graph/passes/upgrade-opset';
import { invalidType } from '../errors';
import { Graph } from '../graph/ir';
import { constant, freshName } from '../graph/passes/util';
import { Tensor } from '../tensor';
import { Model } from '../runtime/model';
import { ChannelMeans, correctBiases, meanAxisFor } from './bias-correction';
import { calibrate, FeedSource } from './calibrate';
import { createObserver, Observer } from './calibration/observers';
import { QuantizeStaticOptions, resolveStaticOptions, ResolvedStaticOptions, TensorOverride } from './options';
import { NodePlan, planQuantization, QuantPlan } from './plan';
import { peekFirst, planTakenBranches, restoreOuterConstants } from './branches';
import { eliminateDeadNodes } from '../graph/topo';
import { BuildResult, buildQdq } from './qdq-builder';
import { QParams, qparamsFromRange } from './qparams';
import { QuantizedModel, withDefaultOpset } from './quantized-model';
import { measureSqnr, NodeReport, QuantReport } from './report';

function paramsFor(range: { min: number; max: number } | undefined, override: TensorOverride | undefined, o: ResolvedStaticOptions): QParams | undefined {
  const q = { dtype: o.activationType, symmetric: o.symmetricActivations };
  if (override && 'scale' in override) {
    const [lo, hi] = o.activationType === 'uint8' ? [0, 255] : [-128, 127];
    if (override.zeroPoint < lo || override.zeroPoint > hi) throw new RangeError(`opts.overrides: zero point ${override.zeroPoint} outside ${o.activationType} range [${lo}, ${hi}]`);
    return { scale: Math.fround(override.scale), zeroPoint: override.zeroPoint, dtype: o.activationType };
  }
  if (override) return qparamsFromRange(override, q);
  return range ? qparamsFromRange(range, q) : undefined;
}

/**
 * Div by a constant becomes Mul by its reciprocal (hard-swish's "/ 6", normalizations), so it
 * can run as an integer Mul; the float result differs by at most an ulp per element.
 */
function divisionsToMultiplications(graph: Graph): void {
  for (const node of graph.nodes) {
    if (node.opType !== 'Div' || node.domain !== '' || node.inputs.length !== 2) continue;
    const c = constant(graph, node.inputs[1]);
    if (!c || c.dtype !== 'float32' || Array.from(c.data as Float32Array).some((v) => v === 0 || !Number.isFinite(v))) continue;
    const name = freshName(graph, `${node.inputs[1]}_reciprocal`);
    graph.initializers.set(name, new Tensor('float32', Float32Array.from(c.data as Float32Array, (v) => 1 / v), [...c.dims]));
    node.opType = 'Mul';
    node.inputs = [node.inputs[0], name];
  }
}

/** The graph static quantization rewrites (optimized, opset >= 13) and its plan. */
export function staticPlan(model: Model, o: ResolvedStaticOptions): { graph: Graph; plan: QuantPlan; opset: number; opsets: Map<string, number> } {
  const source = model.executionGraph;
  if (source.nodes.some((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear' || n.opType.startsWith('QLinear'))) {
    throw new TypeError('model: expected a float model, received one that is already quantized (it has QuantizeLinear/DequantizeLinear/QLinear* nodes)');
  }
  const graph = cloneGraph(source);
  inferShapes(graph, model.ir.meta.opsets);
  // Per-channel weights need DequantizeLinear's axis (opset 13).
  const opset = Math.max(model.opset, 13);
  upgradeOpset(graph, model.opset, opset);
  const opsets = withDefaultOpset(model.ir.meta.opsets, opset);
  if (o.opTypes.has('Mul')) divisionsToMultiplications(graph);
  inferShapes(graph, opsets);
  return { graph, plan: planQuantization(graph, o), opset, opsets };
}

/** Scale and zero point per planned tensor from its observer (or override); `outer` names it in errors. */
function paramsFromCalibration(plan: QuantPlan, observer: (name: string) => Observer | undefined, outer: (name: string) => string,
  batches: number, o: ResolvedStaticOptions, ranges: Map<string, { min: number; max: number }>): Map<string, QParams> {
  const params = new Map<string, QParams>();
  for (const name of plan.observed) {
    const obs = observer(name);
    const shown = outer(name);
    if (obs && obs.nonFinite > 0 && !o.allowNonFinite) {
      throw new RangeError(`calibration: tensor '${shown}' had ${obs.nonFinite} NaN/Infinity values; fix the data or pass allowNonFinite: true to skip them`);
    }
    if (obs && obs.count === 0 && obs.nonFinite === 0 && !o.overrides.has(name)) {
      throw new RangeError(`calibration: tensor '${shown}' was empty in all ${batches} batches (check the feeds' dims); give it a range in opts.overrides or feed larger inputs`);
    }
    if (obs && obs.count === obs.nonFinite && !o.overrides.has(name)) {
      throw new RangeError(`calibration: tensor '${shown}' had no finite values in ${batches} batches`);
    }
    const range = obs ? obs.range() : undefined;
    if (range) ranges.set(name, range);
    const q = paramsFor(range, o.overrides.get(name), o);
    if (q) params.set(name, q);
  }
  // Data movement ops share their input's parameters, in graph order so chains resolve.
  for (const np of plan.nodes) {
    const out = np.node.outputs[0];
    const from = plan.inherits.get(out);
    if (from && params.has(from)) params.set(out, params.get(from)!);
  }
  return params;
}

function nodeReports(plan: QuantPlan, built: BuildResult, outputs: Map<NodePlan, string>, ranges: Map<string, { min: number; max: number }>,
  outer: (tensor: string) => string, nodeName: (node: string) => string): NodeReport[] {
  return plan.nodes.map((np) => {
    const fusedInto = built.fusedActivations.get(np.node);
    const out = outputs.get(np)!;
    const q = built.params.get(out);
    return {
      name: nodeName(np.node.name),
      opType: np.opType,
      quantized: np.quantized,
      reason: np.reason,
      fusedInto: fusedInto ? nodeName(fusedInto.name) : undefined,
      output: np.quantized && q ? { tensor: outer(out), dtype: q.dtype, scale: q.scale, zeroPoint: q.zeroPoint, range: ranges.get(out) } : undefined,
      weight: built.weights.get(np.node),
    };
  });
}

export async function quantizeStatic(model: Model, calibration: FeedSource, opts: QuantizeStaticOptions = {}): Promise<QuantizedModel> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const o = resolveStaticOptions(opts);
  const { graph, plan, opset, opsets } = staticPlan(model, o);
  for (const name of o.overrides.keys()) {
    if (!plan.observed.has(name)) throw new RangeError(`opts.overrides: tensor '${name}' is not an activation the quantization uses (known: ${[...plan.observed].slice(0, 8).join(', ')}${plan.observed.size > 8 ? ', ...' : ''})`);
  }

  const means = new Map<string, ChannelMeans>();
  if (o.biasCorrection) for (const np of plan.nodes) if (np.quantized && np.weight) means.set(np.activations[0], new ChannelMeans(meanAxisFor(np)));
  // The branches of an If the calibration feeds decide are quantized too (see branches.ts).
  const peeked = await peekFirst(calibration);
  const branchPlans = peeked.first ? planTakenBranches(model, graph, peeked.first, o) : [];
  const observedNow = (p: QuantPlan) => [...p.observed].filter((t) => !(o.overrides.get(t) && 'scale' in o.overrides.get(t)!));
  const toObserve = [...observedNow(plan), ...branchPlans.flatMap((bp) => observedNow(bp.plan).map(bp.outer))];
  const cal = await calibrate(model, peeked.source, [...new Set(toObserve)],
    () => createObserver({ method: o.method, percentile: o.percentile, bins: o.bins, dtype: o.activationType, symmetric: o.symmetricActivations }),
    { keep: o.reportBatches, onProgress: o.onProgress, onTensor: (name, t) => means.get(name)?.add(t) });

  const ranges = new Map<string, { min: number; max: number }>();
  const params = paramsFromCalibration(plan, (name) => cal.observers.get(name), name => name, cal.batches, o, ranges);
  if (o.biasCorrection) correctBiases(graph, plan.nodes, means, { weightType: o.weightType, weightBits: o.weightBits, perChannel: o.perChannel, reduceRange: o.reduceRange, opset, weightQuantizers: o.weightQuantizers });
  const buildOpts = { activationType: o.activationType, symmetricActivations: o.symmetricActivations, weightType: o.weightType, weightBits: o.weightBits, perChannel: o.perChannel, reduceRange: o.reduceRange, opset, weightQuantizers: o.weightQuantizers };
  const originalOutputs = new Map(plan.nodes.map((np) => [np, np.node.outputs[0]]));
  const built = buildQdq(graph, plan, params, buildOpts);
  const nodes = nodeReports(plan, built, originalOutputs, ranges, (n) => n, (n) => n);
  // Tensor (as the executed float model names it) -> its integer value in the quantized model.
  const captures = new Map([...built.params].filter(([t]) => built.quantizedNames.has(t)).map(([t, q]) => [t, { capture: built.quantizedNames.get(t)!, params: q }]));
  for (const bp of branchPlans) {
    const branchRanges = new Map<string, { min: number; max: number }>();
    const bparams = paramsFromCalibration(bp.plan, (name) => cal.observers.get(bp.outer(name)), bp.outer, cal.batches, o, branchRanges);
    const outputs = new Map(bp.plan.nodes.map((np) => [np, np.node.outputs[0]]));
    const bbuilt = buildQdq(bp.branch, bp.plan, bparams, buildOpts);
    restoreOuterConstants(bp, graph);
    nodes.push(...nodeReports(bp.plan, bbuilt, outputs, branchRanges, bp.outer, (n) => bp.prefix + n));
    for (const [t, q] of bbuilt.params) {
      const qn = bbuilt.quantizedNames.get(t);
      if (qn) captures.set(bp.outer(t), { capture: bp.prefix + qn, params: q });
    }
  }
  eliminateDeadNodes(graph);
  for (const bp of branchPlans) {
    const r = nodes.find((n) => n.name === bp.ifNode.name && n.opType === 'If');
    if (r) r.reason = `control flow: the ${bp.taken} branch (the one the calibration data takes) is quantized, node by node below; the other stays float`;
  }
  const report: QuantReport = {
    mode: 'static',
    method: o.method,
    batches: cal.batches,
    nodes,
    float: nodes.filter((n) => !n.quantized).map((n) => ({ name: n.name, opType: n.opType, reason: n.reason ?? '' })),
    sizeBytes: { before: 0, after: 0, ratio: 1 },
    outputSqnr: {},
  };
  const result = new QuantizedModel({ graph, meta: { ...model.ir.meta, opsets } }, report, o.format);
  report.sizeBytes.before = model.sizeBytes();
  report.sizeBytes.after = result.sizeBytes();
  report.sizeBytes.ratio = report.sizeBytes.before / report.sizeBytes.after;

  if (cal.kept.length > 0) {
    const m = await measureSqnr(model, result, cal.kept, captures);
    for (const n of nodes) if (n.output) n.output.sqnr = m.tensors.sqnr(n.output.tensor);
    for (const out of model.outputs) report.outputSqnr[out.name] = m.outputs.sqnr(out.name);
    o.onProgress?.({ phase: 'report', batch: cal.kept.length, total: cal.kept.length });
  }
  return result;
}
