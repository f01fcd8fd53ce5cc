// Models in the shapes onnxruntime's Python quantizer writes (built here by hand from its op
// patterns): QDQ with int8 activations and per-channel weights, and QOperator with QLinearConv,
// com.microsoft QLinearAdd / QLinearGlobalAveragePool and QGemm. They load, lower to our
// integer ops, and agree with onnxruntime-node.
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';

const r = rng(2024);
const f32 = (dims: number[], scale = 1) => new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale), dims);
const i8 = (dims: number[]) => new Tensor('int8', Int8Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => Math.floor(r() * 255) - 127), dims);
const u8s = (v: number) => new Tensor('uint8', new Uint8Array([v]), []);
const i8s = (v: number) => new Tensor('int8', new Int8Array([v]), []);
const s = (v: number) => new Tensor('float32', new Float32Array([v]), []);

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('QDQ (int8 activations, per-channel weights, Conv+Relu, residual Add) lowers and matches onnxruntime', async () => {
  const C = 8;
  const nodes: NodeSpec[] = [
    { opType: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
    { opType: 'DequantizeLinear', inputs: ['xq', 'sx', 'zx'], outputs: ['xd'] },
    { opType: 'DequantizeLinear', inputs: ['wq', 'sw', 'zw'], outputs: ['wd'], attributes: { axis: 0 } },
    { opType: 'DequantizeLinear', inputs: ['bq', 'sb'], outputs: ['bd'], attributes: { axis: 0 } },
    { opType: 'Conv', inputs: ['xd', 'wd', 'bd'], outputs: ['c'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    { opType: 'Relu', inputs: ['c'], outputs: ['cr'] },
    { opType: 'QuantizeLinear', inputs: ['cr', 'sy', 'zy'], outputs: ['yq'] },
    { opType: 'DequantizeLinear', inputs: ['yq', 'sy', 'zy'], outputs: ['yd'] },
    { opType: 'Add', inputs: ['yd', 'xd'], outputs: ['a'] },
    { opType: 'QuantizeLinear', inputs: ['a', 'sa', 'za'], outputs: ['aq'] },
    { opType: 'DequantizeLinear', inputs: ['aq', 'sa', 'za'], outputs: ['out'] },
  ];
  const sw = new Tensor('float32', Float32Array.from({ length: C }, (_, i) => 0.002 + i * 0.0005), [C]);
  const sxv = 0.02, swv = sw.data as Float32Array;
  const bias = new Tensor('int32', Int32Array.from({ length: C }, () => Math.floor(r() * 2000) - 1000), [C]);
  const sb = new Tensor('float32', Float32Array.from(swv, (v) => Math.fround(v * sxv)), [C]);
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, C, 10, 10] }],
    outputs: [{ name: 'out', dtype: 'float32', dims: [1, C, 10, 10] }],
    nodes,
    initializers: {
      sx: s(sxv), zx: i8s(3), wq: i8([C, C, 3, 3]), sw, zw: new Tensor('int8', new Int8Array(C), [C]), bq: bias, sb,
      sy: s(0.03), zy: i8s(-128), sa: s(0.04), za: i8s(-20),
    },
    opset: 13,
  });
  const m = await load(bytes);
  const ops = m.executionGraph.nodes.map((n) => `${n.domain}:${n.opType}`);
  // The conv writes channels-last; the add also reads the NCHW input, so the conv's output
  // is transposed back for it.
  expect(ops).toEqual([':QuantizeLinear', 'nquant:QLinearConv', ':Transpose', 'com.microsoft:QLinearAdd', ':DequantizeLinear']);
  const x = { x: f32([1, C, 10, 10], 2) };
  const ours = (await m.run(x)).out.data as Float32Array;
  const theirs = (await runOrt(bytes, x)).out.data as Float32Array;
  // One output step (0.04) at most: the same integer pipeline, rounding ties aside.
  expect(maxAbs(ours, theirs)).toBeLessThanOrEqual(0.04 + 1e-6);
});

test('QOperator (QLinearConv, QLinearAdd, QLinearGlobalAveragePool, QGemm) runs and matches onnxruntime', async () => {
  const C = 16, K = 10;
  const nodes: NodeSpec[] = [
    { opType: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
    { opType: 'QLinearConv', inputs: ['xq', 'sx', 'zx', 'w1', 'sw1', 'zw1', 's1', 'z1', 'b1'], outputs: ['y1'], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    { opType: 'QLinearConv', inputs: ['y1', 's1', 'z1', 'w2', 'sw2', 'zw2', 's2', 'z2'], outputs: ['y2'], attributes: { kernel_shape: [1, 1] } },
    { opType: 'QLinearAdd', domain: 'com.microsoft', inputs: ['y1', 's1', 'z1', 'y2', 's2', 'z2', 's3', 'z3'], outputs: ['y3'] },
    { opType: 'QLinearGlobalAveragePool', domain: 'com.microsoft', inputs: ['y3', 's3', 'z3', 's4', 'z4'], outputs: ['y4'], attributes: { channels_last: 0 } },
    { opType: 'Flatten', inputs: ['y4'], outputs: ['y5'] },
    { opType: 'QGemm', domain: 'com.microsoft', inputs: ['y5', 's4', 'z4', 'wg', 'swg', 'zwg', 'bg'], outputs: ['logits'], attributes: { transB: 1 } },
  ];
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [2, C, 8, 8] }],
    outputs: [{ name: 'logits', dtype: 'float32', dims: [2, K] }],
    nodes,
    initializers: {
      sx: s(0.02), zx: u8s(128),
      w1: i8([C, C, 3, 3]), sw1: s(0.003), zw1: i8s(0), s1: s(0.05), z1: u8s(0), b1: new Tensor('int32', Int32Array.from({ length: C }, () => Math.floor(r() * 4000) - 2000), [C]),
      w2: i8([C, C, 1, 1]), sw2: s(0.004), zw2: i8s(0), s2: s(0.03), z2: u8s(100),
      s3: s(0.06), z3: u8s(60), s4: s(0.02), z4: u8s(40),
      wg: i8([K, C]), swg: new Tensor('float32', Float32Array.from({ length: K }, (_, i) => 0.01 + 0.001 * i), [K]), zwg: new Tensor('int8', new Int8Array(K), [K]),
      bg: new Tensor('int32', Int32Array.from({ length: K }, () => Math.floor(r() * 200) - 100), [K]),
    },
    opset: 13,
    domains: { 'com.microsoft': 1 },
  });
  const m = await load(bytes);
  const x = { x: f32([2, C, 8, 8], 2) };
  const ours = (await m.run(x)).logits.data as Float32Array;
  const theirs = (await runOrt(bytes, x)).logits.data as Float32Array;
  const scale = Math.max(...Array.from(theirs, Math.abs));
  expect(maxAbs(ours, theirs)).toBeLessThan(0.02 * scale + 1e-3);
});
