// Magnitude pruning: exact unstructured sparsity, 2:4 groups along each dot product, masks that
// hold through training steps, and a polynomial schedule that fit() drives step by step.
import * as ort from 'onnxruntime-node';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { fit } from '../lib/train/fit';
import { adam, sgd } from '../lib/train/optimizers';
import { loadMnistDigits } from '../lib/train/datasets';
import { buildModel } from '../lib/onnx/builder';
import { importModel } from '../lib/onnx/import';
import { polynomialSparsity, prune, PrunedModel, sparsityOf, stripPruning } from '../lib/compress/prune';
import { firstRows, smallDigitCnn } from './helpers/digits';

const digits = firstRows(loadMnistDigits({ split: 'train' }), 512);

const WEIGHTS = ['conv.weight_0', 'dense.weight_0', 'dense.weight_1'];

function weightOf(m: Model, name: string): Float32Array {
  return m.ir.graph.initializers.get(name)!.data as Float32Array;
}

test('unstructured pruning hits the requested sparsity exactly, per tensor, on the smallest weights', () => {
  const net = smallDigitCnn();
  for (const sparsity of [0.3, 0.8, 0.95]) {
    const pruned = stripPruning(prune(net, { sparsity }));
    for (const name of WEIGHTS) {
      const w = weightOf(pruned, name);
      const original = weightOf(net, name);
      const zeros = w.reduce((s, v) => s + (v === 0 ? 1 : 0), 0);
      expect(zeros).toBe(Math.round(sparsity * w.length));
      // Every survivor is at least as large as every pruned weight, and unchanged.
      let minKept = Infinity;
      let maxPruned = 0;
      let changed = 0;
      w.forEach((v, i) => {
        if (v === 0) maxPruned = Math.max(maxPruned, Math.abs(original[i]));
        else {
          minKept = Math.min(minKept, Math.abs(v));
          if (v !== original[i]) changed++;
        }
      });
      expect(changed).toBe(0);
      expect(maxPruned).toBeLessThanOrEqual(minKept);
    }
  }
  // Only the chosen layers; the biases never.
  const some = stripPruning(prune(net, { sparsity: 0.5, layers: ['dense*'] }));
  expect(sparsityOf(some.ir.graph.initializers.get('conv.weight_0') as Tensor<'float32'>)).toBe(0);
  expect(sparsityOf(some.ir.graph.initializers.get('dense.bias_0') as Tensor<'float32'>)).toBe(0);
  expect(() => prune(net, { sparsity: 1 })).toThrow(/opts.sparsity/);
  expect(() => prune(net, { structure: '2:4', sparsity: 0.7 })).toThrow(/opts.sparsity/);
});

test('2:4 pruning: every four neighbours along a dot product keep their two largest', () => {
  const net = smallDigitCnn();
  const pruned = stripPruning(prune(net, { structure: '2:4' }));
  // Dense weights are [units, inputs] (transB): a row is one dot product, groups are contiguous.
  // Counts the groups breaking a rule (asserting per group would dominate the test's time).
  const check = (w: Float32Array, original: Float32Array, rows: number, length: number): void => {
    let groups = 0;
    let tooFewZeros = 0;
    let wrongCount = 0;
    let keptSmaller = 0;
    for (let r = 0; r < rows; r++) {
      for (let s = 0; s < length; s += 4) {
        const m = Math.min(4, length - s);
        const group = Array.from({ length: m }, (_, j) => r * length + s + j);
        const zeros = group.filter((i) => w[i] === 0).length;
        groups++;
        if (m === 4 && zeros < 2) tooFewZeros++;
        if (zeros !== Math.floor(m / 2)) wrongCount++;
        const kept = group.filter((i) => w[i] !== 0).map((i) => Math.abs(original[i]));
        const dropped = group.filter((i) => w[i] === 0).map((i) => Math.abs(original[i]));
        if (dropped.length > 0 && Math.max(...dropped) > Math.min(...kept)) keptSmaller++;
      }
    }
    expect(groups).toBe(rows * Math.ceil(length / 4));
    expect({ tooFewZeros, wrongCount, keptSmaller }).toEqual({ tooFewZeros: 0, wrongCount: 0, keptSmaller: 0 });
  };
  check(weightOf(pruned, 'dense.weight_0'), weightOf(net, 'dense.weight_0'), 32, 1352);
  check(weightOf(pruned, 'dense.weight_1'), weightOf(net, 'dense.weight_1'), 10, 32);
  // Conv [8, 1, 3, 3]: a filter is one dot product of 9: groups of 4, 4 and a last single.
  check(weightOf(pruned, 'conv.weight_0'), weightOf(net, 'conv.weight_0'), 8, 9);

  // MatMul [K, N]: the dot products run down the columns.
  const k = 8;
  const n = 3;
  const wm = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 1.7) + (i % 5) * 0.01);
  const mm = new Model(importModel(buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [2, k] }], outputs: [{ name: 'y', dtype: 'float32', dims: [2, n] }],
    nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }], initializers: { w: new Tensor('float32', wm, [k, n]) }, opset: 17,
  })));
  const pm = weightOf(stripPruning(prune(mm, { structure: '2:4' })), 'w');
  for (let c = 0; c < n; c++) {
    for (let s = 0; s < k; s += 4) expect([0, 1, 2, 3].filter((j) => pm[(s + j) * n + c] === 0).length).toBe(2);
  }
});

test('the mask survives training: pruned weights stay zero, the others train; onnxruntime runs the export', async () => {
  const net = smallDigitCnn(2);
  const pruned = prune(net, { sparsity: 0.75 });
  expect(pruned).toBeInstanceOf(PrunedModel);
  const zerosAt = WEIGHTS.map((name) => Float32Array.from(weightOf(stripPruning(pruned), name), (v) => (v === 0 ? 1 : 0)));
  const keptBefore = Float32Array.from(weightOf(pruned, 'dense.weight_0'));
  const history = await fit(pruned, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }), onProgress: pruned.onStep });
  expect(history.steps).toBe(8);
  expect(pruned.steps).toBe(8);
  const after = stripPruning(pruned);
  WEIGHTS.forEach((name, li) => {
    const w = weightOf(after, name);
    expect(w.filter((v, i) => zerosAt[li][i] === 1 && v !== 0).length).toBe(0);
    expect(w.reduce((s, v) => s + (v === 0 ? 1 : 0), 0)).toBe(Math.round(0.75 * w.length));
  });
  // The stored weights themselves (not just the masked copies) stayed zero: training never
  // sent them a gradient, so Adam's moments there stayed zero too.
  WEIGHTS.forEach((name, li) => {
    expect(weightOf(pruned, name).filter((v, i) => zerosAt[li][i] === 1 && v !== 0).length).toBe(0);
  });
  // Survivors moved.
  const trained = weightOf(after, 'dense.weight_0');
  expect(trained.some((v, i) => v !== 0 && v !== keptBefore[i])).toBe(true);
  // toOnnx writes the pruned weights without the mask nodes.
  const bytes = pruned.toOnnx();
  expect(importModel(bytes).graph.nodes.some((n) => n.opType === 'Mul')).toBe(false);
  const x = firstRows(digits, 4).x;
  const ours = (await pruned.run({ input: x })).output.data as Float32Array;
  const session = await ort.InferenceSession.create(bytes);
  const theirs = (await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, [...x.dims]) })).output.data as Float32Array;
  expect(Math.max(...ours.map((v, i) => Math.abs(v - theirs[i])))).toBeLessThan(1e-4);
});

test('polynomial schedule: sparsity rises at the scheduled steps during fit and ends exact', async () => {
  const schedule = { kind: 'polynomial' as const, begin: 2, end: 14, frequency: 4 };
  const full = { ...schedule, initialSparsity: 0, power: 3 };
  expect(polynomialSparsity(full, 0.9, 0)).toBe(0);
  expect(polynomialSparsity(full, 0.9, 8)).toBeCloseTo(0.9 - 0.9 * 0.5 ** 3, 10);
  expect(polynomialSparsity(full, 0.9, 20)).toBe(0.9);
  const pruned = prune(smallDigitCnn(3), { sparsity: 0.9, schedule });
  expect(pruned.maskSparsity()).toBe(0);
  const seen: number[] = [];
  // Plain SGD: a weight without gradient does not move, so stored weights that are zero where
  // the mask is zero at the end show that each step trained through the mask of that moment.
  await fit(pruned, digits, {
    epochs: 2, batchSize: 32, optimizer: sgd({ lr: 0.05 }),
    onProgress: () => { pruned.onStep(); seen.push(pruned.maskSparsity()); },
  });
  expect(seen.length).toBe(32);
  // Steps 1: none yet; 2, 6, 10: updates; 14: the final sparsity.
  expect(seen[0]).toBe(0);
  const at = (step: number): number => seen[step - 1];
  for (const step of [2, 6, 10, 14]) {
    const want = polynomialSparsity(full, 0.9, step);
    expect(Math.abs(at(step) - want)).toBeLessThan(0.001);
    expect(at(step + 1)).toBe(at(step));
  }
  expect(at(6)).toBeGreaterThan(at(2));
  expect(at(10)).toBeGreaterThan(at(6));
  const final = stripPruning(pruned);
  for (const [li, name] of WEIGHTS.entries()) {
    const w = weightOf(final, name);
    expect(w.reduce((s, v) => s + (v === 0 ? 1 : 0), 0)).toBe(Math.round(0.9 * w.length));
    const mask = pruned.ir.graph.initializers.get(pruned.pruning.layers[li].mask)!.data as Float32Array;
    expect(pruned.pruning.layers[li].weight).toBe(name);
    expect(weightOf(pruned, name).filter((v, i) => mask[i] === 0 && v !== 0).length).toBe(0);
  }
});
