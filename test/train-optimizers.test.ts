// Optimizers end to end: three steps of SGD (momentum, Nesterov, weight decay), Adam and
// AdamW through the step graph, against the PyTorch update rules written out in float64 here,
// on a model whose gradient is known in closed form: y = x·w, loss = mean((y − t)²).
import { buildModel } from '../lib/onnx/builder';
import { importModel } from '../lib/onnx/import';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { adam, adamw, Optimizer, sgd } from '../lib/train/optimizers';
import { TrainingSession } from '../lib/train/session';

const N = 3;
const K = 4;
const x = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i + 1));
const t = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i * 0.7));
const w0 = Float32Array.from({ length: K }, (_, i) => 0.5 - 0.3 * i);

function model(): Model {
  return new Model(importModel(buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [N, K] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [N, K] }],
    nodes: [{ opType: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }],
    initializers: { w: new Tensor('float32', Float32Array.from(w0), [K]) },
  })));
}

function gradient(w: number[]): number[] {
  return w.map((wj, j) => {
    let g = 0;
    for (let n = 0; n < N; n++) g += (2 * (x[n * K + j] * wj - t[n * K + j]) * x[n * K + j]) / (N * K);
    return g;
  });
}

type Reference = (w: number[], step: number, state: { [k: string]: number[] }) => number[];

const sgdRef = (lr: number, momentum: number, wd: number, nesterov: boolean): Reference => (w, _step, s) => {
  const g = gradient(w).map((gj, j) => gj + wd * w[j]);
  if (momentum === 0) return w.map((wj, j) => wj - lr * g[j]);
  s.v = s.v ? s.v.map((vj, j) => momentum * vj + g[j]) : g;
  return w.map((wj, j) => wj - lr * (nesterov ? g[j] + momentum * s.v[j] : s.v[j]));
};

const adamRef = (lr: number, wd: number, decoupled: boolean): Reference => (w, step, s) => {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const shrunk = decoupled ? w.map((wj) => wj * (1 - lr * wd)) : w;
  const g = gradient(w).map((gj, j) => gj + (decoupled ? 0 : wd * w[j]));
  s.m = (s.m ?? g.map(() => 0)).map((mj, j) => b1 * mj + (1 - b1) * g[j]);
  s.v = (s.v ?? g.map(() => 0)).map((vj, j) => b2 * vj + (1 - b2) * g[j] * g[j]);
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  return shrunk.map((wj, j) => wj - (lr / bc1) * s.m[j] / (Math.sqrt(s.v[j]) / Math.sqrt(bc2) + eps));
};

const CASES: [string, Optimizer, Reference][] = [
  ['sgd', sgd({ lr: 0.1 }), sgdRef(0.1, 0, 0, false)],
  ['sgd momentum + weight decay', sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }), sgdRef(0.1, 0.9, 0.01, false)],
  ['sgd nesterov', sgd({ lr: 0.05, momentum: 0.8, nesterov: true }), sgdRef(0.05, 0.8, 0, true)],
  ['adam', adam({ lr: 0.01 }), adamRef(0.01, 0, false)],
  ['adam + L2', adam({ lr: 0.01, weightDecay: 0.1 }), adamRef(0.01, 0.1, false)],
  ['adamw', adamw({ lr: 0.01, weightDecay: 0.1 }), adamRef(0.01, 0.1, true)],
];

describe('optimizer updates match the reference rules', () => {
  for (const [name, optimizer, reference] of CASES) {
    test(name, async () => {
      const m = model();
      const session = new TrainingSession(m, { optimizer, loss: 'mse', input: 'x', output: 'y' });
      let expected = Array.from(w0);
      const state = {};
      for (let step = 1; step <= 3; step++) {
        await session.step(new Tensor('float32', x, [N, K]), new Tensor('float32', t, [N, K]), optimizer.lr);
        expected = reference(expected, step, state);
        const got = m.ir.graph.initializers.get('w')!.data as Float32Array;
        expected.forEach((e, j) => expect(Math.abs(got[j] - e)).toBeLessThan(1e-5 + 1e-5 * Math.abs(e)));
      }
      session.dispose();
    });
  }
  test('bad settings name the option', () => {
    expect(() => sgd({ nesterov: true })).toThrow(/sgd\.nesterov/);
    expect(() => adam({ beta1: 1 })).toThrow(/adam\.beta1/);
    expect(() => adamw({ weightDecay: -1 })).toThrow(/adamw\.weightDecay/);
  });
});
