// Weight clustering: k-means codebooks + uint8 indices behind a Gather that onnxruntime runs
// too, the Gather's gradient (a scatter-add into the codebook) against finite differences,
// cluster-preserving fine-tuning, sparsity-preserving clustering, and the compact format's
// lossless round trip.
import * as ort from 'onnxruntime-node';
import { buildModel } from '../lib/onnx/builder';
import { importModel } from '../lib/onnx/import';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { evaluate, fit } from '../lib/train/fit';
import { adam, sgd } from '../lib/train/optimizers';
import { TrainingSession } from '../lib/train/session';
import { Random } from '../lib/train/random';
import { loadMnistDigits } from '../lib/train/datasets';
import { clusterWeights, ClusteredModel, decodeClusteredWeight, distinctValues, fineTuneClustered, materializeClusters } from '../lib/compress/cluster';
import { quantizeCodebooks } from '../lib/compress/cluster-quantize';
import { compactReport, packBits, packCompact, unpackBits, unpackCompact } from '../lib/compress/compact-format';
import { float16BitsToNumber, float32ToFloat16Bits } from '../lib/numeric';
import { prune, stripPruning } from '../lib/compress/prune';
import { firstRows, smallDigitCnn } from './helpers/digits';

const digits = firstRows(loadMnistDigits({ split: 'train' }), 600);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('clusterWeights: every clustered weight takes exactly `clusters` values; onnxruntime runs the export and agrees', async () => {
  const net = smallDigitCnn();
  await fit(net, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }) });
  for (const init of ['kmeans++', 'linear', 'density'] as const) {
    const clustered = await clusterWeights(net, { clusters: 16, init });
    expect(clustered.clustering.map((l) => l.weight)).toEqual(['conv.weight_0', 'dense.weight_0', 'dense.weight_1']);
    for (const layer of clustered.clustering) {
      const w = decodeClusteredWeight(clustered, layer);
      expect(distinctValues(w)).toBe(16);
      expect(clustered.ir.graph.initializers.get(layer.indices)!.dtype).toBe('uint8');
      expect(clustered.ir.graph.initializers.has(layer.weight)).toBe(false);
      // Every weight sits on its nearest centroid: no worse than 16 even steps over a uniform spread.
      const original = net.ir.graph.initializers.get(layer.weight)!.data as Float32Array;
      expect(layer.rmse!).toBeLessThan(0.1 * Math.sqrt(original.reduce((s, v) => s + v * v, 0) / original.length));
    }
    const x = firstRows(digits, 16).x;
    const ours = (await clustered.run({ input: x })).output.data as Float32Array;
    const session = await ort.InferenceSession.create(clustered.toOnnx());
    const theirs = (await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, [...x.dims]) })).output.data as Float32Array;
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-4);
    // The codebook lookup on every run (the graph as exported) computes the same as decoding at load.
    expect(clustered.execution).toBe('decode');
    const lookup = (await clustered.withExecution('lookup').run({ input: x })).output.data as Float32Array;
    expect(maxAbsDiff(ours, lookup)).toBeLessThan(1e-5);
    const dense = (await materializeClusters(clustered).run({ input: x })).output.data as Float32Array;
    expect(maxAbsDiff(ours, dense)).toBe(0);
  }
  // The original model is untouched.
  expect(distinctValues(net.ir.graph.initializers.get('dense.weight_0') as Tensor<'float32'>)).toBeGreaterThan(1000);
  await expect(clusterWeights(net, { clusters: 1 })).rejects.toThrow(/opts.clusters/);
  await expect(clusterWeights(net, { clusters: 8, layers: ['nope*'] })).rejects.toThrow(/opts.layers/);
});

test('Gather gradient: d loss / d codebook matches central finite differences', async () => {
  const r = new Random(3);
  const k = 5;
  const indices = Uint8Array.from({ length: 6 * 4 }, (_, i) => (i * 7 + 3) % k);
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [3, 6] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [3, 4] }],
    nodes: [
      { opType: 'Cast', inputs: ['idx'], outputs: ['idx32'], attributes: { to: 6 } },
      { opType: 'Gather', inputs: ['codebook', 'idx32'], outputs: ['w'], attributes: { axis: 0 } },
      { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['h'] },
      { opType: 'Tanh', inputs: ['h'], outputs: ['y'] },
    ],
    initializers: {
      codebook: new Tensor('float32', Float32Array.from({ length: k }, () => r.uniform(-1, 1)), [k]),
      idx: new Tensor('uint8', indices, [6, 4]),
    },
    opset: 17,
  });
  const model = new Model(importModel(bytes));
  const x = new Tensor('float32', Float32Array.from({ length: 18 }, () => r.uniform(-1, 1)), [3, 6]);
  const target = new Tensor('float32', Float32Array.from({ length: 12 }, () => r.uniform(-1, 1)), [3, 4]);
  const session = new TrainingSession(model, { optimizer: sgd({ lr: 1 }), loss: 'mse', input: 'x', output: 'y' });
  try {
    expect(session.params).toEqual(['codebook']);
    const cb = model.ir.graph.initializers.get('codebook')!.data as Float32Array;
    const before = Float32Array.from(cb);
    await session.step(x, target, 1);
    const grad = Float32Array.from(cb, (v, j) => before[j] - v);
    cb.set(before);
    const h = 1e-3;
    for (let j = 0; j < k; j++) {
      cb[j] = before[j] + h;
      const up = (await session.step(x, target, 0)).loss;
      cb[j] = before[j] - h;
      const down = (await session.step(x, target, 0)).loss;
      cb[j] = before[j];
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(grad[j] - numeric)).toBeLessThanOrEqual(2e-3 + 2e-2 * Math.abs(numeric));
    }
    expect(grad.some((g) => Math.abs(g) > 1e-3)).toBe(true);
  } finally {
    session.dispose();
  }
});

test('fineTuneClustered: the loss falls and every layer keeps exactly its clusters', async () => {
  const net = smallDigitCnn(2);
  await fit(net, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }) });
  // Few clusters so that clustering costs accuracy and fine-tuning has something to win back.
  const clustered = await clusterWeights(net, { clusters: 4 });
  const before = (await evaluate(clustered, digits)).loss;
  const codebook = Float32Array.from(clustered.ir.graph.initializers.get(clustered.clustering[1].codebook)!.data as Float32Array);
  const history = await fineTuneClustered(clustered, digits, { epochs: 2, batchSize: 64, optimizer: adam({ lr: 1e-3 }) });
  expect(history.steps).toBe(20);
  const after = (await evaluate(clustered, digits)).loss;
  expect(after).toBeLessThan(before);
  // The centroids moved; the indices did not, so each layer still has exactly 4 values.
  expect(maxAbsDiff(codebook, clustered.ir.graph.initializers.get(clustered.clustering[1].codebook)!.data as Float32Array)).toBeGreaterThan(0);
  for (const layer of clustered.clustering) expect(distinctValues(decodeClusteredWeight(clustered, layer))).toBe(4);
});

test('sparsity-preserving clustering: pruned zeros stay one exact cluster through fine-tuning', async () => {
  const net = smallDigitCnn(3);
  await fit(net, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }) });
  const pruned = stripPruning(prune(net, { sparsity: 0.7 }));
  const clustered = await clusterWeights(pruned, { clusters: 8 });
  for (const layer of clustered.clustering) {
    expect(layer.zeroCluster).toBeGreaterThanOrEqual(0);
    const original = pruned.ir.graph.initializers.get(layer.weight)!.data as Float32Array;
    const zerosBefore = original.reduce((s, v) => s + (v === 0 ? 1 : 0), 0);
    const w = decodeClusteredWeight(clustered, layer);
    expect(distinctValues(w)).toBe(8);
    expect(w.data.reduce((s, v) => s + (v === 0 ? 1 : 0), 0)).toBe(zerosBefore);
  }
  await fineTuneClustered(clustered, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 1e-3 }) });
  for (const layer of clustered.clustering) {
    const cb = clustered.ir.graph.initializers.get(layer.codebook)!.data as Float32Array;
    expect(cb[layer.zeroCluster]).toBe(0);
    expect(cb.filter((v) => v === 0).length).toBe(1);
    expect(distinctValues(decodeClusteredWeight(clustered, layer))).toBe(8);
  }
});

test('compact format: exact round trip, sparse clustered storage, narrowed codebooks', async () => {
  const net = smallDigitCnn(4);
  await fit(net, digits, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }) });
  const x = firstRows(digits, 8).x;
  const run = async (m: Model): Promise<Float32Array> => (await m.run({ input: x })).output.data as Float32Array;

  const fp32Packed = packCompact(net);
  expect(maxAbsDiff(await run(unpackCompact(fp32Packed)), await run(net))).toBe(0);

  // Without zeros: every index at log2(16) = 4 bits, after a float32 codebook.
  const denseClustered = await clusterWeights(net, { clusters: 16 });
  const denseReport = compactReport(denseClustered).tensors.find((t) => t.name === 'dense.weight_0')!;
  expect(denseReport.encoding).toBe('clustered k=16: float32 codebook, 4-bit indices');
  expect(denseReport.bytes).toBe(16 * 4 + 43264 / 2);
  expect(maxAbsDiff(await run(unpackCompact(packCompact(denseClustered))), await run(denseClustered))).toBe(0);
  // In ONNX the indices are uint8: one byte per weight.
  expect(denseClustered.toOnnx().byteLength).toBeGreaterThan(43264 + 72 + 320);
  expect(denseClustered.toOnnx().byteLength).toBeLessThan(net.toOnnx().byteLength / 3.5);

  const pruned = stripPruning(prune(net, { sparsity: 0.8 }));
  const clustered = await clusterWeights(pruned, { clusters: 16 });
  const quantized = quantizeCodebooks(clustered, { codebook: 'int8', otherWeights: 'float16' });
  for (const m of [clustered, quantized]) {
    const bytes = packCompact(m);
    const back = unpackCompact(bytes);
    expect(back).toBeInstanceOf(ClusteredModel);
    expect(maxAbsDiff(await run(back), await run(m))).toBe(0);
  }
  const report = compactReport(quantized);
  const dense = report.tensors.find((t) => t.name === 'dense.weight_0')!;
  expect(dense.encoding).toBe('clustered k=16: int8 codebook, bitmask + 4-bit indices of nonzeros');
  // 15 int8 centroids + a bit per weight + 4 bits per nonzero (20% of them).
  const n = 32 * 13 * 13 * 8;
  expect(dense.bytes).toBe(15 + Math.ceil(n / 8) + Math.ceil((n - Math.round(0.8 * n)) * 4 / 8));
  expect(report.tensors.find((t) => t.name === 'dense.bias_0')!.encoding).toBe('dense float16');
  expect(report.totalBytes).toBe(report.headerBytes + report.skeletonBytes + report.tensors.reduce((s, t) => s + t.bytes, 0));
  expect(report.totalBytes * 10).toBeLessThan(fp32Packed.byteLength);
});

test('bit packing and float16 helpers', () => {
  const values = Uint8Array.from({ length: 37 }, (_, i) => (i * 5) % 16);
  expect(Array.from(unpackBits(packBits(values, 37, 4), 37, 4))).toEqual(Array.from(values));
  expect(packBits(values, 37, 4).byteLength).toBe(19);
  const three = Uint8Array.from({ length: 11 }, (_, i) => i % 8);
  expect(Array.from(unpackBits(packBits(three, 11, 3), 11, 3))).toEqual(Array.from(three));
  for (const v of [0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.1]) {
    const back = float16BitsToNumber(float32ToFloat16Bits(v));
    expect(Math.abs(back - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11);
  }
  expect(float32ToFloat16Bits(1)).toBe(0x3c00);
  expect(float32ToFloat16Bits(-2)).toBe(0xc000);
  expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
  expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);  // a tie rounds to even
  expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
});
