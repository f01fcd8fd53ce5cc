// Mixed precision on Fashion-MNIST's residual CNN: train it briefly, measure FP32, uniform INT8 and a
// uniform low-bit weight grid, then let searchMixedPrecision pick a precision per layer under a
// 0.5-point accuracy budget, and print each variant's size and accuracy.
//   npm run build && node dist/examples/mixed-precision.js [trainImages=6000] [epochs=2]
// Data: Debian's dataset-fashion-mnist. The search measures accuracy on 2,000 held-out training
// images (validation); the table reports the 10,000 test images, which the search never sees.
import { adam, cosineLr, evaluate, fit, loadFashionMnist, Model, QuantScheme, quantizeMixed, searchMixedPrecision, Tensor } from '../lib';
import type { ImageDataset } from '../lib/train/datasets';
import { formatTable } from './compare';
import { residualCnn } from './train-fashion';

function slice(d: ImageDataset, start: number, end: number): ImageDataset {
  const per = d.x.size / d.x.dims[0];
  return {
    ...d,
    x: new Tensor('float32', (d.x.data as Float32Array).slice(start * per, end * per), [end - start, ...d.x.dims.slice(1)]),
    y: new Tensor('int64', (d.y.data as BigInt64Array).slice(start, end), [end - start]),
  };
}

async function main(): Promise<void> {
  const trainImages = Number(process.argv[2] ?? 6000);
  const epochs = Number(process.argv[3] ?? 2);
  const all = await loadFashionMnist({ split: 'train', limit: trainImages + 2000 });
  const train = slice(all, 0, trainImages);
  const validation = slice(all, trainImages, trainImages + 2000);
  const test = await loadFashionMnist({ split: 'test' });
  const net = residualCnn();
  await fit(net, train, { epochs, batchSize: 64, optimizer: adam({ lr: 2e-3 }), lrSchedule: cosineLr(), seed: 1 });
  const calibration = Array.from({ length: 8 }, (_, i) => ({ input: slice(train, i * 64, (i + 1) * 64).x }));

  const accuracy = async (m: Model, d: ImageDataset) => (await evaluate(m, d)).accuracy! * 100;
  const fp32Test = await accuracy(net, test);
  const rows: string[][] = [['variant', 'layers (conv_0..3, gemm_0, gemm_1)', 'packed weight bytes', 'ONNX bytes', 'test accuracy', 'vs FP32 (points)']];
  const add = (name: string, layerText: string, packed: number, onnx: number, acc: number) =>
    rows.push([name, layerText, packed.toFixed(0), String(onnx), `${acc.toFixed(2)}%`, (acc - fp32Test).toFixed(2)]);

  const int8 = await quantizeMixed(net, calibration, { default: 'int8' });
  const w4 = await quantizeMixed(net, calibration, { default: new QuantScheme({ bits: 4 }) });
  const w3 = await quantizeMixed(net, calibration, { default: new QuantScheme({ bits: 3 }) });
  const fp32Packed = int8.mixed.fp32Bytes;
  add('FP32', 'fp32 x6', fp32Packed, net.sizeBytes(), fp32Test);
  add('uniform INT8 (static, per channel)', 'int8 x6', int8.mixed.packedBytes, int8.sizeBytes(), await accuracy(int8, test));
  add('uniform 4-bit weights (per channel)', 'w4 x6', w4.mixed.packedBytes, w4.sizeBytes(), await accuracy(w4, test));
  const w3Test = await accuracy(w3, test);
  add('uniform 3-bit weights (per channel)', 'w3 x6', w3.mixed.packedBytes, w3.sizeBytes(), w3Test);

  const budget = 0.5;
  const started = Date.now();
  const search = await searchMixedPrecision(net, calibration, (m) => accuracy(m, validation), {
    maxDrop: budget,
    candidates: ['int8', 'int4', new QuantScheme({ bits: 6 }), new QuantScheme({ bits: 4 }), new QuantScheme({ bits: 3 }), new QuantScheme({ bits: 2 })],
    onProgress: (p) => process.stdout.write(`\rsearch: ${p.phase} ${p.step}/${p.total} ${p.layer ?? ''} ${p.choice ?? ''}        `),
  });
  const seconds = (Date.now() - started) / 1000;
  const searchedTest = await accuracy(search.model, test);
  add(`searched mix (budget ${budget} points)`, search.layers.map((l) => l.choice).join(', '), search.packedBytes, search.model.sizeBytes(), searchedTest);
  console.log(`\rFashion-MNIST residual CNN: ${trainImages} training images, ${epochs} epochs; search on 2,000 validation images, table on ${test.y.size} test images\n`);
  console.log(formatTable(rows));
  console.log('\nPacked weight bytes: weights and biases of the six layers with codes packed at their bit width (a 4-bit weight counts 0.5 byte)');
  console.log('plus float32 scales; this is the size the schemes imply. The runnable ONNX file stores 2..8-bit codes as int8 (ONNX bytes column).');

  const val = search.metric!;
  console.log(`\nSearch: ${search.evaluations} models measured in ${seconds.toFixed(0)} s. Validation accuracy FP32 ${val.fp32.toFixed(2)}%, ` +
    `activations alone in INT8 ${val.activationsOnly.toFixed(2)}%, searched mix ${val.final.toFixed(2)}% (drop ${val.drop.toFixed(2)} points, budget ${budget}: ${search.budget.met ? 'met' : 'MISSED'}).`);
  console.log(`Size reached: ${search.packedBytes.toFixed(0)} packed bytes, ${(fp32Packed / search.packedBytes).toFixed(2)}x smaller than FP32 ` +
    `(uniform 3-bit: ${(fp32Packed / w3.mixed.packedBytes).toFixed(2)}x, loses ${(fp32Test - w3Test).toFixed(2)} points on test).`);
  const labels = [...new Set(search.layers.flatMap((l) => l.sensitivity.map((s) => s.choice)))];
  const sens = [['layer', 'weights', ...labels, 'chosen']];
  for (const l of search.layers) {
    const byChoice = new Map(l.sensitivity.map((s) => [s.choice, s]));
    sens.push([l.name, String(l.weights), ...labels.map((c) => { const s = byChoice.get(c); return s ? `${s.drop!.toFixed(2)} / ${s.bytes.toFixed(0)} B` : 'n/a'; }), l.choice]);
  }
  console.log('\nSensitivity: validation accuracy drop (points) with only that layer quantized / its packed bytes');
  console.log(formatTable(sens));
  console.log('\nWhy each choice:');
  for (const l of search.layers) console.log(`  ${l.name}: ${l.choice}. ${l.reason}`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
