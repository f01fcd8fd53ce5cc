// One training run's native side: a step plan per batch size (forward, loss, backward and
// updates in one plan) over state arrays shared by all of them, so a step is one async
// native call and the event loop stays free.
import type { Binding } from '../../binding';
import { Graph } from '../graph/ir';
import { inferShapesForInputs } from '../graph/shape-inference';
import { native } from '../native';
import { buildPlan, ResolvedValue } from '../runtime/plan-builder';
import type { Model } from '../runtime/model';
import { DataType, Tensor, sizeOf } from '../tensor';
import { buildStepGraph, LossKind, StepGraph, trainableInitializers } from './autograd';
import type { Optimizer } from './optimizers';

export interface SessionOptions {
  optimizer: Optimizer;
  loss: LossKind;
  /** The model input the batches feed. */
  input: string;
  /** The model output the loss reads. */
  output: string;
  /** Which trainable initializers to update (default: all). */
  trainable?: (name: string) => boolean;
  /** From this optimizer step on (0-based), BatchNormalization runs on frozen running statistics. */
  freezeBatchNormAfter?: number;
}

interface CompiledStep {
  step: StepGraph;
  plan: Binding.Plan;
  inputNames: string[];
  outputDims: number[][];
  state: ArrayBufferView[];
}

export interface StepResult {
  loss: number;
  /** The prediction the loss was computed from (logits for cross-entropy). */
  prediction: Tensor<'float32'>;
}

const TARGET = '__nquant_target';

/**
 * Weights some exporters (paddle2onnx, for one) write as Constant nodes become initializers,
 * so they can be trained and updated in place; the model computes the same. Returns how many.
 */
export function constantNodesToInitializers(g: Graph): number {
  const outputs = new Set(g.outputs.map((o) => o.name));
  let moved = 0;
  g.nodes = g.nodes.filter((n) => {
    if (n.opType !== 'Constant' || (n.domain !== '' && n.domain !== 'ai.onnx') || n.outputs.length !== 1 || outputs.has(n.outputs[0])) return true;
    const v = n.attributes.get('value');
    if (v?.type !== 'tensor' || v.value.dtype !== 'float32') return true;
    g.initializers.set(n.outputs[0], new Tensor('float32', Float32Array.from(v.value.data as Float32Array), [...v.value.dims]));
    moved++;
    return false;
  });
  return moved;
}

export class TrainingSession {
  readonly params: string[];
  private readonly slots = new Map<string, Tensor>();
  private readonly plans = new Map<string, CompiledStep>();
  private t = 0;
  private disposed = false;

  constructor(private readonly model: Model, private readonly opts: SessionOptions) {
    const g = model.ir.graph;
    if (constantNodesToInitializers(g) > 0) model.weightsChanged();
    const filter = opts.trainable ?? (() => true);
    this.params = trainableInitializers(g).filter((p) => filter(p));
    if (this.params.length === 0) throw new RangeError('training: the model has no trainable float32 initializers (or the trainable filter excluded all)');
    const rule = opts.optimizer.updateRule();
    for (const p of this.params) {
      const t = g.initializers.get(p)!;
      if (!(t.data instanceof Float32Array)) throw new TypeError(`training: parameter '${p}' must be float32, it is ${t.dtype}`);
      for (const slot of rule.slots) this.slots.set(`${p}::${slot}`, new Tensor('float32', new Float32Array(t.size), [...t.dims]));
    }
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** One optimizer step on a batch; `lr` overrides the optimizer's base rate (schedules). */
  async step(x: Tensor, target: Tensor, lr: number, seed = 0): Promise<StepResult> {
    if (this.disposed) throw new Error('training session: already disposed');
    const compiled = this.compiled(x, target);
    this.t += 1;
    if (this.opts.freezeBatchNormAfter !== undefined && this.t === this.opts.freezeBatchNormAfter) this.dropPlans();
    const feeds: { [name: string]: ArrayBufferView } = {
      [this.opts.input]: x.data as ArrayBufferView,
      [TARGET]: target.data as ArrayBufferView,
      [compiled.step.hyperFeed]: this.opts.optimizer.hyper(this.t, lr),
    };
    if (compiled.step.seedFeed) feeds[compiled.step.seedFeed] = BigInt64Array.of(BigInt(seed));
    const inputs = compiled.inputNames.map((n) => {
      const v = feeds[n];
      if (!v) throw new RangeError(`training: the step graph needs input '${n}', which is not fed (only '${this.opts.input}' is)`);
      return v;
    });
    const loss = new Float32Array(1);
    const prediction = new Float32Array(sizeOf(compiled.outputDims[1]));
    await native.runPlan(compiled.plan, inputs, [loss, prediction], true, compiled.state);
    return { loss: loss[0], prediction: new Tensor('float32', prediction, compiled.outputDims[1]) };
  }

  dispose(): void {
    this.dropPlans();
    this.disposed = true;
  }

  private dropPlans(): void {
    for (const c of this.plans.values()) c.plan.dispose();
    this.plans.clear();
  }

  private compiled(x: Tensor, target: Tensor): CompiledStep {
    const frozen = this.opts.freezeBatchNormAfter !== undefined && this.t >= this.opts.freezeBatchNormAfter;
    const key = JSON.stringify([x.dims, target.dims, target.dtype, frozen]);
    const cached = this.plans.get(key);
    if (cached) return cached;
    const model = this.model;
    const g = model.ir.graph;
    const inputDims: { [name: string]: number[] } = { [this.opts.input]: [...x.dims] };
    for (const i of g.feedInputs) if (!(i.name in inputDims)) throw new RangeError(`training: model input '${i.name}' is not fed; only single-input models train with fit()`);
    const concrete = inferShapesForInputs(g, inputDims, model.ir.meta.opsets);
    const shapes = new Map<string, ResolvedValue>();
    for (const [name, v] of concrete) shapes.set(name, { dtype: v.dtype, dims: v.dims });
    shapes.set(TARGET, { dtype: target.dtype as DataType, dims: [...target.dims] });
    const step = buildStepGraph({
      forward: g,
      opset: model.opset,
      shapes,
      params: this.params,
      loss: { kind: this.opts.loss, prediction: this.opts.output, target: TARGET, targetDtype: target.dtype },
      update: this.opts.optimizer.updateRule(),
      slotTensors: this.slots,
      frozenBatchNorm: frozen,
    });
    const built = buildPlan(step.graph, step.shapes, { opset: model.opset, state: step.state, stateUpdates: step.stateUpdates });
    const compiled: CompiledStep = {
      step,
      plan: native.createPlan(built.spec),
      inputNames: built.inputNames,
      outputDims: built.outputValues.map((v) => v.dims),
      state: step.state.map((n) => step.graph.initializers.get(n)!.data as ArrayBufferView),
    };
    this.plans.set(key, compiled);
    return compiled;
  }
}
