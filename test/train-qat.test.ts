// Quantization-aware training, small and fast: a Conv-BN-ReLU digit classifier is trained,
// prepared for QAT (fake quantization where quantizeStatic puts integers, BN folded into the
// fake-quantized weights), fine-tuned, and converted; the INT8 model computes what the QAT
// model simulated, and onnxruntime-node agrees with its QDQ and QOperator exports.
import * as ort from 'onnxruntime-node';
import { sequential } from '../lib/train/sequential';
import { layers } from '../lib/train/layers';
import { evaluate, fit } from '../lib/train/fit';
import { adam } from '../lib/train/optimizers';
import { convertQat, prepareQat, QatModel } from '../lib/train/qat';
import { loadMnistDigits } from '../lib/train/datasets';
import { Tensor } from '../lib/tensor';
import { quantizeStatic } from '../lib/quant/static';
import { importModel } from '../lib/onnx/import';
import { firstRows } from './helpers/digits';

const train = firstRows(loadMnistDigits({ split: 'train' }), 3000);
const heldOut = firstRows(loadMnistDigits({ split: 'test' }), 1000);

test('QAT: prepare, fine-tune, convert; the INT8 model matches the simulation and onnxruntime', async () => {
  const net = sequential([
    layers.conv2d({ filters: 16, kernel: 3, inputShape: [1, 28, 28], useBias: false }),
    layers.batchNorm(),
    layers.relu(),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 64, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed: 1 });
  await fit(net, train, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }) });
  const fp32 = (await evaluate(net, heldOut)).accuracy!;
  const calibration = [{ input: firstRows(train, 256).x }];
  const ptq = (await evaluate(await quantizeStatic(net, calibration, { perChannel: true }), heldOut)).accuracy!;

  const qat = prepareQat(net);
  expect(qat).toBeInstanceOf(QatModel);
  // Every weight quantizeStatic quantizes is fake-quantized; the conv's with its BatchNorm folded in.
  expect(qat.qat.weights.map((w) => [w.weight, w.foldedBatchNorm ?? null])).toEqual([
    ['conv.weight_0', 'batchnormalization_0'], ['dense.weight_0', null], ['dense.weight_1', null],
  ]);
  expect(qat.qat.ranges.size).toBeGreaterThanOrEqual(4);
  const ops = qat.ir.graph.nodes.map((n) => n.opType);
  expect(ops.filter((o) => o === 'FakeQuantize').length).toBe(qat.qat.ranges.size + 3);
  // The float model keeps its weights: QAT trains its own copy.
  const floatWeight = Float32Array.from(net.ir.graph.initializers.get('dense.weight_0')!.data as Float32Array);

  await fit(qat, train, { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-4 }), seed: 2 });
  expect(Buffer.from((net.ir.graph.initializers.get('dense.weight_0')!.data as Float32Array).buffer).equals(Buffer.from(floatWeight.buffer))).toBe(true);
  const simulated = (await evaluate(qat, heldOut)).accuracy!;
  const int8 = await convertQat(qat);
  const converted = (await evaluate(int8, heldOut)).accuracy!;
  console.log(`QAT on 3,000 digits, 1,000 held out: FP32 ${(fp32 * 100).toFixed(1)}%, PTQ INT8 ${(ptq * 100).toFixed(1)}%, ` +
    `QAT simulated ${(simulated * 100).toFixed(1)}%, QAT converted INT8 ${(converted * 100).toFixed(1)}%`);
  expect(int8.report.float.filter((n) => ['Conv', 'Gemm'].includes(n.opType))).toEqual([]);
  // The converted model computes what QAT simulated, up to rounding at a handful of boundaries.
  expect(Math.abs(converted - simulated)).toBeLessThanOrEqual(0.005);
  expect(converted).toBeGreaterThan(fp32 - 0.02);

  const x = firstRows(heldOut, 32).x;
  const ours = (await int8.run({ input: x })).output.data as Float32Array;
  const session = await ort.InferenceSession.create(int8.toOnnx());
  const theirs = (await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.dims) })).output.data as Float32Array;
  let agree = 0;
  for (let r = 0; r < 32; r++) {
    const arg = (d: Float32Array): number => { let b = 0; for (let c = 1; c < 10; c++) if (d[r * 10 + c] > d[r * 10 + b]) b = c; return b; };
    if (arg(ours) === arg(theirs)) agree++;
  }
  expect(agree).toBeGreaterThanOrEqual(31);

  // The QOperator export (QLinearConv / QLinearMatMul) of the same QAT model: onnxruntime runs
  // it and agrees with our run of it.
  const qop = await convertQat(qat, { format: 'qoperator' });
  const qopBytes = qop.toOnnx();
  const qopOps = new Set(importModel(qopBytes).graph.nodes.map((n) => n.opType));
  expect(qopOps.has('QLinearConv')).toBe(true);
  const oursQop = (await qop.run({ input: x })).output.data as Float32Array;
  const qopSession = await ort.InferenceSession.create(qopBytes);
  const theirsQop = (await qopSession.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.dims) })).output.data as Float32Array;
  let agreeQop = 0;
  for (let r = 0; r < 32; r++) {
    const arg = (d: Float32Array): number => { let b = 0; for (let c = 1; c < 10; c++) if (d[r * 10 + c] > d[r * 10 + b]) b = c; return b; };
    if (arg(oursQop) === arg(theirsQop) && arg(oursQop) === arg(ours)) agreeQop++;
  }
  expect(agreeQop).toBeGreaterThanOrEqual(31);
  expect((await evaluate(qop, heldOut)).accuracy!).toBeCloseTo(converted, 2);
});

test('QAT with learned activation scales (LSQ): the scales move, the INT8 model matches the simulation', async () => {
  const net = sequential([
    layers.conv2d({ filters: 8, kernel: 3, inputShape: [1, 28, 28], activation: 'relu' }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 10 }),
  ], { seed: 3 });
  const small = firstRows(train, 1000);
  await fit(net, small, { epochs: 1, batchSize: 32, optimizer: adam({ lr: 2e-3 }) });
  const qat = prepareQat(net, { learnScales: true });
  expect(qat.qat.learnedScales.size).toBe(qat.qat.ranges.size);
  await fit(qat, small, { epochs: 1, batchSize: 32, optimizer: adam({ lr: 1e-3 }), seed: 4 });
  const factors = [...qat.qat.learnedScales.values()].map((n) => (qat.ir.graph.initializers.get(n)!.data as Float32Array)[0]);
  expect(factors.some((a) => a !== 0)).toBe(true);
  const simulated = (await evaluate(qat, heldOut)).accuracy!;
  const converted = (await evaluate(await convertQat(qat), heldOut)).accuracy!;
  console.log(`LSQ: log scale factors ${factors.map((a) => a.toFixed(3)).join(', ')}; simulated ${(simulated * 100).toFixed(1)}%, converted ${(converted * 100).toFixed(1)}%`);
  expect(Math.abs(converted - simulated)).toBeLessThanOrEqual(0.005);
});

test('QAT errors name what is wrong', async () => {
  const net = sequential([layers.flatten(), layers.dense({ units: 4 })].map((l, i) => (i === 0 ? { ...l, inputShape: [1, 2, 2] } : l)));
  const qat = prepareQat(net);
  expect(() => prepareQat(qat)).toThrow(/already prepared/);
  expect(() => prepareQat(net, { observerMomentum: 1 })).toThrow(/observerMomentum/);
  await expect(convertQat(net as unknown as QatModel)).rejects.toThrow(/QatModel/);
});
