// quantizeStatic end to end on a small residual CNN: the plan, the QDQ graph, integer
// execution on the INT8 ops, agreement with the float model and with onnxruntime-node running
// the exported QDQ and QOperator files.
import { miniResnet } from '../bench/models/zoo';
import { buildModel } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { Model } from '../lib/runtime/model';
import { quantizeStatic } from '../lib/quant/static';
import { Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';
import { sqnr } from '../lib/quant/qparams';

const batches = (seed: number, count: number, batch = 2): { input: Tensor }[] => {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({
    input: new Tensor('float32', Float32Array.from({ length: batch * 3 * 32 * 32 }, () => r() * 2 - 1), [batch, 3, 32, 32]),
  }));
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}


function opHistogram(m: Model): Map<string, number> {
  const h = new Map<string, number>();
  for (const n of m.executionGraph.nodes) {
    const k = `${n.domain || 'ai.onnx'}:${n.opType}`;
    h.set(k, (h.get(k) ?? 0) + 1);
  }
  return h;
}

describe('quantizeStatic on a residual CNN', () => {
  let model: Model;
  beforeAll(async () => {
    model = await load(miniResnet());
  });

  test('every conv, add, pool and the classifier run as integer ops', async () => {
    const q = await quantizeStatic(model, batches(1, 4), { method: 'minmax' });
    const ops = opHistogram(q);
    // 1 stem + 2x2 block convs + 1 shortcut conv = 6 convolutions; 2 residual adds.
    expect(ops.get('nquant:QLinearConv')).toBe(6);
    expect(ops.get('com.microsoft:QLinearAdd')).toBe(2);
    expect(ops.get('com.microsoft:QLinearGlobalAveragePool')).toBe(1);
    expect(ops.get('nquant:QLinearMatMul')).toBe(1);
    // Channels-last from the first conv to the pool: one transpose back before Flatten.
    expect(ops.get('com.microsoft:NhwcMaxPool')).toBe(1);
    expect(ops.get('ai.onnx:Transpose')).toBe(1);
    expect(ops.get('ai.onnx:Conv') ?? 0).toBe(0);
    expect(ops.get('nquant:FusedConv') ?? 0).toBe(0);
    // One QuantizeLinear for the input; the classifier writes float logits itself.
    expect(ops.get('ai.onnx:QuantizeLinear')).toBe(1);
    expect(ops.get('ai.onnx:DequantizeLinear') ?? 0).toBe(0);
    expect(q.report.float.map((f) => f.opType)).toEqual([]);
    // A tiny model: names and per-channel scales weigh as much as its 23k weights.
    expect(q.report.sizeBytes.ratio).toBeGreaterThan(2.4);
  });

  test('integer execution matches simulated quantization and stays close to float', async () => {
    const q = await quantizeStatic(model, batches(2, 4), { method: 'minmax' });
    const simulated = new Model(q.ir, { integerExecution: false });
    const [feeds] = batches(99, 1, 4);
    const fp = (await model.run(feeds)).logits.data as Float32Array;
    const int8 = (await q.run(feeds)).logits.data as Float32Array;
    const sim = (await simulated.run(feeds)).logits.data as Float32Array;
    // The same integers, computed two ways: only rounding-order differences may remain.
    expect(sqnr(sim, int8)).toBeGreaterThan(30);
    expect(sqnr(fp, int8)).toBeGreaterThan(15);
    expect(q.report.outputSqnr.logits).toBeGreaterThan(15);
    for (const n of q.report.nodes.filter((x) => x.output)) expect(n.output!.sqnr).toBeGreaterThan(10);
  });

  test.each(['qdq', 'qoperator'] as const)('onnxruntime-node runs the %s export and agrees with ours', async (format) => {
    const q = await quantizeStatic(model, batches(3, 4), { method: 'minmax', format });
    const bytes = q.toOnnx();
    const [feeds] = batches(7, 1, 2);
    const theirs = (await runOrt(bytes, feeds)).logits.data as Float32Array;
    const ours = (await q.run(feeds)).logits.data as Float32Array;
    const fp = (await model.run(feeds)).logits.data as Float32Array;
    // Both are integer pipelines from the same parameters: far closer to each other than to float.
    expect(sqnr(theirs, ours)).toBeGreaterThan(30);
    expect(maxAbsDiff(theirs, ours)).toBeLessThan(0.2 * Math.max(...fp.map(Math.abs)));
    const reloaded = await load(bytes);
    const again = (await reloaded.run(feeds)).logits.data as Float32Array;
    expect(sqnr(ours, again)).toBeGreaterThan(40);
  });

  test('each calibration method gives a working model and reports its ranges', async () => {
    for (const method of ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'] as const) {
      const q = await quantizeStatic(model, batches(4, 3), { method });
      expect(q.report.method).toBe(method);
      expect(q.report.outputSqnr.logits).toBeGreaterThan(10);
      const conv = q.report.nodes.find((n) => n.opType === 'Conv' && n.output);
      expect(conv!.output!.range!.max).toBeGreaterThan(0);
    }
  });

  test('progress is reported per batch and the calibration source may be async', async () => {
    const seen: number[] = [];
    const data = batches(5, 3);
    async function* stream() { for (const b of data) yield b; }
    await quantizeStatic(model, stream(), { onProgress: (p) => { if (p.phase === 'calibrate') seen.push(p.batch); } });
    expect(seen).toEqual([1, 2, 3]);
  });

  test('bad calibration input gives errors that say what was wrong', async () => {
    await expect(quantizeStatic(model, [])).rejects.toThrow(/at least one batch/);
    await expect(quantizeStatic(model, [{ image: batches(1, 1)[0].input }])).rejects.toThrow(/calibration batch 0: .*input/);
    const nan = batches(6, 3);
    (nan[1].input.data as Float32Array)[5] = NaN;
    await expect(quantizeStatic(model, nan)).rejects.toThrow(/tensor 'input' had 1 NaN\/Infinity values/);
    // Skipped: a NaN spreads through every later layer of its batch, the other batches remain.
    await expect(quantizeStatic(model, nan, { allowNonFinite: true, reportBatches: 0 })).resolves.toBeDefined();
    const allNan = batches(6, 1);
    (allNan[0].input.data as Float32Array)[0] = NaN;
    await expect(quantizeStatic(model, allNan, { allowNonFinite: true })).rejects.toThrow(/had no finite values in 1 batches/);
    await expect(quantizeStatic(model, batches(1, 1), { method: 'kl' as never })).rejects.toThrow(/opts.method/);
    await expect(quantizeStatic(model, 42 as never)).rejects.toThrow(/calibration: expected an Iterable/);
  });

  test('per-tensor overrides replace calibration for that tensor, and unknown names are refused', async () => {
    const q = await quantizeStatic(model, batches(14, 2), { overrides: { input: { min: -4, max: 4 } }, reportBatches: 0 });
    const scale = q.ir.graph.initializers.get('input_scale')!.data as Float32Array;
    expect(scale[0]).toBeCloseTo(8 / 255, 7);
    const fixed = await quantizeStatic(model, batches(14, 2), { overrides: { input: { scale: 0.01, zeroPoint: 128 } }, reportBatches: 0 });
    expect((fixed.ir.graph.initializers.get('input_zero_point')!.data as Uint8Array)[0]).toBe(128);
    await expect(quantizeStatic(model, batches(14, 1), { overrides: { nope: { min: 0, max: 1 } } })).rejects.toThrow(/opts.overrides: tensor 'nope'/);
    await expect(quantizeStatic(model, batches(14, 1), { overrides: { input: { min: 2, max: 1 } } })).rejects.toThrow(/min <= max/);
  });

  test('reduceRange keeps weights in 7 bits', async () => {
    const q = await quantizeStatic(model, batches(15, 1), { reduceRange: true, reportBatches: 0 });
    const weights = [...q.ir.graph.initializers].filter(([name, t]) => name.endsWith('_quantized') && t.dtype === 'int8');
    expect(weights.length).toBeGreaterThan(0);
    for (const [, t] of weights) for (const v of t.data as Int8Array) expect(v >= -64 && v <= 64).toBe(true);
    const full = await quantizeStatic(model, batches(15, 1), { reduceRange: false, reportBatches: 0 });
    const maxAbs = Math.max(...[...full.ir.graph.initializers].filter(([name, t]) => name.endsWith('_quantized') && t.dtype === 'int8').map(([, t]) => Math.max(...Array.from(t.data as Int8Array, Math.abs))));
    expect(maxAbs).toBe(127);
  });

  test('weightBits puts weights on a narrower symmetric grid that onnxruntime runs as int8', async () => {
    const q4 = await quantizeStatic(model, batches(15, 1), { weightBits: 4, reportBatches: 0 });
    const weights = [...q4.ir.graph.initializers].filter(([name, t]) => name.endsWith('_quantized') && t.dtype === 'int8');
    expect(weights.length).toBeGreaterThan(0);
    let maxAbs = 0;
    for (const [, t] of weights) for (const v of t.data as Int8Array) maxAbs = Math.max(maxAbs, Math.abs(v));
    expect(maxAbs).toBe(7);  // each channel's largest weight lands on ±7
    const [feeds] = batches(7, 1, 2);
    const ours = (await q4.run(feeds)).logits.data as Float32Array;
    const theirs = (await runOrt(q4.toOnnx(), feeds)).logits.data as Float32Array;
    expect(sqnr(theirs, ours)).toBeGreaterThan(30);
    // A 4-bit grid costs accuracy an 8-bit one does not.
    const fp = (await model.run(feeds)).logits.data as Float32Array;
    const q8 = (await (await quantizeStatic(model, batches(15, 1), { reportBatches: 0 })).run(feeds)).logits.data as Float32Array;
    expect(sqnr(fp, q8)).toBeGreaterThan(sqnr(fp, ours) + 6);
    await expect(quantizeStatic(model, batches(15, 1), { weightBits: 9 })).rejects.toThrow(/opts\.weightBits.*2 to 8.*9/);
    await expect(quantizeStatic(model, batches(15, 1), { weightBits: 4, weightType: 'uint8' })).rejects.toThrow(/opts\.weightType/);
    await expect(quantizeStatic(model, batches(15, 1), { weightBits: 4, reduceRange: true })).rejects.toThrow(/opts\.reduceRange/);
  });

  test('a constant (zero-range) input still quantizes', async () => {
    const zeros = [{ input: Tensor.zeros('float32', [1, 3, 32, 32]) }];
    const q = await quantizeStatic(model, zeros, { reportBatches: 0 });
    const out = await q.run(zeros[0]);
    expect(Array.from(out.logits.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  test('excluded nodes and op types stay float and are listed with the reason', async () => {
    const convs = model.executionGraph.nodes.filter((n) => n.opType === 'FusedConv' || n.opType === 'Conv');
    const q = await quantizeStatic(model, batches(8, 2), { nodesToExclude: [convs[0].name], opTypes: ['Conv', 'Gemm', 'MaxPool', 'Relu', 'GlobalAveragePool', 'Flatten'] });
    const reasons = new Map(q.report.float.map((f) => [f.name, f.reason]));
    expect(reasons.get(convs[0].name)).toMatch(/excluded/);
    expect([...reasons.values()].some((r) => /op type Add not in opts.opTypes/.test(r))).toBe(true);
    const [feeds] = batches(9, 1);
    const fp = (await model.run(feeds)).logits.data as Float32Array;
    expect(sqnr(fp, (await q.run(feeds)).logits.data as Float32Array)).toBeGreaterThan(15);
  });

  test('signed activations and symmetric activations work end to end', async () => {
    for (const o of [{ activationType: 'int8' as const }, { activationType: 'int8' as const, symmetricActivations: true }, { perChannel: false }]) {
      const q = await quantizeStatic(model, batches(10, 2), o);
      const [feeds] = batches(11, 1);
      const fp = (await model.run(feeds)).logits.data as Float32Array;
      expect(sqnr(fp, (await q.run(feeds)).logits.data as Float32Array)).toBeGreaterThan(15);
      const theirs = (await runOrt(q.toOnnx(), feeds)).logits.data as Float32Array;
      expect(sqnr(theirs, (await q.run(feeds)).logits.data as Float32Array)).toBeGreaterThan(30);
    }
  });
});

describe('bias correction', () => {
  test('removes most of the systematic output shift per-tensor weights cause', async () => {
    const model = await load(miniResnet(3));
    const calib = batches(12, 6, 4);
    const plain = await quantizeStatic(model, calib, { perChannel: false, reportBatches: 0 });
    const corrected = await quantizeStatic(model, calib, { perChannel: false, biasCorrection: true, reportBatches: 0 });
    // Mean error per logit over many inputs: the part of the error bias correction targets.
    const shift = async (q: Model) => {
      const sums = new Float64Array(10);
      let rows = 0;
      for (const feeds of batches(13, 4, 8)) {
        const f = (await model.run(feeds)).logits.data as Float32Array;
        const g = (await q.run(feeds)).logits.data as Float32Array;
        for (let i = 0; i < f.length; i++) sums[i % 10] += g[i] - f[i];
        rows += f.length / 10;
      }
      return sums.reduce((a, s) => a + Math.abs(s / rows), 0) / 10;
    };
    const before = await shift(plain), after = await shift(corrected);
    console.log(`mean |systematic logit shift|: ${before.toExponential(2)} without, ${after.toExponential(2)} with bias correction`);
    expect(after).toBeLessThan(before);
  });
});

describe('quantizeStatic on Concat, Mul, AveragePool and opt-in Sigmoid', () => {
  // conv -> (conv a, conv b) -> Concat -> AveragePool; gate = Sigmoid(conv c); Mul; GAP; Gemm.
  function branchyModel(): Uint8Array {
    const r = rng(404);
    const w = (dims: number[]) => new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * 0.3), dims);
    return buildModel({
      inputs: [{ name: 'input', dtype: 'float32', dims: ['batch', 3, 16, 16] }],
      outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', 5] }],
      nodes: [
        { opType: 'Conv', inputs: ['input', 'w0', 'b0'], outputs: ['c0'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { opType: 'Relu', inputs: ['c0'], outputs: ['r0'] },
        { opType: 'Conv', inputs: ['r0', 'wa'], outputs: ['ca'], attributes: { kernel_shape: [1, 1] } },
        { opType: 'Conv', inputs: ['r0', 'wb'], outputs: ['cb'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { opType: 'Concat', inputs: ['ca', 'cb'], outputs: ['cat'], attributes: { axis: 1 } },
        { opType: 'AveragePool', inputs: ['cat'], outputs: ['pool'], attributes: { kernel_shape: [2, 2], strides: [2, 2] } },
        { opType: 'Conv', inputs: ['pool', 'wc'], outputs: ['cc'], attributes: { kernel_shape: [1, 1] } },
        { opType: 'Sigmoid', inputs: ['cc'], outputs: ['gate'] },
        { opType: 'Mul', inputs: ['pool', 'gate'], outputs: ['gated'] },
        { opType: 'GlobalAveragePool', inputs: ['gated'], outputs: ['gap'] },
        { opType: 'Flatten', inputs: ['gap'], outputs: ['flat'] },
        { opType: 'Gemm', inputs: ['flat', 'wg', 'bg'], outputs: ['logits'], attributes: { transB: 1 } },
      ],
      initializers: { w0: w([8, 3, 3, 3]), b0: w([8]), wa: w([4, 8, 1, 1]), wb: w([4, 8, 3, 3]), wc: w([8, 8, 1, 1]), wg: w([5, 8]), bg: w([5]) },
      opset: 13,
    });
  }
  const data = (seed: number, n: number) => {
    const r = rng(seed);
    return Array.from({ length: n }, () => ({ input: new Tensor('float32', Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => r() * 2 - 1), [2, 3, 16, 16]) }));
  };

  test('every op runs in integer form and agrees with float and with onnxruntime', async () => {
    const model = await load(branchyModel());
    const all = ['Conv', 'Gemm', 'Concat', 'AveragePool', 'Sigmoid', 'Mul', 'GlobalAveragePool', 'Flatten', 'Relu'];
    for (const format of ['qdq', 'qoperator'] as const) {
      const q = await quantizeStatic(model, data(1, 4), { opTypes: all, format, method: 'percentile' });
      const ops = opHistogram(q);
      expect(ops.get('com.microsoft:QLinearConcat')).toBe(1);
      expect(ops.get('com.microsoft:QLinearAveragePool')).toBe(1);
      expect(ops.get('com.microsoft:QLinearSigmoid')).toBe(1);
      expect(ops.get('com.microsoft:QLinearMul')).toBe(1);
      expect(ops.get('ai.onnx:Sigmoid') ?? 0).toBe(0);
      expect(q.report.float).toEqual([]);
      const [feeds] = data(2, 1);
      const fp = (await model.run(feeds)).logits.data as Float32Array;
      const ours = (await q.run(feeds)).logits.data as Float32Array;
      const theirs = (await runOrt(q.toOnnx(), feeds)).logits.data as Float32Array;
      expect(sqnr(fp, ours)).toBeGreaterThan(15);
      expect(sqnr(theirs, ours)).toBeGreaterThan(30);
    }
  });

  test('Sigmoid is not quantized unless asked for, and the report says why', async () => {
    const model = await load(branchyModel());
    const q = await quantizeStatic(model, data(3, 2));
    const sig = q.report.float.find((f) => f.opType === 'Sigmoid');
    expect(sig?.reason).toMatch(/not in opts.opTypes/);
    // No parameters of its own: its output gets the consuming Mul's input parameters, so
    // the runtime (like onnxruntime) still computes it by table between the two Q/DQ pairs.
    expect(q.report.nodes.find((n) => n.opType === 'Sigmoid')?.output).toBeUndefined();
    const [feeds] = data(4, 1);
    const fp = (await model.run(feeds)).logits.data as Float32Array;
    expect(sqnr(fp, (await q.run(feeds)).logits.data as Float32Array)).toBeGreaterThan(15);
  });
});

describe('heavy-tailed activations', () => {
  test('percentile, entropy and MSE beat min-max on a heavy-tailed activation', async () => {
    // input -> MatMul -> y: min-max spends the int8 grid on the few largest values and rounds
    // the bulk coarsely; the other methods clip the tail.
    const r = rng(77);
    const k = 64, n = 16;
    const w = new Tensor('float32', Float32Array.from({ length: k * n }, () => (r() * 2 - 1) * 0.2), [k, n]);
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', k] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', n] }],
      nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
      initializers: { w }, opset: 13,
    });
    // Laplace-distributed activations (heavier tails than Gaussian, like real pre-activation
    // values): 1M values, so the rare large ones are as rare as in a real calibration run.
    const laplace = () => { const u = r() - 0.5; return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u) + 1e-12); };
    const feeds = Array.from({ length: 8 }, () => ({ x: new Tensor('float32', Float32Array.from({ length: 2048 * k }, laplace), [2048, k]) }));
    const model = await load(bytes);
    const sqnrOf = async (method: 'minmax' | 'percentile' | 'entropy' | 'mse') => {
      const q = await quantizeStatic(model, feeds, { method, reportBatches: 8, activationType: 'int8', symmetricActivations: true });
      return q.report.outputSqnr.y;
    };
    const table: { [m: string]: number } = {};
    for (const m of ['minmax', 'percentile', 'entropy', 'mse'] as const) table[m] = await sqnrOf(m);
    console.log(`output SQNR (dB) by calibration method: ${Object.entries(table).map(([m, v]) => `${m} ${v.toFixed(1)}`).join(', ')}`);
    expect(table.percentile).toBeGreaterThan(table.minmax);
    expect(table.entropy).toBeGreaterThan(table.minmax);
    expect(table.mse).toBeGreaterThan(table.minmax);
  });
});
