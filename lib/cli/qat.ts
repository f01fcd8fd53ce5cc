// quantize --mode qat: quantization-aware fine-tuning of a float classifier on labelled data
// (--data, --labels), then conversion to the INT8 model it trained for.
import type { QuantizedModel } from '../quant/quantized-model';
import type { Feeds, Model } from '../runtime/model';
import { ARRAY_TYPES, Tensor, TypedArray } from '../tensor';
import { fit } from '../train/fit';
import { adam } from '../train/optimizers';
import { convertQat, prepareQat } from '../train/qat';
import { CliError } from './errors';
import type { Progress } from './progress';

export interface QatCliOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  format?: 'qdq' | 'qoperator';
  perChannel?: boolean;
  nodesToExclude?: string[];
}

export interface QatSummary {
  epochs: number;
  samples: number;
  batchSize: number;
  lr: number;
  /** Mean training loss of each epoch. */
  loss: number[];
  /** Training accuracy of each epoch, on the batches as trained. */
  accuracy: number[];
}

/** Consecutive samples stacked along their first axis into batches of up to `size` rows. */
function stack(samples: Tensor[], dataPath: string): Tensor {
  const first = samples[0];
  const rest = first.dims.slice(1).join(',');
  const odd = samples.find((t) => t.dims.slice(1).join(',') !== rest || t.dtype !== first.dtype);
  if (odd) throw new CliError(`--data ${dataPath}: samples of dims [${first.dims.join(', ')}] and [${odd.dims.join(', ')}] cannot be batched together`);
  const rows = samples.reduce((n, t) => n + (t.dims[0] ?? 1), 0);
  const data = new ARRAY_TYPES[first.dtype](samples.reduce((n, t) => n + t.size, 0)) as TypedArray;
  let at = 0;
  for (const t of samples) {
    (data as unknown as { set(a: ArrayLike<unknown>, at: number): void }).set(t.data as ArrayLike<unknown>, at);
    at += t.size;
  }
  return new Tensor(first.dtype, data as never, [rows, ...first.dims.slice(1)]);
}

export async function trainQat(model: Model, feeds: Feeds[], labels: number[], dataPath: string, o: QatCliOptions, progress: Progress): Promise<{ quantized: QuantizedModel; summary: QatSummary }> {
  if (model.inputs.length !== 1) throw new CliError(`--mode qat: the model has ${model.inputs.length} inputs; QAT from the command line trains single-input classifiers`);
  const input = model.inputs[0].name;
  const samples = feeds.map((f) => f[input]);
  const rows = samples.reduce((n, t) => n + (t.dims[0] ?? 1), 0);
  if (labels.length !== rows) throw new CliError(`--labels: expected ${rows} class ids (one per sample row of --data ${dataPath}), received ${labels.length}`);
  const batches: { x: Tensor; y: Tensor }[] = [];
  let row = 0;
  for (let i = 0; i < samples.length;) {
    const group: Tensor[] = [];
    let n = 0;
    while (i < samples.length && (group.length === 0 || n + (samples[i].dims[0] ?? 1) <= o.batchSize)) {
      n += samples[i].dims[0] ?? 1;
      group.push(samples[i++]);
    }
    batches.push({ x: stack(group, dataPath), y: new Tensor('int64', BigInt64Array.from(labels.slice(row, row + n), (v) => BigInt(v)), [n]) });
    row += n;
  }
  const qat = prepareQat(model, { perChannel: o.perChannel, nodesToExclude: o.nodesToExclude });
  const summary: QatSummary = { epochs: o.epochs, samples: rows, batchSize: o.batchSize, lr: o.lr, loss: [], accuracy: [] };
  try {
    await fit(qat, batches, {
      epochs: o.epochs,
      optimizer: adam({ lr: o.lr }),
      seed: 1,
      onProgress: (p) => {
        if (p.batch === 1) progress.start(`QAT epoch ${p.epoch}/${p.epochs}`, p.batches ?? batches.length);
        progress.update(p.batch);
      },
      onEpochEnd: (m) => {
        summary.loss.push(m.loss);
        if (m.accuracy !== undefined) summary.accuracy.push(m.accuracy);
      },
    });
  } finally {
    progress.stop();
  }
  const quantized = await convertQat(qat, { format: o.format, calibration: batches.slice(0, 8).map((b) => ({ [input]: b.x })) });
  return { quantized, summary };
}
