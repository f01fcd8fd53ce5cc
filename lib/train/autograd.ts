// Reverse-mode autograd over the IR: from a forward graph with concrete shapes, builds one
// training-step graph (forward in training mode, loss, backward, parameter updates) that the
// runtime compiles into a single native plan. Parameters, running statistics and optimizer
// slots are plan state: read and updated in place, so one run is one optimizer step.
import { Attribute, attrFloat, Graph, Node } from '../graph/ir';
import { topoSort } from '../graph/topo';
import type { ResolvedValue } from '../runtime/plan-builder';
import { DataType, Tensor } from '../tensor';
import { float, GradContext, gradientRule, TRAIN_DOMAIN } from './gradients';
import { fuseTrainingStep } from './step-fusion';

export type LossKind = 'softmaxCrossEntropy' | 'mse';

/** One optimizer's contribution to the step graph: its update node per parameter. */
export interface UpdateRule {
  /** Names of the per-parameter slots (momentum, Adam moments), created zero-filled. */
  slots: string[];
  /** Slot positions the op's signature has (absent slots are passed as omitted inputs). */
  slotPositions: number;
  opType: string;
  attributes: { [name: string]: Attribute };
  /** Length of the float32 hyper-parameter feed the update reads (learning rate, ...). */
  hyperLength: number;
}

export interface StepGraphOptions {
  /** The forward graph (not modified). */
  forward: Graph;
  opset: number;
  /** Concrete forward shapes for this batch size. */
  shapes: Map<string, ResolvedValue>;
  /** Trainable initializers (float32). */
  params: string[];
  loss: { kind: LossKind; prediction: string; target: string; targetDtype: DataType };
  update: UpdateRule;
  /** Optimizer slot tensors by `${param}::${slot}` (owned by the trainer across plans). */
  slotTensors: Map<string, Tensor>;
  /** BatchNormalization uses (and keeps) its running statistics instead of the batch's. */
  frozenBatchNorm?: boolean;
}

export interface StepGraph {
  graph: Graph;
  shapes: Map<string, ResolvedValue>;
  /** Initializers bound as state, in runPlan order. */
  state: string[];
  stateUpdates: Map<string, string>;
  /** Names of the extra feeds: the hyper-parameter vector and, with dropout, the seed. */
  hyperFeed: string;
  seedFeed?: string;
  lossOutput: string;
}

export const HYPER_FEED = '__nquant_hyper';
export const SEED_FEED = '__nquant_seed';
const LOSS = '__nquant_loss';

function scalarF32(v: number): Tensor {
  return new Tensor('float32', new Float32Array([v]), []);
}

/** Forward nodes in training mode: batch statistics for BatchNormalization, live Dropout. */
function trainingForward(g: Graph, nodes: Node[], shapes: Map<string, ResolvedValue>, state: Set<string>, updates: Map<string, string>, usedOutputs: Set<string>, frozenBatchNorm: boolean): { nodes: Node[]; dropout: boolean } {
  let dropout = false;
  const out = nodes.map((n): Node => {
    if (n.opType === 'BatchNormalization' && (n.domain === '' || n.domain === 'ai.onnx') && !frozenBatchNorm) {
      const [x, scale, bias, mean, variance] = n.inputs;
      for (const s of [mean, variance]) {
        if (!g.initializers.has(s)) throw new TypeError(`BatchNormalization node '${n.name}': training needs running statistics as initializers, '${s}' is computed`);
        state.add(s);
      }
      for (const extra of n.outputs.slice(1)) if (extra && usedOutputs.has(extra)) throw new TypeError(`BatchNormalization node '${n.name}': output '${extra}' is read by the graph; training recomputes the statistics and cannot provide it`);
      const c = shapes.get(scale)?.dims ?? [...g.initializers.get(scale)!.dims];
      const names = [`${n.name}/mean_updated`, `${n.name}/var_updated`, `${n.name}/saved_mean`, `${n.name}/saved_invstd`];
      for (const name of names) shapes.set(name, { dtype: 'float32', dims: c });
      updates.set(names[0], mean);
      updates.set(names[1], variance);
      return {
        name: n.name, opType: 'BatchNormTraining', domain: TRAIN_DOMAIN, inputs: [x, scale, bias, mean, variance],
        outputs: [n.outputs[0], ...names],
        attributes: new Map([['epsilon', float(attrFloat(n, 'epsilon', 1e-5))], ['momentum', float(attrFloat(n, 'momentum', 0.9))]]),
      };
    }
    if (n.opType === 'Dropout' && (n.domain === '' || n.domain === 'ai.onnx')) {
      let ratio = 0.5;
      if (n.attributes.has('ratio')) ratio = attrFloat(n, 'ratio');
      else if (n.inputs[1]) {
        const t = g.initializers.get(n.inputs[1]);
        if (!t) throw new TypeError(`Dropout node '${n.name}': training needs a constant ratio, '${n.inputs[1]}' is computed`);
        ratio = Number((t.data as Float32Array)[0]);
      }
      if (n.outputs[1] && usedOutputs.has(n.outputs[1])) throw new TypeError(`Dropout node '${n.name}': its mask output is read by the graph, which training does not support`);
      const mask = `${n.name}/mask`;
      shapes.set(mask, { dtype: 'uint8', dims: shapes.get(n.inputs[0])!.dims });
      dropout = true;
      return { name: n.name, opType: 'DropoutTrain', domain: TRAIN_DOMAIN, inputs: [n.inputs[0], SEED_FEED], outputs: [n.outputs[0], mask], attributes: new Map([['ratio', float(ratio)]]) };
    }
    if (n.opType === 'MinMaxObserve' && n.domain === TRAIN_DOMAIN) {
      // The observed range is state: updated in place each step.
      if (!g.initializers.has(n.inputs[1])) throw new TypeError(`MinMaxObserve node '${n.name}': its range '${n.inputs[1]}' must be an initializer`);
      state.add(n.inputs[1]);
      updates.set(n.outputs[0], n.inputs[1]);
    }
    return n;
  });
  return { nodes: out, dropout };
}

/** Prefix of constants nquant inserts (QAT's epsilons, observer momenta): never trained. */
export const CONSTANT_PREFIX = '__nquant_const/';

/** Initializers a gradient could reach: float32 and read at a differentiable input. */
export function trainableInitializers(g: Graph): string[] {
  const out = new Set<string>();
  // Running statistics and observed ranges are state, not parameters, wherever else they are read.
  const stats = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType === 'BatchNormalization') n.inputs.slice(3, 5).forEach((i) => stats.add(i));
    if (n.opType === 'MinMaxObserve') stats.add(n.inputs[1]);
  }
  for (const n of g.nodes) {
    const rule = gradientRule(n.opType === 'BatchNormalization' ? 'BatchNormTraining' : n.opType, n.domain);
    if (!rule) continue;
    n.inputs.forEach((name, i) => {
      const t = g.initializers.get(name);
      if (!t || t.dtype !== 'float32' || stats.has(name) || name.startsWith(CONSTANT_PREFIX)) return;
      if (rule.differentiable === 'all' || rule.differentiable.includes(i)) out.add(name);
    });
  }
  return [...out];
}

export function buildStepGraph(opts: StepGraphOptions): StepGraph {
  const fwd = opts.forward;
  const shapes = new Map(opts.shapes);
  const g = new Graph();
  g.name = `${fwd.name}_train_step`;
  g.initializers = new Map(fwd.initializers);
  const state = new Set<string>(opts.params);
  const updates = new Map<string, string>();
  const usedOutputs = new Set(fwd.nodes.flatMap((n) => n.inputs));
  for (const o of fwd.outputs) usedOutputs.add(o.name);
  const { nodes: forward, dropout } = trainingForward(fwd, topoSort(fwd), shapes, state, updates, usedOutputs, opts.frozenBatchNorm ?? false);

  // Feeds: the model's inputs, the target, the hyper-parameters and the dropout seed.
  g.inputs = fwd.feedInputs.map((v) => ({ ...v }));
  g.inputs.push({ name: opts.loss.target, dtype: opts.loss.targetDtype, dims: shapes.get(opts.loss.target)?.dims });
  g.inputs.push({ name: HYPER_FEED, dtype: 'float32', dims: [opts.update.hyperLength] });
  shapes.set(HYPER_FEED, { dtype: 'float32', dims: [opts.update.hyperLength] });
  if (dropout) {
    g.inputs.push({ name: SEED_FEED, dtype: 'int64', dims: [] });
    shapes.set(SEED_FEED, { dtype: 'int64', dims: [] });
  }

  const pred = opts.loss.prediction;
  const predShape = shapes.get(pred);
  if (!predShape) throw new RangeError(`loss: prediction '${pred}' is not a value of the graph`);
  const nodes: Node[] = [...forward];
  let counter = 0;
  const fresh = (base: string): string => `${base}__g${counter++}`;
  const constant = (base: string, t: Tensor): string => {
    const name = fresh(`${base}`);
    g.initializers.set(name, t);
    shapes.set(name, { dtype: t.dtype, dims: [...t.dims] });
    return name;
  };

  // The loss and its gradient seed.
  const dLoss = constant('grad/loss_seed', scalarF32(1));
  shapes.set(LOSS, { dtype: 'float32', dims: [] });
  const grads = new Map<string, string[]>();
  const contribute = (value: string, grad: string): void => {
    const list = grads.get(value);
    if (list) list.push(grad);
    else grads.set(value, [grad]);
  };
  if (opts.loss.kind === 'softmaxCrossEntropy') {
    if (predShape.dims.length !== 2) throw new RangeError(`loss 'softmaxCrossEntropy': prediction '${pred}' must be [batch, classes], received [${predShape.dims}]`);
    const prob = '__nquant_prob';
    shapes.set(prob, { dtype: 'float32', dims: predShape.dims });
    nodes.push({ name: 'loss', opType: 'SoftmaxCrossEntropy', domain: TRAIN_DOMAIN, inputs: [pred, opts.loss.target], outputs: [LOSS, prob], attributes: new Map() });
    const dPred = fresh('grad/loss');
    shapes.set(dPred, { dtype: 'float32', dims: predShape.dims });
    nodes.push({ name: 'grad/loss', opType: 'SoftmaxCrossEntropyGrad', domain: TRAIN_DOMAIN, inputs: [dLoss, prob, opts.loss.target], outputs: [dPred], attributes: new Map() });
    contribute(pred, dPred);
  } else {
    nodes.push({ name: 'loss', opType: 'MseLoss', domain: TRAIN_DOMAIN, inputs: [pred, opts.loss.target], outputs: [LOSS], attributes: new Map() });
    const dPred = fresh('grad/loss');
    shapes.set(dPred, { dtype: 'float32', dims: predShape.dims });
    nodes.push({ name: 'grad/loss', opType: 'MseLossGrad', domain: TRAIN_DOMAIN, inputs: [dLoss, pred, opts.loss.target], outputs: [dPred], attributes: new Map() });
    contribute(pred, dPred);
  }

  // Values that depend on a parameter need gradients.
  const requires = new Set(opts.params);
  for (const n of forward) {
    const rule = gradientRule(n.opType, n.domain);
    const flows = n.inputs.some((name, i) => requires.has(name) && (!rule || rule.differentiable === 'all' || rule.differentiable.includes(i)));
    if (flows) for (const o of n.outputs) if (o && shapes.get(o)?.dtype === 'float32') requires.add(o);
  }

  // Constant nodes' values, for rules that need a constant operand (Clip bounds, exponents).
  const constantNodes = new Map<string, Tensor>();
  for (const n of forward) {
    const v = n.opType === 'Constant' ? n.attributes.get('value') : undefined;
    if (v?.type === 'tensor') constantNodes.set(n.outputs[0], v.value);
  }

  /** The summed gradient of a value (Add nodes join multiple contributions). */
  const gradOf = (value: string): string | undefined => {
    const list = grads.get(value);
    if (!list || list.length === 0) return undefined;
    let acc = list[0];
    for (let i = 1; i < list.length; i++) {
      const sum = fresh(`grad/${value}/sum`);
      shapes.set(sum, { dtype: 'float32', dims: shapes.get(value)!.dims });
      nodes.push({ name: sum, opType: 'Add', domain: '', inputs: [acc, list[i]], outputs: [sum], attributes: new Map() });
      acc = sum;
    }
    grads.set(value, [acc]);
    return acc;
  };

  for (const n of [...forward].reverse()) {
    const outGrads = n.outputs.map((o) => (o && requires.has(o) ? gradOf(o) : undefined));
    if (outGrads.every((d) => d === undefined)) continue;
    const rule = gradientRule(n.opType, n.domain);
    if (!rule) throw new TypeError(`training: no gradient rule for op '${n.opType}' (node '${n.name}'), which lies between the parameters and the loss`);
    const ctx: GradContext = {
      node: n,
      opset: opts.opset,
      shape: (name) => {
        const s = shapes.get(name) ?? (g.initializers.has(name) ? { dtype: g.initializers.get(name)!.dtype, dims: [...g.initializers.get(name)!.dims] } : undefined);
        if (!s) throw new RangeError(`training: the shape of '${name}' (node '${n.name}') is unknown`);
        return s;
      },
      outGrad: (i) => outGrads[i],
      wants: (i) => {
        const name = n.inputs[i];
        return !!name && requires.has(name) && (rule.differentiable === 'all' || rule.differentiable.includes(i));
      },
      emit: (opType, inputs, outputs, dims, attrs = {}, domain = '') => {
        const names = outputs.map((o, i) => {
          if (o === false) return '';
          const name = fresh(`grad/${n.name}/${o}`);
          shapes.set(name, { dtype: 'float32', dims: dims[i] });
          return name;
        });
        nodes.push({ name: fresh(`grad/${n.name}/${opType}`), opType, domain, inputs, outputs: names, attributes: new Map(Object.entries(attrs)) });
        return names;
      },
      constant,
      give: (i, grad) => contribute(n.inputs[i], grad),
      constantValue: (name) => g.initializers.get(name) ?? constantNodes.get(name),
    };
    rule.build(ctx);
  }

  // Updates run last, after every reader of the old parameter values.
  const hasGrad = opts.params.filter((p) => grads.has(p));
  for (const p of hasGrad) {
    const grad = gradOf(p)!;
    const slotNames = opts.update.slots.map((slot) => {
      const key = `${p}::${slot}`;
      const t = opts.slotTensors.get(key);
      if (!t) throw new RangeError(`optimizer slot '${key}' was not created`);
      const name = `__nquant_slot/${p}/${slot}`;
      g.initializers.set(name, t);
      state.add(name);
      return name;
    });
    while (slotNames.length < opts.update.slotPositions) slotNames.push('');
    const outs = [`${p}__updated`, ...slotNames.map((s) => (s ? `${s}__updated` : ''))];
    updates.set(outs[0], p);
    slotNames.forEach((s, i) => { if (s) updates.set(outs[i + 1], s); });
    for (const o of outs) if (o) shapes.set(o, { dtype: 'float32', dims: shapes.get(p)?.dims ?? [...g.initializers.get(p)!.dims] });
    nodes.push({
      name: `update/${p}`, opType: opts.update.opType, domain: TRAIN_DOMAIN,
      inputs: [p, grad, ...slotNames, HYPER_FEED], outputs: outs, attributes: new Map(Object.entries(opts.update.attributes)),
    });
  }
  for (const p of opts.params) if (!shapes.has(p)) shapes.set(p, { dtype: 'float32', dims: [...g.initializers.get(p)!.dims] });

  g.nodes = nodes;
  g.outputs = [{ name: LOSS, dtype: 'float32', dims: [] }, { name: pred, dtype: 'float32', dims: predShape.dims }];
  fuseTrainingStep(g);
  return { graph: g, shapes, state: [...state], stateUpdates: updates, hyperFeed: HYPER_FEED, seedFeed: dropout ? SEED_FEED : undefined, lossOutput: LOSS };
}

