// The Deep-Compression pipeline, small: a CNN trained for three epochs on 600 digits is pruned
// 80%, clustered to 16 and narrowed; every stage is scored on 300 held-out digits and sized.
import { sequential } from '../lib/train/sequential';
import { layers } from '../lib/train/layers';
import { fit } from '../lib/train/fit';
import { adam } from '../lib/train/optimizers';
import { loadMnistDigits } from '../lib/train/datasets';
import { deepCompress } from '../lib/compress/deep-compression';
import { decodeClusteredWeight, distinctValues } from '../lib/compress/cluster';
import { unpackCompact, packCompact } from '../lib/compress/compact-format';
import { firstRows } from './helpers/digits';

test('deepCompress: prune 80% -> cluster 16 -> int8 codebooks, sized honestly, far above chance', async () => {
  const train = firstRows(loadMnistDigits({ split: 'train' }), 600);
  const test = firstRows(loadMnistDigits({ split: 'test' }), 300);
  const net = sequential([
    layers.conv2d({ filters: 8, kernel: 3, activation: 'relu', inputShape: [1, 28, 28] }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 64, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed: 1 });
  await fit(net, train, { epochs: 3, batchSize: 32, optimizer: adam({ lr: 2e-3 }) });
  const { stages, final } = await deepCompress(net, { train, test, pruneEpochs: 1, clusterEpochs: 1 });
  expect(stages.map((s) => s.stage)).toEqual(['FP32', 'pruned 80%', 'clustered 16 (before fine-tuning)', 'clustered 16, fine-tuned', 'int8 codebooks, float16 biases']);
  const [fp32, pruned, , tuned, last] = stages;
  console.log(stages.map((s) => `${s.stage}: ${(s.accuracy * 100).toFixed(1)}%, ONNX ${s.onnxBytes} B, compact ${s.compactBytes} B`).join('\n'));
  // The FP32 ONNX file is its float weights plus a little graph.
  const params = 8 * 9 + 8 + 1352 * 64 + 64 + 640 + 10;
  expect(fp32.onnxBytes).toBeGreaterThan(params * 4);
  expect(fp32.onnxBytes).toBeLessThan(params * 4 + 2000);
  // Pruned: a bitmask plus 20% of the values; clustered: 4-bit indices of the nonzeros instead.
  expect(pruned.compactBytes).toBeLessThan(fp32.onnxBytes / 3);
  expect(tuned.compactBytes).toBeLessThan(pruned.compactBytes / 3);
  expect(last.compactBytes).toBeLessThan(tuned.compactBytes);
  // About 2.5 KB of the compact file is graph and header whatever the weights: on this small
  // model that caps the ratio near 16x; the full CNN of examples/deep-compression.ts clears it.
  expect(fp32.onnxBytes / last.compactBytes).toBeGreaterThan(14);
  for (const s of stages) expect(s.accuracy).toBeGreaterThan(0.6);  // chance is 0.1
  for (const layer of final.clustering) {
    const w = decodeClusteredWeight(final, layer);
    expect(distinctValues(w)).toBeLessThanOrEqual(16);
    expect(w.data.reduce((n, v) => n + (v === 0 ? 1 : 0), 0)).toBe(Math.round(0.8 * w.size));
  }
  // What the compact bytes hold is the model that was scored.
  const x = firstRows(test, 8).x;
  const a = (await final.run({ input: x })).output.data as Float32Array;
  const b = (await unpackCompact(packCompact(final)).run({ input: x })).output.data as Float32Array;
  expect(Array.from(b)).toEqual(Array.from(a));
});
