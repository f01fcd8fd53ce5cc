// Fashion-MNIST with a small residual CNN (Conv-BN-ReLU x4, two residual adds, two dense
// layers), trained here from scratch, then quantized: static INT8 with every calibration
// method, dynamic INT8, quantization-aware training, and 4- and 3-bit weight grids where PTQ
// loses accuracy and QAT recovers it; accuracy, size and latency side by side.
//   npm run build && node dist/examples/train-fashion.js [epochs=3] [trainImages=60000] [qatEpochs=1]
// Data: Debian's dataset-fashion-mnist (60,000 train + 10,000 test images).
import {
  adam, CalibrationMethod, convertQat, cosineLr, evaluate, fit, layers, loadFashionMnist, Model, prepareQat,
  quantizeDynamic, quantizeStatic, sequential, Tensor,
} from '../lib';
import { formatTable, latencyMs } from './compare';

function rowsOf(t: Tensor, start: number, end: number): Tensor {
  const per = t.size / t.dims[0];
  const dims = [end - start, ...t.dims.slice(1)];
  return t.dtype === 'int64'
    ? new Tensor('int64', (t.data as BigInt64Array).slice(start * per, end * per), dims)
    : new Tensor('float32', (t.data as Float32Array).slice(start * per, end * per), dims);
}

export function residualCnn(seed = 1): Model {
  const convBn = (filters: number, relu: boolean) => [
    layers.conv2d({ filters, kernel: 3, padding: 'same', useBias: false, init: 'he' }),
    layers.batchNorm(),
    ...(relu ? [layers.relu()] : []),
  ];
  return sequential([
    layers.conv2d({ filters: 16, kernel: 3, padding: 'same', useBias: false, init: 'he', inputShape: [1, 28, 28] }),
    layers.batchNorm(),
    layers.relu(),
    layers.residual({ layers: convBn(16, false), activation: 'relu' }),
    layers.residual({ layers: convBn(16, false), activation: 'relu' }),
    layers.maxPool2d(),
    ...convBn(32, true),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 64, activation: 'relu', init: 'he' }),
    layers.dense({ units: 10 }),
  ], { seed });
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 3);
  const limit = Number(process.argv[3] ?? 60000);
  const qatEpochs = Number(process.argv[4] ?? 1);
  const train = await loadFashionMnist({ split: 'train', limit });
  const test = await loadFashionMnist({ split: 'test' });
  console.log(`Fashion-MNIST: ${train.y.size} train, ${test.y.size} test images`);
  const net = residualCnn();
  const progress = (what: string) => (p: { epoch: number; epochs: number; batch: number; batches?: number; loss: number }) => {
    if (p.batch % 50 === 0 || p.batch === p.batches) process.stdout.write(`\r${what} epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(3)}   `);
  };
  await fit(net, train, {
    epochs, batchSize: 64, optimizer: adam({ lr: 2e-3 }), lrSchedule: cosineLr(), seed: 1, onProgress: progress('FP32'),
    onEpochEnd: (m) => console.log(`\rFP32 epoch ${m.epoch}: loss ${m.loss.toFixed(4)}, train accuracy ${(m.accuracy! * 100).toFixed(2)}%, ${m.samplesPerSecond.toFixed(0)} img/s`),
  });

  const calibration = Array.from({ length: 16 }, (_, i) => ({ input: rowsOf(train.x, i * 64, (i + 1) * 64) }));
  const one = { input: rowsOf(test.x, 0, 1) };
  const batch = { input: rowsOf(test.x, 0, 64) };
  const rows: string[][] = [['variant', 'test accuracy', 'vs FP32 (points)', 'size (KB)', 'latency batch 1 (ms)', 'latency batch 64 (ms)']];
  let fp32Accuracy = 0;
  const add = async (name: string, m: Model): Promise<number> => {
    const acc = (await evaluate(m, test)).accuracy!;
    if (rows.length === 1) fp32Accuracy = acc;
    rows.push([name, `${(acc * 100).toFixed(2)}%`, ((acc - fp32Accuracy) * 100).toFixed(2), (m.sizeBytes() / 1024).toFixed(0), (await latencyMs(m, one)).toFixed(3), (await latencyMs(m, batch)).toFixed(2)]);
    return acc;
  };
  await add('FP32', net);
  const methods: CalibrationMethod[] = ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'];
  let worstPtq = 1;
  for (const method of methods) {
    worstPtq = Math.min(worstPtq, await add(`PTQ static INT8 per channel (${method})`, await quantizeStatic(net, calibration, { method, perChannel: true })));
  }
  const minmax = Number(rows[2][1].replace('%', '')) / 100;
  await add('PTQ dynamic INT8', await quantizeDynamic(net, { perChannel: true }));

  const qat = prepareQat(net);
  await fit(qat, train, { epochs: qatEpochs, batchSize: 64, optimizer: adam({ lr: 1e-4 }), seed: 2, onProgress: progress('QAT') });
  const qatAccuracy = await add('QAT INT8', await convertQat(qat));
  // Per-tensor weights are the harder case (one scale for all of a layer's filters): PTQ
  // loses more there, which is where QAT has something to recover.
  const ptqPerTensor = await add('PTQ static INT8 per tensor (minmax)', await quantizeStatic(net, calibration, { method: 'minmax', perChannel: false }));
  const qatPerTensorModel = prepareQat(net, { perChannel: false });
  await fit(qatPerTensorModel, train, { epochs: qatEpochs, batchSize: 64, optimizer: adam({ lr: 1e-4 }), seed: 2, onProgress: progress('QAT per tensor') });
  const qatPerTensor = await add('QAT INT8 per tensor', await convertQat(qatPerTensorModel));
  // Narrower weight grids (weightBits: int8 storage, 2^(bits-1) − 1 steps each side) are where
  // post-training rounding starts to cost accuracy, and where QAT earns its keep.
  const lowBit: { bits: number; ptq: number; qat: number }[] = [];
  for (const bits of [4, 3]) {
    const ptq = await add(`PTQ static W${bits}A8 per channel (minmax)`, await quantizeStatic(net, calibration, { method: 'minmax', perChannel: true, weightBits: bits }));
    const prepared = prepareQat(net, { weightBits: bits });
    await fit(prepared, train, { epochs: qatEpochs, batchSize: 64, optimizer: adam({ lr: 1e-4 }), seed: 2, onProgress: progress(`QAT W${bits}`) });
    lowBit.push({ bits, ptq, qat: await add(`QAT W${bits}A8 per channel`, await convertQat(prepared)) });
  }
  console.log(`\n${formatTable(rows)}`);
  for (const r of lowBit) {
    const g = fp32Accuracy - r.ptq;
    console.log(`W${r.bits}A8 per channel: PTQ loses ${(g * 100).toFixed(2)} points, QAT ${((fp32Accuracy - r.qat) * 100).toFixed(2)}` +
      (g >= 0.001 ? `: QAT recovers ${(((r.qat - r.ptq) / g) * 100).toFixed(0)}% of the gap.` : '.'));
  }
  const tensorGap = fp32Accuracy - ptqPerTensor;
  console.log(`\nPer tensor: PTQ loses ${(tensorGap * 100).toFixed(2)} points, QAT ${((fp32Accuracy - qatPerTensor) * 100).toFixed(2)}` +
    (tensorGap >= 0.001 ? `: QAT recovers ${(((qatPerTensor - ptqPerTensor) / tensorGap) * 100).toFixed(0)}% of the gap.` : '.'));
  const gap = fp32Accuracy - minmax;
  // One test image is 0.01 points: below ~0.1 points a "gap" is a handful of images.
  const qatVsGap = gap >= 0.001
    ? `QAT recovers ${(((qatAccuracy - minmax) / gap) * 100).toFixed(0)}% of it`
    : `that is within a handful of test images, so there is no gap for QAT to recover (QAT is ${((qatAccuracy - fp32Accuracy) * 100).toFixed(2)} points from FP32)`;
  console.log(`\nPTQ (min-max) loses ${(gap * 100).toFixed(2)} points; ${qatVsGap}; the worst PTQ method is ${((fp32Accuracy - worstPtq) * 100).toFixed(2)} points below FP32.`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
