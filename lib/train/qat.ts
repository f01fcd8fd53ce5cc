// Quantization-aware training: prepareQat inserts fake quantization where static quantization
// will put integers (the tensors and weights of quantizeStatic's own plan), so fit() trains the
// model against the rounding and clipping it will meet; convertQat then quantizes the float
// weights with the ranges the observers learned, producing the same QDQ model as quantizeStatic.
import { checkedByteSize } from '../limits';
import { cloneGraph } from '../graph/clone';
import { Attribute, attrFloat, attrInt, Graph, ModelIR, Node } from '../graph/ir';
import { invalidRange } from '../errors';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { QuantizeStaticOptions, resolveStaticOptions } from '../quant/options';
import { codeRange, qparamsFromRange, QuantType } from '../quant/qparams';
import { QuantizedModel, QuantFormat } from '../quant/quantized-model';
import { quantizeStatic, staticPlan } from '../quant/static';
import type { FeedSource } from '../quant/calibrate';
import { CONSTANT_PREFIX } from './autograd';
import { TRAIN_DOMAIN } from './gradients';

export interface QatOptions {
  /** Activation integers (default 'uint8', asymmetric, as quantizeStatic). */
  activationType?: QuantType;
  symmetricActivations?: boolean;
  /** Per-channel int8 weights (default true). */
  perChannel?: boolean;
  /**
   * Bits of the weight grid (2..8, default 8): int8 weights trained on ±(2^(bits-1) − 1) steps, as
   * quantizeStatic's weightBits quantizes them (the converted model still runs on INT8 kernels).
   */
  weightBits?: number;
  reduceRange?: boolean;
  /** Observer moving average: range = range·m + batch·(1 − m) (default 0.95). */
  observerMomentum?: number;
  /**
   * Learn each activation's scale (LSQ's gradient, Esser et al. 2019) as a factor on the
   * observed one: scale = observed · exp(a), a trained with the weights, 0 at first.
   */
  learnScales?: boolean;
  /**
   * Keep zero weights zero (sparsity-preserving QAT, after prune()): each weight with zeros is
   * multiplied by a constant 0/1 mask of its nonzeros before fake quantization, so pruned
   * weights get no gradient and the converted INT8 weights keep the sparsity (default false).
   */
  preserveSparsity?: boolean;
  opTypes?: QuantizeStaticOptions['opTypes'];
  nodesToExclude?: QuantizeStaticOptions['nodesToExclude'];
}

export interface QatInfo {
  /** The float model's structure over the weights QAT trains (shared tensors). */
  float: ModelIR;
  /** Observed tensor -> the initializer holding its [min, max]. */
  ranges: Map<string, string>;
  /** Observed tensor -> the initializer holding its learned log scale factor (learnScales). */
  learnedScales: Map<string, string>;
  /** Weights fake-quantized, and whether a BatchNormalization was folded into them. */
  weights: { node: string; weight: string; axis: number; foldedBatchNorm?: string }[];
  options: Required<Pick<QatOptions, 'activationType' | 'symmetricActivations' | 'perChannel' | 'reduceRange' | 'weightBits'>> & Pick<QatOptions, 'opTypes' | 'nodesToExclude'>;
}

/** A model prepared for quantization-aware training: fit() it, then convertQat(). */
export class QatModel extends Model {
  constructor(ir: ModelIR, readonly qat: QatInfo) {
    super(ir, { optimize: 'basic' });
  }
}

const attrs = (o: { [k: string]: number }): Map<string, Attribute> => new Map(Object.entries(o).map(([k, v]) => [k, { type: 'int', value: v } as Attribute]));

function int64(values: number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length]);
}

function copyGraphWeights(g: Graph): Graph {
  const out = cloneGraph(g);
  for (const [name, t] of out.initializers) {
    if (t.dtype === 'float32') out.initializers.set(name, new Tensor('float32', Float32Array.from(t.data as Float32Array), [...t.dims]));
  }
  return out;
}

export function prepareQat(model: Model, opts: QatOptions = {}): QatModel {
  if (!(model instanceof Model)) throw new TypeError(`model: expected a Model, received ${typeof model}`);
  if (model instanceof QatModel) throw new TypeError('model: already prepared for QAT');
  const activationType = opts.activationType ?? 'uint8';
  const symmetricActivations = opts.symmetricActivations ?? false;
  const perChannel = opts.perChannel ?? true;
  const reduceRange = opts.reduceRange ?? false;
  const momentum = opts.observerMomentum ?? 0.95;
  if (!(momentum >= 0 && momentum < 1)) throw invalidRange('opts.observerMomentum', 'a number in [0, 1)', opts.observerMomentum);

  // The float model QAT trains and convertQat quantizes: its own copy of the weights.
  const floatIr: ModelIR = { graph: copyGraphWeights(model.ir.graph), meta: { ...model.ir.meta, opsets: new Map(model.ir.meta.opsets), metadata: new Map(model.ir.meta.metadata) } };
  const floatModel = new Model(floatIr);
  const resolved = resolveStaticOptions({ activationType, symmetricActivations, perChannel, reduceRange, weightType: 'int8', weightBits: opts.weightBits, opTypes: opts.opTypes, nodesToExclude: opts.nodesToExclude });
  const weightBits = resolved.weightBits;
  const { plan } = staticPlan(floatModel, resolved);

  // The QAT graph: the float graph's nodes over the same weight tensors, plus fake quantization.
  const g = cloneGraph(floatIr.graph);
  g.initializers = floatIr.graph.initializers;  // shared on purpose: training updates both
  const producers = g.producers();
  const consumers = g.consumers();
  const inputs = new Set(g.feedInputs.map((i) => i.name));
  const before: Node[] = [];
  const after = new Map<Node, Node[]>();
  const insertAfter = (p: Node | undefined, nodes: Node[]): void => {
    if (!p) before.push(...nodes);
    else after.set(p, [...(after.get(p) ?? []), ...nodes]);
  };
  const momentumName = `${CONSTANT_PREFIX}observer_momentum`;
  g.initializers.set(momentumName, new Tensor('float32', Float32Array.of(momentum), [1]));
  const full = codeRange(activationType, false);
  const codes = codeRange(activationType, symmetricActivations, reduceRange);
  const ranges = new Map<string, string>();
  const learnedScales = new Map<string, string>();
  const learnScales = opts.learnScales ?? false;

  for (const t of plan.observed) {
    const producer = producers.get(t);
    if (!producer && !inputs.has(t)) continue;  // a value only the optimized graph has: convertQat calibrates it
    const range = `__nquant_range/${t}`;
    g.initializers.set(range, new Tensor('float32', Float32Array.of(Infinity, -Infinity), [2]));
    ranges.set(t, range);
    const src = producer ? `${t}/float` : t;
    const out = producer ? t : `${t}/fq`;
    if (producer) producer.outputs = producer.outputs.map((o) => (o === t ? src : o));
    else for (const c of consumers.get(t) ?? []) c.inputs = c.inputs.map((i) => (i === t ? out : i));
    const observed = learnScales ? `${t}/observed_scale` : `${t}/scale`;
    const nodes: Node[] = [
      { name: `qat/${t}/observe`, opType: 'MinMaxObserve', domain: TRAIN_DOMAIN, inputs: [src, range, momentumName], outputs: [`${t}/range`], attributes: new Map() },
      { name: `qat/${t}/qparams`, opType: 'QParamsFromRange', domain: TRAIN_DOMAIN, inputs: [`${t}/range`], outputs: [observed, `${t}/zero_point`], attributes: attrs({ qmin: codes.qmin, qmax: codes.qmax, symmetric: symmetricActivations ? 1 : 0 }) },
    ];
    if (learnScales) {
      const logFactor = `__nquant_lsq/${t}`;
      g.initializers.set(logFactor, new Tensor('float32', Float32Array.of(0), []));
      learnedScales.set(t, logFactor);
      nodes.push(
        { name: `qat/${t}/scale_factor`, opType: 'Exp', domain: '', inputs: [logFactor], outputs: [`${t}/scale_factor`], attributes: new Map() },
        { name: `qat/${t}/learned_scale`, opType: 'Mul', domain: '', inputs: [observed, `${t}/scale_factor`], outputs: [`${t}/scale`], attributes: new Map() },
      );
    }
    nodes.push({ name: `qat/${t}/fake_quant`, opType: 'FakeQuantize', domain: TRAIN_DOMAIN, inputs: [src, `${t}/scale`, `${t}/zero_point`], outputs: [out], attributes: attrs({ qmin: full.qmin, qmax: full.qmax }) });
    insertAfter(producer, nodes);
  }

  // Weights: int8, symmetric, per channel, like quantizeStatic's weights.
  const wFull = codeRange('int8', false);
  const wCodes = codeRange('int8', true, reduceRange, weightBits);
  const weights: QatInfo['weights'] = [];
  const planned = new Set(plan.nodes.filter((np) => np.quantized && np.weight).map((np) => np.node.name));
  const fakeQuantWeight = (p: Node, w: string, axis: number, rank: number): { nodes: Node[]; out: string } => {
    const per = perChannel && rank > 0;
    return {
      out: `${w}/fq`,
      nodes: [
        { name: `qat/${w}/range`, opType: 'ChannelRange', domain: TRAIN_DOMAIN, inputs: [w], outputs: [`${w}/range`], attributes: per ? attrs({ axis }) : new Map() },
        { name: `qat/${w}/qparams`, opType: 'QParamsFromRange', domain: TRAIN_DOMAIN, inputs: [`${w}/range`], outputs: [`${w}/scale`, `${w}/zero_point`], attributes: attrs({ qmin: wCodes.qmin, qmax: wCodes.qmax, symmetric: 1 }) },
        { name: `qat/${w}/fake_quant`, opType: 'FakeQuantize', domain: TRAIN_DOMAIN, inputs: [w, `${w}/scale`, `${w}/zero_point`], outputs: [`${w}/fq`], attributes: attrs(per ? { qmin: wFull.qmin, qmax: wFull.qmax, axis } : { qmin: wFull.qmin, qmax: wFull.qmax }) },
      ].map((n) => ({ ...n, name: `${p.name}/${n.name}` })),
    };
  };
  const extraBefore = new Map<Node, Node[]>();
  // Sparsity-preserving QAT: the weight as the conv/GEMM sees it is w · mask(w != 0).
  const preserveSparsity = opts.preserveSparsity ?? false;
  const sparsityMask = (p: Node, w: string, wt: Tensor): { nodes: Node[]; out: string } => {
    const data = wt.data as Float32Array;
    if (!preserveSparsity || !data.some((v) => v === 0)) return { nodes: [], out: w };
    const mask = `${CONSTANT_PREFIX}sparsity_mask/${w}`;
    g.initializers.set(mask, new Tensor('float32', Float32Array.from(data, (v) => (v === 0 ? 0 : 1)), [...wt.dims]));
    const out = `${w}/sparse`;
    return { out, nodes: [{ name: `${p.name}/qat/${w}/sparsity_mask`, opType: 'Mul', domain: '', inputs: [w, mask], outputs: [out], attributes: new Map() }] };
  };
  for (const n of g.nodes) {
    if (!planned.has(n.name) || !['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
    const w = n.inputs[1];
    const wt = g.initializers.get(w);
    if (!wt || wt.dtype !== 'float32') continue;
    const axis = n.opType === 'Conv' ? 0 : n.opType === 'Gemm' ? (attrInt(n, 'transB', 0) === 1 ? 0 : 1) : wt.dims.length - 1;
    const out = n.outputs[0];
    const bnList = consumers.get(out) ?? [];
    const bn = n.opType === 'Conv' && bnList.length === 1 && bnList[0].opType === 'BatchNormalization' && !g.outputs.some((o) => o.name === out) ? bnList[0] : undefined;
    const masked = sparsityMask(n, w, wt);
    if (!bn) {
      const fq = fakeQuantWeight(n, masked.out, axis, wt.dims.length);
      extraBefore.set(n, [...masked.nodes, ...fq.nodes]);
      n.inputs = n.inputs.map((i, k) => (k === 1 ? fq.out : i));
      weights.push({ node: n.name, weight: w, axis });
      continue;
    }
    // Conv + BatchNormalization: train against the folded weights W·γ/σ (σ from the running
    // variance) and undo the scale after the conv, so batch statistics still normalize; the
    // deployed model folds the same way (PyTorch's ConvBn QAT, Krishnamoorthi 2018).
    const [, gamma, , , variance] = bn.inputs;
    const c = wt.dims[0];
    const eps = `${CONSTANT_PREFIX}${bn.name}/epsilon`;
    g.initializers.set(eps, new Tensor('float32', Float32Array.of(attrFloat(bn, 'epsilon', 1e-5)), []));
    const wShape = `${n.name}/qat/w_shape`;
    g.initializers.set(wShape, int64([c, ...new Array(wt.dims.length - 1).fill(1)]));
    const yShape = `${n.name}/qat/y_shape`;
    g.initializers.set(yShape, int64([1, c, ...new Array(wt.dims.length - 2).fill(1)]));
    const p = `${n.name}/qat`;
    const scaled = `${p}/w_scaled`;
    const fq = fakeQuantWeight(n, scaled, 0, wt.dims.length);
    const pre: Node[] = [
      ...masked.nodes,
      { name: `${p}/var_eps`, opType: 'Add', domain: '', inputs: [variance, eps], outputs: [`${p}/var_eps`], attributes: new Map() },
      { name: `${p}/std`, opType: 'Sqrt', domain: '', inputs: [`${p}/var_eps`], outputs: [`${p}/std`], attributes: new Map() },
      { name: `${p}/factor`, opType: 'Div', domain: '', inputs: [gamma, `${p}/std`], outputs: [`${p}/factor`], attributes: new Map() },
      { name: `${p}/factor_w`, opType: 'Reshape', domain: '', inputs: [`${p}/factor`, wShape], outputs: [`${p}/factor_w`], attributes: new Map() },
      { name: `${p}/w_scaled`, opType: 'Mul', domain: '', inputs: [masked.out, `${p}/factor_w`], outputs: [scaled], attributes: new Map() },
      ...fq.nodes,
    ];
    extraBefore.set(n, pre);
    const bias = n.inputs[2];
    n.inputs = [n.inputs[0], fq.out];
    n.outputs = [`${p}/conv`];
    const post: Node[] = [
      { name: `${p}/factor_y`, opType: 'Reshape', domain: '', inputs: [`${p}/factor`, yShape], outputs: [`${p}/factor_y`], attributes: new Map() },
      { name: `${p}/unscale`, opType: 'Div', domain: '', inputs: [`${p}/conv`, `${p}/factor_y`], outputs: [bias ? `${p}/unscaled` : out], attributes: new Map() },
    ];
    if (bias) {
      post.push({ name: `${p}/bias_y`, opType: 'Reshape', domain: '', inputs: [bias, yShape], outputs: [`${p}/bias_y`], attributes: new Map() });
      post.push({ name: `${p}/bias`, opType: 'Add', domain: '', inputs: [`${p}/unscaled`, `${p}/bias_y`], outputs: [out], attributes: new Map() });
    }
    insertAfter(n, post);
    weights.push({ node: n.name, weight: w, axis: 0, foldedBatchNorm: bn.name });
  }

  const nodes: Node[] = [...before];
  for (const n of g.nodes) {
    nodes.push(...(extraBefore.get(n) ?? []), n);
    // Observers of this node's outputs come after any post-processing inserted for it.
    const tail = after.get(n) ?? [];
    // Observers of this node's outputs (names 'qat/...') come after any post-processing inserted for it.
    nodes.push(...tail.filter((t) => !t.name.startsWith('qat/')));
    nodes.push(...tail.filter((t) => t.name.startsWith('qat/')));
  }
  g.nodes = nodes;
  const opsets = new Map(floatIr.meta.opsets);
  opsets.set(TRAIN_DOMAIN, 1);
  return new QatModel({ graph: g, meta: { ...floatIr.meta, opsets } }, {
    float: floatIr, ranges, weights, learnedScales,
    options: { activationType, symmetricActivations, perChannel, reduceRange, weightBits, opTypes: opts.opTypes, nodesToExclude: opts.nodesToExclude },
  });
}

export interface ConvertQatOptions {
  format?: QuantFormat;
  /** Feeds for tensors no observer saw (only needed when the report lists some); default: one zero batch. */
  calibration?: FeedSource;
}

/** The INT8 model QAT trained for: quantizeStatic of the trained weights with the observed ranges. */
export async function convertQat(model: QatModel, opts: ConvertQatOptions = {}): Promise<QuantizedModel> {
  if (!(model instanceof QatModel)) throw new TypeError('model: expected a QatModel from prepareQat()');
  const o = model.qat.options;
  const overrides: { [t: string]: { scale: number; zeroPoint: number } } = {};
  for (const [t, rangeName] of model.qat.ranges) {
    const r = model.ir.graph.initializers.get(rangeName)!.data as Float32Array;
    if (!(r[0] <= r[1])) continue;  // never observed: calibrated instead
    const q = qparamsFromRange({ min: r[0], max: r[1] }, { dtype: o.activationType, symmetric: o.symmetricActivations, reduceRange: o.reduceRange });
    const learned = model.qat.learnedScales.get(t);
    // The same float32 product the training graph computed (Exp, then Mul).
    const factor = learned ? Math.fround(Math.exp((model.ir.graph.initializers.get(learned)!.data as Float32Array)[0])) : 1;
    overrides[t] = { scale: learned ? Math.fround(q.scale * factor) : q.scale, zeroPoint: q.zeroPoint };
  }
  const float = new Model(model.qat.float);
  const calibration = opts.calibration ?? [Object.fromEntries(float.inputs.map((i) => {
    const dims = i.dims.map((d) => (typeof d === 'number' ? d : 1));
    return [i.name, new Tensor('float32', new Float32Array(checkedByteSize(dims, 4, `input '${i.name}'`) / 4), dims)];
  }))];
  return quantizeStatic(float, calibration, {
    method: 'minmax', activationType: o.activationType, symmetricActivations: o.symmetricActivations, perChannel: o.perChannel,
    reduceRange: o.reduceRange, weightType: 'int8', weightBits: o.weightBits, opTypes: o.opTypes, nodesToExclude: o.nodesToExclude, overrides, format: opts.format,
  });
}
