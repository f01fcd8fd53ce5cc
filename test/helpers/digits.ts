// Small labelled sets and the small digit CNN the training and compression suites share.
import { Tensor } from '../../lib/tensor';
import { Model } from '../../lib/runtime/model';
import { layers } from '../../lib/train/layers';
import { sequential } from '../../lib/train/sequential';

/** The first n samples of a labelled set (float32 x, int64 class ids). */
export function firstRows(d: { x: Tensor; y: Tensor }, n: number): { x: Tensor; y: Tensor } {
  const per = d.x.size / d.x.dims[0];
  return {
    x: new Tensor('float32', (d.x.data as Float32Array).slice(0, n * per), [n, ...d.x.dims.slice(1)]),
    y: new Tensor('int64', (d.y.data as BigInt64Array).slice(0, n), [n]),
  };
}

/** Conv 8 3x3 relu -> MaxPool -> Dense 32 relu -> Dense 10: quick to train on a few hundred digits. */
export function smallDigitCnn(seed = 1): Model {
  return sequential([
    layers.conv2d({ filters: 8, kernel: 3, activation: 'relu', inputShape: [1, 28, 28] }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 32, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed });
}
