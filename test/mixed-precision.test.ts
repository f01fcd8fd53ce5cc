// Mixed precision and custom schemes: per-layer QuantSchemes (a custom observer and a subclass
// must change the weights they quantize), one model mixing FP32/FP16/INT4/INT8/narrow grids that
// nquant and onnxruntime both run, and searchMixedPrecision meeting its budget on a small CNN
// trained on MNIST digits (checked by measuring the returned model again, not by its own flag).
import * as ort from 'onnxruntime-node';
import { Graph } from '../lib/graph/ir';
import { MinMaxObserver, Range } from '../lib/quant/calibration/observers';
import { quantizeMixed } from '../lib/quant/mixed';
import { searchMixedPrecision } from '../lib/quant/mixed-search';
import { CodeRange, QParams } from '../lib/quant/qparams';
import { QuantScheme } from '../lib/quant/scheme';
import { Model } from '../lib/runtime/model';
import { loadMnistDigits } from '../lib/train/datasets';
import { evaluate, fit } from '../lib/train/fit';
import { layers } from '../lib/train/layers';
import { adam } from '../lib/train/optimizers';
import { sequential } from '../lib/train/sequential';
import { Tensor } from '../lib/tensor';

jest.setTimeout(60_000);

/** Observer that clips every range to half of what it saw. */
class HalfRangeObserver extends MinMaxObserver {
  override range(): Range {
    const r = super.range();
    return { min: r.min / 2, max: r.max / 2 };
  }
}

/** A scheme that rounds toward zero instead of to nearest. */
class TruncatingScheme extends QuantScheme {
  override round(x: number, q: QParams, codes: CodeRange): number {
    const c = Math.trunc(x / q.scale) + q.zeroPoint;
    return Math.min(codes.qmax, Math.max(codes.qmin, c));
  }
}

/** The integer codes and scales DequantizeLinear feeds to node `name`'s weight. */
function weightOf(graph: Graph, name: string): { codes: Int8Array | Uint8Array; scales: Float32Array; zeroPoints: ArrayLike<number> } {
  const node = graph.nodes.find((n) => n.name === name)!;
  const dq = graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.outputs[0] === node.inputs[1])!;
  return {
    codes: graph.initializers.get(dq.inputs[0])!.data as Int8Array,
    scales: graph.initializers.get(dq.inputs[1])!.data as Float32Array,
    zeroPoints: graph.initializers.get(dq.inputs[2])!.data as Int8Array,
  };
}

function smallCnn(): Model {
  return sequential([
    layers.conv2d({ filters: 8, kernel: 3, activation: 'relu', inputShape: [1, 28, 28], init: 'he' }),
    layers.maxPool2d(),
    layers.conv2d({ filters: 16, kernel: 3, activation: 'relu', init: 'he' }),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 32, activation: 'relu', init: 'he' }),
    layers.dense({ units: 10, init: 'he' }),
  ], { seed: 3 });
}

const train = loadMnistDigits({ split: 'train' });
const heldOut = loadMnistDigits({ split: 'test' });
const trainCount = 3000;
const trainSet = { x: new Tensor('float32', (train.x.data as Float32Array).slice(0, trainCount * 784), [trainCount, 1, 28, 28]), y: new Tensor('int64', (train.y.data as BigInt64Array).slice(0, trainCount), [trainCount]) };
const calibration = Array.from({ length: 2 }, (_, i) => ({ input: new Tensor('float32', (train.x.data as Float32Array).slice(i * 32 * 784, (i + 1) * 32 * 784), [32, 1, 28, 28]) }));
const accuracy = async (m: Model) => (await evaluate(m, heldOut)).accuracy! * 100;

let net: Model;
beforeAll(async () => {
  net = smallCnn();
  await fit(net, trainSet, { epochs: 2, batchSize: 64, optimizer: adam({ lr: 2e-3 }), seed: 1 });
});

describe('QuantScheme per layer', () => {
  test('a custom observer class sets the weight ranges of its layer only', async () => {
    const plain = await quantizeMixed(net, calibration, { layerSchemes: { conv_1: new QuantScheme({ bits: 4 }) } });
    const clipped = await quantizeMixed(net, calibration, { layerSchemes: { conv_1: new QuantScheme({ bits: 4, observer: HalfRangeObserver }) } });
    const w = net.ir.graph.initializers.get(net.ir.graph.nodes.find((n) => n.name === 'conv_1')!.inputs[1])!.data as Float32Array;
    const perChannel = w.length / 16;
    const a = weightOf(plain.ir.graph, 'conv_1'), b = weightOf(clipped.ir.graph, 'conv_1');
    for (let c = 0; c < 16; c++) {
      let absmax = 0;
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++) absmax = Math.max(absmax, Math.abs(w[i]));
      expect(a.scales[c]).toBeCloseTo(absmax / 7, 6);
      expect(b.scales[c]).toBeCloseTo(absmax / 2 / 7, 6);
    }
    // Clipped to the half range, the largest weights sit on the grid's end codes.
    expect(Math.max(...Array.from(b.codes, Math.abs))).toBe(7);
    expect(Array.from(b.codes).filter((v) => Math.abs(v) === 7).length).toBeGreaterThan(Array.from(a.codes).filter((v) => Math.abs(v) === 7).length);
    // The other layers keep quantizeStatic's 8-bit weights.
    expect(weightOf(clipped.ir.graph, 'conv_0').scales).toEqual(weightOf(plain.ir.graph, 'conv_0').scales);
    expect(Math.max(...Array.from(weightOf(plain.ir.graph, 'gemm_0').codes, Math.abs))).toBe(127);
  });

  test('a QuantScheme subclass rounding toward zero is the one used', async () => {
    const q = await quantizeMixed(net, calibration, { default: 'int8', layerSchemes: { 'gemm_*': new TruncatingScheme({ bits: 3 }) } });
    for (const name of ['gemm_0', 'gemm_1']) {
      const { codes, scales } = weightOf(q.ir.graph, name);
      const node = net.ir.graph.nodes.find((n) => n.name === name)!;
      const wt = net.ir.graph.initializers.get(node.inputs[1])!;
      const [n, k] = wt.dims;  // dense weights are [units, fanIn] with transB
      const w = wt.data as Float32Array;
      let truncatedDiffers = 0;
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < k; i++) {
          const v = w[r * k + i] / scales[r];
          expect(codes[r * k + i]).toBe(Math.max(-3, Math.min(3, Math.trunc(v))) + 0);
          if (Math.round(v) !== Math.trunc(v)) truncatedDiffers++;
        }
      }
      expect(truncatedDiffers).toBeGreaterThan(0);
    }
    expect(q.mixed.layers.map((l) => l.choice)).toEqual(['int8', 'int8', 'w3 per-channel', 'w3 per-channel']);
  });

  test('one model mixes fp32, fp16, int4 blocks, int8 and an asymmetric 3-bit grid; onnxruntime runs it too', async () => {
    const q = await quantizeMixed(net, calibration, {
      layerSchemes: { conv_0: 'fp16', conv_1: new QuantScheme({ bits: 3, signed: false, symmetric: false, granularity: 'per-tensor' }), gemm_0: 'int4', gemm_1: 'fp32' },
    });
    const ops = q.ir.graph.nodes.map((n) => n.opType);
    expect(ops).toContain('MatMulNBits');
    expect(ops).toContain('Cast');
    const conv0 = q.ir.graph.nodes.find((n) => n.name === 'conv_0')!;
    const cast = q.ir.graph.nodes.find((n) => n.opType === 'Cast' && n.outputs[0] === conv0.inputs[1])!;
    expect(q.ir.graph.initializers.get(cast.inputs[0])!.dtype).toBe('float16');
    const u = weightOf(q.ir.graph, 'conv_1');
    expect(u.codes).toBeInstanceOf(Uint8Array);
    expect(Math.max(...u.codes)).toBeLessThanOrEqual(7);
    expect(u.scales.length).toBe(1);
    expect(q.mixed.layers.map((l) => l.choice)).toEqual(['fp16', 'w3 u asym per-tensor', 'int4', 'fp32']);
    // Packed bytes: fp16 conv_0 (72 weights, 8-value bias in float32), 3-bit conv_1 + its scale and zero point.
    expect(q.mixed.layers[0].bytes).toBe(72 * 2 + 8 * 4);
    expect(q.mixed.layers[1].bytes).toBeCloseTo(1152 * 3 / 8 + 4 + 3 / 8 + 16 * 4, 6);
    const mine = (await q.run(calibration[0])).output.data as Float32Array;
    const session = await ort.InferenceSession.create(q.toOnnx());
    const theirs = (await session.run({ input: new ort.Tensor('float32', calibration[0].input.data as Float32Array, [32, 1, 28, 28]) })).output.data as Float32Array;
    let s = 0, e = 0;
    for (let i = 0; i < mine.length; i++) { s += theirs[i] ** 2; e += (theirs[i] - mine[i]) ** 2; }
    expect(10 * Math.log10(s / e)).toBeGreaterThan(25);
    expect(await accuracy(q)).toBeGreaterThan(80);
  });

  test('bad schemes and keys are named errors', async () => {
    expect(() => new QuantScheme({ bits: 9 })).toThrow(/scheme.bits: expected an integer from 2 to 8, received 9/);
    expect(() => new QuantScheme({ signed: true, symmetric: false })).toThrow(/scheme.symmetric/);
    expect(() => new QuantScheme({ granularity: 'per-block', bits: 3 })).toThrow(/scheme.bits: expected 4 with granularity per-block/);
    expect(() => new QuantScheme({ rounding: 'stochastic' as 'nearest' })).toThrow(/scheme.rounding/);
    await expect(quantizeMixed(net, calibration, { layerSchemes: { nope: 'int8' } })).rejects.toThrow(/opts.layerSchemes\['nope'\]: expected a name or pattern of a weighted layer/);
    await expect(quantizeMixed(net, calibration, { layerSchemes: { conv_0: 'int4' } })).rejects.toThrow(/layer 'conv_0' \(Conv\)/);
    await expect(quantizeMixed(net, calibration, { layerSchemes: { conv_0: 'int5' as 'int4' } })).rejects.toThrow(/opts.layerSchemes\['conv_0'\]: expected a QuantScheme or one of/);
    await expect(searchMixedPrecision(net, calibration, accuracy, {})).rejects.toThrow(/opts: expected exactly one budget/);
    await expect(searchMixedPrecision(net, calibration, undefined, { maxDrop: 1 })).rejects.toThrow(/evalFn: expected a function when opts.maxDrop/);
    await expect(searchMixedPrecision(net, calibration, accuracy, { maxDrop: -1 })).rejects.toThrow(/opts.maxDrop: expected a number >= 0/);
    await expect(searchMixedPrecision(net, calibration, accuracy, { maxDrop: 1, candidates: [] })).rejects.toThrow(/opts.candidates/);
  });
});

describe('searchMixedPrecision', () => {
  const w2 = new QuantScheme({ bits: 2 });
  const w4 = new QuantScheme({ bits: 4 });
  const w6 = new QuantScheme({ bits: 6 });

  test('meets a 0.5-point accuracy budget, at least 10% smaller than uniform INT8, where uniform 2-bit loses more than 2 points', async () => {
    const fp32 = await accuracy(net);
    const uniform2 = await accuracy(await quantizeMixed(net, calibration, { default: w2 }));
    const int8 = await quantizeMixed(net, calibration, { default: 'int8' });
    expect(fp32 - uniform2).toBeGreaterThan(2);
    const steps: string[] = [];
    const r = await searchMixedPrecision(net, calibration, accuracy, { maxDrop: 0.5, candidates: [w2, w4, w6, 'int8'], onProgress: (p) => steps.push(p.phase) });
    // Measured again here: the search's own "met" could be wrong.
    const again = await accuracy(r.model);
    expect(fp32 - again).toBeLessThanOrEqual(0.5);
    expect(r.budget.met).toBe(true);
    expect(r.metric!.final).toBeCloseTo(again, 10);
    // Narrower than INT8 where the layers afford it: the big dense layer alone on 6 bits is 25% less.
    expect(r.packedBytes).toBeLessThan(0.9 * int8.mixed.packedBytes);
    expect(r.packedBytes).toBe(r.layers.reduce((s, l) => s + l.bytes, 0));
    expect(r.layers.map((l) => l.name)).toEqual(['conv_0', 'conv_1', 'gemm_0', 'gemm_1']);
    for (const l of r.layers) {
      expect(l.sensitivity.map((s) => s.choice)).toEqual(['w2 per-channel', 'w4 per-channel', 'w6 per-channel', 'int8', 'fp32']);
      expect(l.reason.length).toBeGreaterThan(0);
    }
    expect(steps.filter((s) => s === 'sensitivity').length).toBe(16);
    expect(steps[steps.length - 1]).toBe('verify');
    console.log(`search: FP32 ${fp32.toFixed(1)}%, uniform w2 ${uniform2.toFixed(1)}%, mix ${again.toFixed(1)}% at ${r.packedBytes} B (int8 ${int8.mixed.packedBytes} B, fp32 ${r.fp32Bytes} B): ${r.layers.map((l) => `${l.name}=${l.choice}`).join(', ')}`);
  });

  test('meets a size budget (with a layer fixed by layerSchemes), and an SQNR budget without evalFn', async () => {
    const target = 8000;
    const bySize = await searchMixedPrecision(net, calibration, accuracy, { targetBytes: target, candidates: [w2, w4, 'int8'], layerSchemes: { conv_0: 'fp32' } });
    expect(bySize.layers[0]).toMatchObject({ name: 'conv_0', choice: 'fp32', reason: 'fixed by opts.layerSchemes', sensitivity: [] });
    expect(bySize.packedBytes).toBeLessThanOrEqual(target);
    expect(bySize.budget.met).toBe(true);
    expect(bySize.model.mixed.packedBytes).toBe(bySize.packedBytes);
    const bySqnr = await searchMixedPrecision(net, calibration, undefined, { minSqnr: 25, candidates: [w2, w4] });
    expect(bySqnr.outputSqnr).toBeGreaterThanOrEqual(25);
    expect(Object.values(bySqnr.model.report.outputSqnr)[0]).toBeGreaterThanOrEqual(25);
    expect(bySqnr.layers[0].sensitivity[0].sqnr).toEqual(expect.any(Number));
  });
});
