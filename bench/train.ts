// `npm run bench -- train`: training throughput of the tutorial CNN (Conv 32 3x3 relu ->
// MaxPool -> Dense 128 relu -> Dense 10, softmax cross-entropy, Adam), batch 64, forward +
// backward + update, at 1 and 2 threads; PyTorch (a subprocess, where installed) and TF.js
// (in process, pure-JS CPU backend) train the same model on the same images.
import { setThreads, getThreads } from '../lib/cpu';
import { Tensor } from '../lib/tensor';
import { layers } from '../lib/train/layers';
import { sequential } from '../lib/train/sequential';
import { adam } from '../lib/train/optimizers';
import { TrainingSession } from '../lib/train/session';
import { loadFashionMnist } from '../lib/train/datasets';
import { tfjsTrainThroughput, torchTrainThroughput } from './train-peers';

export interface TrainRow {
  threads: number;
  oursImagesPerSecond: number;
  torchImagesPerSecond?: number;
  torchNote?: string;
  torchVersion?: string;
  tfjsImagesPerSecond?: number;
}

export function tutorialCnn(seed = 0) {
  return sequential([
    layers.conv2d({ filters: 32, kernel: 3, activation: 'relu', inputShape: [1, 28, 28] }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed });
}

async function oursThroughput(x: Float32Array, y: Int32Array, batch: number, steps: number, warmup: number): Promise<number> {
  const net = tutorialCnn();
  const session = new TrainingSession(net, { optimizer: adam(), loss: 'softmaxCrossEntropy', input: 'input', output: 'output' });
  const n = y.length;
  const batches = Math.floor(n / batch);
  const xs = Array.from({ length: batches }, (_, b) => new Tensor('float32', x.subarray(b * batch * 784, (b + 1) * batch * 784), [batch, 1, 28, 28]));
  const ys = Array.from({ length: batches }, (_, b) => new Tensor('int64', BigInt64Array.from(y.subarray(b * batch, (b + 1) * batch), BigInt), [batch]));
  try {
    for (let i = 0; i < warmup; i++) await session.step(xs[i % batches], ys[i % batches], 1e-3);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) await session.step(xs[i % batches], ys[i % batches], 1e-3);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return (steps * batch) / seconds;
  } finally {
    session.dispose();
  }
}

export async function benchTrain(quick: boolean, log: (s: string) => void): Promise<TrainRow[]> {
  const batch = 64;
  const steps = quick ? 30 : 150;
  const warmup = 5;
  const { x, y } = await loadFashionMnist({ split: 'train', limit: 6400 });
  const labels = Int32Array.from(y.data as BigInt64Array, Number);
  const images = x.data as Float32Array;
  const before = getThreads();
  const rows: TrainRow[] = [];
  try {
    for (const threads of [1, 2]) {
      setThreads(threads);
      const ours = await oursThroughput(images, labels, batch, steps, warmup);
      const torch = await torchTrainThroughput(images, labels, { threads, batchSize: batch, steps, warmup });
      const row: TrainRow = { threads, oursImagesPerSecond: ours };
      if ('unavailable' in torch) row.torchNote = torch.unavailable;
      else {
        row.torchImagesPerSecond = torch.imagesPerSecond;
        row.torchVersion = torch.version;
      }
      rows.push(row);
      log(`${threads} thread(s): nquant ${ours.toFixed(0)} img/s, PyTorch ${row.torchImagesPerSecond?.toFixed(0) ?? `unavailable (${row.torchNote})`}` +
        `${row.torchImagesPerSecond ? `, nquant/PyTorch ${(ours / row.torchImagesPerSecond).toFixed(2)}x` : ''}`);
    }
  } finally {
    setThreads(before);
  }
  // TF.js last: its tensors and heap would otherwise be in the process while ours run.
  const tfjs = await tfjsTrainThroughput(images, labels, { batchSize: batch, steps: quick ? 3 : 8, warmup: 1 });
  log(`tfjs (pure-JS CPU backend, one thread): ${tfjs.imagesPerSecond.toFixed(1)} img/s; nquant/TF.js ${rows.map((r) => `${(r.oursImagesPerSecond / tfjs.imagesPerSecond).toFixed(0)}x at ${r.threads} thread(s)`).join(', ')}`);
  for (const r of rows) r.tfjsImagesPerSecond = tfjs.imagesPerSecond;
  return rows;
}
