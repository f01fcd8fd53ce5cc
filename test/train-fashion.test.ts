// The Fashion-MNIST comparison of examples/train-fashion.ts, small enough for the suite: the
// residual Conv-BN-ReLU network trains on 4,000 images, then static INT8 (per channel, each
// calibration method) and QAT are compared on 1,000 test images, then PTQ and QAT on a 3-bit
// weight grid, where QAT must recover at least half of what PTQ loses. A broken gradient, a bad
// fold or a wrong calibration shows as a collapse in these numbers.
import { residualCnn } from '../examples/train-fashion';
import { loadFashionMnist } from '../lib/train/datasets';
import { evaluate, fit } from '../lib/train/fit';
import { adam, cosineLr } from '../lib/train/optimizers';
import { convertQat, prepareQat } from '../lib/train/qat';
import { quantizeStatic } from '../lib/quant/static';
import { CalibrationMethod } from '../lib/quant/calibration/observers';
import { Tensor } from '../lib/tensor';

test('residual CNN on Fashion-MNIST: FP32, static INT8 per calibration method, QAT', async () => {
  const train = await loadFashionMnist({ split: 'train', limit: 4000 });
  const heldOut = await loadFashionMnist({ split: 'test', limit: 1000 });
  const net = residualCnn(1);
  await fit(net, train, { epochs: 2, batchSize: 64, optimizer: adam({ lr: 2e-3 }), lrSchedule: cosineLr(), seed: 1 });
  const fp32 = (await evaluate(net, heldOut)).accuracy!;
  const calibration = Array.from({ length: 4 }, (_, i) => ({
    input: new Tensor('float32', (train.x.data as Float32Array).slice(i * 64 * 784, (i + 1) * 64 * 784), [64, 1, 28, 28]),
  }));
  const results: string[] = [`FP32 ${(fp32 * 100).toFixed(1)}%`];
  for (const method of ['minmax', 'percentile', 'entropy', 'mse'] as CalibrationMethod[]) {
    const int8 = await quantizeStatic(net, calibration, { method, perChannel: true });
    const acc = (await evaluate(int8, heldOut)).accuracy!;
    results.push(`${method} ${(acc * 100).toFixed(1)}%`);
    expect(fp32 - acc).toBeLessThan(0.02);
  }
  const qat = prepareQat(net);
  expect(qat.qat.weights.filter((w) => w.foldedBatchNorm).length).toBe(4);
  await fit(qat, train, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 1e-4 }), seed: 2 });
  const simulated = (await evaluate(qat, heldOut)).accuracy!;
  const converted = (await evaluate(await convertQat(qat), heldOut)).accuracy!;
  results.push(`QAT ${(converted * 100).toFixed(1)}% (simulated ${(simulated * 100).toFixed(1)}%)`);
  // A 3-bit weight grid: post-training rounding costs points there, and QAT must win back at
  // least half of them.
  const ptqW3 = (await evaluate(await quantizeStatic(net, calibration, { method: 'minmax', perChannel: true, weightBits: 3 }), heldOut)).accuracy!;
  const qatW3Model = prepareQat(net, { weightBits: 3 });
  await fit(qatW3Model, train, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 1e-4 }), seed: 2 });
  const qatW3 = (await evaluate(await convertQat(qatW3Model), heldOut)).accuracy!;
  results.push(`PTQ W3 ${(ptqW3 * 100).toFixed(1)}%`, `QAT W3 ${(qatW3 * 100).toFixed(1)}%`);
  console.log(`Fashion-MNIST, 4,000 train / 1,000 test: ${results.join(', ')}`);
  expect(fp32 - ptqW3).toBeGreaterThan(0.01);
  expect(qatW3 - ptqW3).toBeGreaterThanOrEqual((fp32 - ptqW3) / 2);
  expect(fp32).toBeGreaterThan(0.75);
  expect(Math.abs(converted - simulated)).toBeLessThanOrEqual(0.006);
  expect(fp32 - converted).toBeLessThan(0.02);
});
