// fit(): mini-batch training of a Model in place, with shuffling, schedules, per-epoch metrics
// and progress; evaluate(): loss and accuracy of a model on a labelled set.
import { invalidRange, invalidType } from '../errors';
import type { Model } from '../runtime/model';
import { ARRAY_TYPES, Tensor, TypedArray } from '../tensor';
import type { LossKind } from './autograd';
import { adam, LrSchedule, Optimizer } from './optimizers';
import { Random } from './random';
import { TrainingSession } from './session';

/** A labelled set: x batched along dim 0, y one integer class id (or regression target) per row. */
export interface LabelledData {
  x: Tensor;
  y: Tensor;
}

export type TrainData = LabelledData | Iterable<LabelledData> | AsyncIterable<LabelledData>;

export interface FitProgress {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, and the total when known. */
  batch: number;
  batches?: number;
  loss: number;
  lr: number;
}

export interface EpochMetrics {
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  loss: number;
  /** Training accuracy (cross-entropy), on the batches as they were trained. */
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  lr: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  /** Default: adam({ lr: 1e-3 }). */
  optimizer?: Optimizer;
  /** Default 'softmaxCrossEntropy' (y = class ids); 'mse' for regression (y shaped like the output). */
  loss?: LossKind;
  lrSchedule?: LrSchedule;
  /** Reshuffle a whole-set {x, y} each epoch (default true). */
  shuffle?: boolean;
  /** Seeds shuffling and dropout (default 0). */
  seed?: number;
  validation?: LabelledData;
  /** Parameters to train (default all float32 weights): a filter on initializer names. */
  trainable?: (name: string) => boolean;
  /** Model input and output names (default: the only ones). */
  input?: string;
  output?: string;
  onProgress?: (p: FitProgress) => void;
  onEpochEnd?: (m: EpochMetrics) => void;
  /**
   * From this optimizer step on (0-based), BatchNormalization normalizes with its running
   * statistics and stops updating them (QAT's "freeze BN" step; fine-tuning on small batches).
   */
  freezeBatchNormAfter?: number;
  /** Transforms each training batch before the step (data augmentation, e.g. randomShift()). */
  augment?: (batch: LabelledData, random: () => number) => LabelledData;
}

export interface FitHistory {
  epochs: EpochMetrics[];
  /** Optimizer steps taken. */
  steps: number;
}

function isLabelled(d: unknown): d is LabelledData {
  return typeof d === 'object' && d !== null && (d as LabelledData).x instanceof Tensor && (d as LabelledData).y instanceof Tensor;
}

function checkPair(d: LabelledData, what: string): number {
  if (d.x.dims.length === 0) throw invalidRange(`${what}.x`, 'a tensor batched along dim 0', `dims [${d.x.dims}]`);
  const n = d.x.dims[0];
  if (d.y.dims.length === 0 || d.y.dims[0] !== n) throw invalidRange(`${what}.y`, `${n} rows like ${what}.x`, `dims [${d.y.dims}]`);
  if (d.x.dtype !== 'float32') throw invalidType(`${what}.x`, 'dtype float32', d.x.dtype);
  return n;
}

/** Rows [start, end) of t, or the rows listed in `order` from start to end. */
function rows(t: Tensor, order: Uint32Array | null, start: number, end: number): Tensor {
  const per = t.size / t.dims[0];
  const dims = [end - start, ...t.dims.slice(1)];
  if (!order) return new Tensor(t.dtype, (t.data as TypedArray).subarray(start * per, end * per) as never, dims);
  const out = new ARRAY_TYPES[t.dtype]((end - start) * per) as TypedArray;
  const src = t.data as TypedArray;
  for (let i = start; i < end; i++) {
    const from = order[i] * per;
    (out as Float32Array).set((src as Float32Array).subarray(from, from + per), (i - start) * per);
  }
  return new Tensor(t.dtype, out as never, dims);
}

function labelAt(y: Tensor, i: number): number {
  return Number((y.data as ArrayLike<number | bigint>)[i]);
}

/** Correct argmax predictions among the rows of [n, k] logits. */
export function countCorrect(logits: Tensor, y: Tensor): number {
  const [n, k] = logits.dims;
  const d = logits.data as Float32Array;
  let correct = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (d[r * k + c] > d[r * k + best]) best = c;
    if (best === labelAt(y, r)) correct++;
  }
  return correct;
}

/** Sum over rows of softmax cross-entropy (float64). */
function crossEntropySum(logits: Tensor, y: Tensor): number {
  const [n, k] = logits.dims;
  const d = logits.data as Float32Array;
  let total = 0;
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, d[r * k + c]);
    let s = 0;
    for (let c = 0; c < k; c++) s += Math.exp(d[r * k + c] - max);
    total += Math.log(s) + max - d[r * k + labelAt(y, r)];
  }
  return total;
}

export interface EvaluateOptions {
  batchSize?: number;
  loss?: LossKind;
  input?: string;
  output?: string;
}

/** Loss and (for classification) accuracy of a model on a labelled set, in inference mode. */
export async function evaluate(model: Model, data: LabelledData, opts: EvaluateOptions = {}): Promise<{ loss: number; accuracy?: number }> {
  const n = checkPair(data, 'data');
  const batch = opts.batchSize ?? 256;
  const input = opts.input ?? model.inputs[0].name;
  const output = opts.output ?? model.outputs[0].name;
  const loss = opts.loss ?? 'softmaxCrossEntropy';
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const out = (await model.run({ [input]: rows(data.x, null, start, end) }))[output];
    const yb = rows(data.y, null, start, end);
    if (loss === 'softmaxCrossEntropy') {
      lossSum += crossEntropySum(out, yb);
      correct += countCorrect(out, yb);
    } else {
      const p = out.data as Float32Array;
      const t = yb.data as Float32Array;
      for (let i = 0; i < p.length; i++) lossSum += ((p[i] - t[i]) ** 2) / (p.length / (end - start));
    }
  }
  return loss === 'softmaxCrossEntropy' ? { loss: lossSum / n, accuracy: correct / n } : { loss: lossSum / n };
}

async function* batchesOf(data: TrainData, batchSize: number, shuffle: boolean, rng: Random): AsyncGenerator<LabelledData> {
  if (isLabelled(data)) {
    const n = checkPair(data, 'data');
    let order: Uint32Array | null = null;
    if (shuffle) {
      order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      rng.shuffle(order);
    }
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      yield { x: rows(data.x, order, start, end), y: rows(data.y, order, start, end) };
    }
    return;
  }
  let i = 0;
  for await (const b of data as AsyncIterable<LabelledData>) {
    if (!isLabelled(b)) throw invalidType(`data batch ${i}`, 'a { x: Tensor, y: Tensor } batch', b);
    checkPair(b, `data batch ${i}`);
    i++;
    yield b;
  }
}

/**
 * Trains `model` in place: its weights (and BatchNormalization running statistics) are
 * updated, so run/save/toOnnx see the trained model afterwards.
 */
export async function fit(model: Model, data: TrainData, opts: FitOptions = {}): Promise<FitHistory> {
  const epochs = opts.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 1) throw invalidRange('opts.epochs', 'an integer >= 1', epochs);
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidRange('opts.batchSize', 'an integer >= 1', batchSize);
  if (typeof data !== 'object' || data === null || (!isLabelled(data) && !(Symbol.iterator in data) && !(Symbol.asyncIterator in data))) {
    throw invalidType('data', '{ x: Tensor, y: Tensor } or an (Async)Iterable of such batches', data);
  }
  const loss = opts.loss ?? 'softmaxCrossEntropy';
  const optimizer = opts.optimizer ?? adam();
  const input = opts.input ?? model.inputs[0]?.name;
  const output = opts.output ?? model.outputs[0]?.name;
  if (model.inputs.length !== 1 && !opts.input) throw invalidRange('opts.input', `one of the model inputs (${model.inputs.map((i) => i.name).join(', ')})`, 'none');
  if (model.outputs.length !== 1 && !opts.output) throw invalidRange('opts.output', `one of the model outputs (${model.outputs.map((i) => i.name).join(', ')})`, 'none');
  const rng = new Random(opts.seed ?? 0);
  if (opts.freezeBatchNormAfter !== undefined && !(Number.isInteger(opts.freezeBatchNormAfter) && opts.freezeBatchNormAfter >= 0)) {
    throw invalidRange('opts.freezeBatchNormAfter', 'an integer >= 0 (an optimizer step)', opts.freezeBatchNormAfter);
  }
  const session = new TrainingSession(model, { optimizer, loss, input, output, trainable: opts.trainable, freezeBatchNormAfter: opts.freezeBatchNormAfter });
  const perEpoch = isLabelled(data) ? Math.ceil(checkPair(data, 'data') / batchSize) : undefined;
  const history: FitHistory = { epochs: [], steps: 0 };
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const t0 = process.hrtime.bigint();
      let seen = 0;
      let lossSum = 0;
      let correct = 0;
      let batch = 0;
      let lr = optimizer.lr;
      for await (const b of batchesOf(data, batchSize, opts.shuffle ?? true, rng)) {
        lr = opts.lrSchedule ? opts.lrSchedule(optimizer.lr, { step: session.steps, epoch, totalSteps: (perEpoch ?? 0) * epochs }) : optimizer.lr;
        const batchData = opts.augment ? opts.augment(b, () => rng.next()) : b;
        const r = await session.step(batchData.x, batchData.y, lr, rng.int(2 ** 31));
        if (!Number.isFinite(r.loss)) throw new RangeError(`fit: the loss became ${r.loss} at epoch ${epoch + 1}, batch ${batch + 1} (learning rate ${lr}); lower the learning rate or check the data`);
        const n = b.x.dims[0];
        seen += n;
        lossSum += r.loss * n;
        if (loss === 'softmaxCrossEntropy') correct += countCorrect(r.prediction, b.y);
        batch++;
        opts.onProgress?.({ epoch: epoch + 1, epochs, batch, batches: perEpoch, loss: r.loss, lr });
      }
      if (seen === 0) throw invalidRange('data', 'at least one batch', 'an empty set');
      model.weightsChanged();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m: EpochMetrics = { epoch: epoch + 1, loss: lossSum / seen, lr, seconds, samplesPerSecond: seen / seconds };
      if (loss === 'softmaxCrossEntropy') m.accuracy = correct / seen;
      if (opts.validation) {
        const v = await evaluate(model, opts.validation, { loss, input, output });
        m.valLoss = v.loss;
        m.valAccuracy = v.accuracy;
      }
      history.epochs.push(m);
      opts.onEpochEnd?.(m);
    }
  } finally {
    history.steps = session.steps;
    session.dispose();
    model.weightsChanged();
  }
  return history;
}
