// Unary QDQ regions (hard-swish, HardSigmoid, Clip chains between a quantized input and one
// quantized output) run as one byte lookup where the lookup is SIMD; the lookup holds exactly
// what the float ops with their Q/DQ roundings compute, so onnxruntime (running the float ops)
// and nquant agree byte for byte on every input code, closer than the QLinearAdd/QLinearMul
// chain they replace.
import { cpu } from '../lib/cpu';
import { native } from '../lib/native';
import { buildModel } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { runOrt } from './helpers/ort-models';

const f = (v: number) => new Tensor('float32', Float32Array.of(v), []);
const u8 = (v: number) => new Tensor('uint8', Uint8Array.of(v), []);

/** x -> Q -> [DQ -> op -> Q]* -> DQ -> y, as quantizeStatic writes a hard-swish and friends. */
function chainModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4, 8, 8] }, { name: 'z', dtype: 'float32', dims: [1, 4, 8, 8] }],
    initializers: {
      s_x: f(0.05), z_x: u8(120), s_a: f(0.04), z_a: u8(10), s_c: f(6 / 255), z_c: u8(0), s_m: f(0.03), z_m: u8(30),
      s_y: f(0.017), z_y: u8(25), three_q: u8(200), s_three: f(3 / 200), six_q: u8(240), s_six: f(6 / 240),
      s_h: f(1 / 255), lo: f(0), hi: f(6),
    },
    nodes: [
      { opType: 'QuantizeLinear', inputs: ['x', 's_x', 'z_x'], outputs: ['xq'] },
      { opType: 'DequantizeLinear', inputs: ['xq', 's_x', 'z_x'], outputs: ['xf'] },
      // hard-swish: x * clip(x + 3, 0, 6) / 6 with constants quantized like quantizeStatic's
      { opType: 'DequantizeLinear', inputs: ['three_q', 's_three', 'z_c'], outputs: ['three'] },
      { opType: 'Add', inputs: ['xf', 'three'], outputs: ['a'] },
      { opType: 'QuantizeLinear', inputs: ['a', 's_a', 'z_a'], outputs: ['aq'] },
      { opType: 'DequantizeLinear', inputs: ['aq', 's_a', 'z_a'], outputs: ['af'] },
      { opType: 'Clip', inputs: ['af', 'lo', 'hi'], outputs: ['c'] },
      { opType: 'QuantizeLinear', inputs: ['c', 's_c', 'z_c'], outputs: ['cq'] },
      { opType: 'DequantizeLinear', inputs: ['cq', 's_c', 'z_c'], outputs: ['cf'] },
      { opType: 'Mul', inputs: ['xf', 'cf'], outputs: ['m'] },
      { opType: 'QuantizeLinear', inputs: ['m', 's_m', 'z_m'], outputs: ['mq'] },
      { opType: 'DequantizeLinear', inputs: ['mq', 's_m', 'z_m'], outputs: ['mf'] },
      { opType: 'DequantizeLinear', inputs: ['six_q', 's_six', 'z_c'], outputs: ['six'] },
      { opType: 'Div', inputs: ['mf', 'six'], outputs: ['d'] },
      { opType: 'QuantizeLinear', inputs: ['d', 's_y', 'z_y'], outputs: ['yq'] },
      { opType: 'DequantizeLinear', inputs: ['yq', 's_y', 'z_y'], outputs: ['y'] },
      // a HardSigmoid gate on the same input: a second region
      { opType: 'HardSigmoid', inputs: ['xf'], outputs: ['h'], attributes: { alpha: 0.2, beta: 0.5 } },
      { opType: 'QuantizeLinear', inputs: ['h', 's_h', 'z_c'], outputs: ['hq'] },
      { opType: 'DequantizeLinear', inputs: ['hq', 's_h', 'z_c'], outputs: ['z'] },
    ],
    opset: 17,
  });
}

test('a hard-swish chain and a HardSigmoid gate become lookups with onnxruntime\'s bytes on every input code', async () => {
  const bytes = chainModel();
  // Every uint8 code of x (and then some, past both ends of the range).
  const x = new Float32Array(256).map((_, i) => (i - 120) * 0.05);
  const feeds = { x: new Tensor('float32', x, [1, 4, 8, 8]) };
  const fused = await load(bytes);
  const ours = await fused.run(feeds);
  const ops = fused.executionGraph.nodes.map((n) => n.opType);
  const fast = !/__ref$/.test(cpu().kernels.lookup ?? '__ref');
  if (fast) {
    expect(ops.filter((o) => o === 'QLinearLookup').length).toBe(2);
    expect(ops).not.toContain('Clip');
    expect(ops).not.toContain('HardSigmoid');
    expect(ops.filter((o) => o === 'QLinearMul' || o === 'QLinearAdd')).toEqual([]);
  } else {
    expect(ops).not.toContain('QLinearLookup');  // a scalar lookup is slower than the vectorised chain
  }
  // onnxruntime without graph optimizations runs the float ops between the Q/DQ pairs: the
  // lookup reproduces them byte for byte.
  const theirs = await runOrt(bytes, feeds);
  if (fast) {
    expect(Array.from(ours.y.data as Float32Array)).toEqual(Array.from(theirs.y.data as Float32Array));
    expect(Array.from(ours.z.data as Float32Array)).toEqual(Array.from(theirs.z.data as Float32Array));
  }
  // Where the lookup is scalar the chain stays QLinearAdd/QLinearMul (onnxruntime's integer
  // kernels' arithmetic): equal up to ties rounded the other way (an intermediate code one
  // step off, which the product then doubles), so within two output steps.
  const isa = cpu().isa;
  native.setIsa(cpu().supportedIsas.includes('avx2') ? 'avx2' : 'scalar');
  const chain = await load(bytes);
  const unfused = await chain.run(feeds);
  native.setIsa(isa);
  expect(chain.executionGraph.nodes.map((n) => n.opType)).not.toContain('QLinearLookup');
  const within = (a: Float32Array, b: Float32Array, step: number) => a.every((v, i) => Math.abs(v - b[i]) <= 2 * step + 1e-6);
  expect(within(unfused.y.data as Float32Array, theirs.y.data as Float32Array, 0.017)).toBe(true);
  expect(within(unfused.z.data as Float32Array, theirs.z.data as Float32Array, 1 / 255)).toBe(true);
  fused.dispose();
  chain.dispose();
});
