// Our quantization ops against onnxruntime-node on the same random inputs, beyond ONNX's
// small vectors: bigger shapes, per-axis parameters, signed and unsigned types.
import * as ort from 'onnxruntime-node';
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { dequantizeLinear, dynamicQuantizeLinear, matMulInteger, qlinearMatMul, quantizeLinear } from '../lib/runtime/ops/quantization';
import { DataType, Tensor } from '../lib/tensor';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Runs a one-node model in ORT with every input fed (so nothing is constant-folded away). */
async function runOrt(node: NodeSpec, inputs: { [name: string]: Tensor }, outputs: { name: string; dtype: DataType }[]): Promise<Tensor[]> {
  const bytes = buildModel({
    inputs: Object.entries(inputs).map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims] })),
    // Output shapes are left for ORT to infer (an empty dim list would claim a scalar).
    outputs: outputs.map((o) => ({ name: o.name, dtype: o.dtype, dims: [] })),
    nodes: [node],
    opset: 19,
  });
  const session = await ort.InferenceSession.create(bytes);
  const feeds: { [name: string]: ort.Tensor } = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor(t.dtype as never, t.data as never, [...t.dims]);
  const result = await session.run(feeds);
  await session.release();
  return outputs.map((o) => new Tensor(result[o.name].type as DataType, result[o.name].data as never, [...result[o.name].dims]));
}

function expectEqual(ours: Tensor, theirs: Tensor): void {
  expect(ours.dtype).toBe(theirs.dtype);
  expect([...ours.dims]).toEqual([...theirs.dims]);
  const a = Array.from(ours.data as ArrayLike<number>);
  const b = Array.from(theirs.data as ArrayLike<number>);
  let mismatches = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) mismatches++;
  expect(mismatches).toBe(0);
}

describe('against onnxruntime-node', () => {
  test.each([
    ['uint8', 'int8', 17, 33, 65, 128, 0],
    ['uint8', 'uint8', 3, 130, 31, 7, 200],
    ['int8', 'int8', 64, 64, 64, -5, 3],
  ] as const)('MatMulInteger A %s x B %s, %ix%ix%i, zero points %i/%i', async (at, bt, m, k, n, za, zb) => {
    const r = rng(m * 1000 + k);
    const mk = (dtype: 'uint8' | 'int8', size: number) => dtype === 'uint8'
      ? new Tensor('uint8', Uint8Array.from({ length: size }, () => Math.floor(r() * 256)), [size])
      : new Tensor('int8', Int8Array.from({ length: size }, () => Math.floor(r() * 256) - 128), [size]);
    const a = mk(at, m * k).reshape([m, k]) as Tensor<'uint8'>;
    const b = mk(bt, k * n).reshape([k, n]) as Tensor<'uint8'>;
    const zaT = (at === 'uint8' ? new Tensor('uint8', [za]) : new Tensor('int8', [za])) as Tensor<'uint8'>;
    const zbT = (bt === 'uint8' ? new Tensor('uint8', [zb]) : new Tensor('int8', [zb])) as Tensor<'uint8'>;
    const zaS = zaT.reshape([]) as Tensor<'uint8'>;
    const zbS = zbT.reshape([]) as Tensor<'uint8'>;
    const [theirs] = await runOrt({ opType: 'MatMulInteger', inputs: ['a', 'b', 'za', 'zb'], outputs: ['y'] }, { a, b, za: zaS, zb: zbS }, [{ name: 'y', dtype: 'int32' }]);
    expectEqual(matMulInteger(a, b, zaS, zbS), theirs);
  });

  test('QLinearMatMul u8 with per-column B scales and zero points', async () => {
    const r = rng(11);
    const m = 9, k = 70, n = 23;
    const a = new Tensor('uint8', Uint8Array.from({ length: m * k }, () => Math.floor(r() * 256)), [m, k]);
    const b = new Tensor('uint8', Uint8Array.from({ length: k * n }, () => Math.floor(r() * 256)), [k, n]);
    const aScale = new Tensor('float32', new Float32Array([0.0123]), []);
    const aZp = new Tensor('uint8', new Uint8Array([131]), []);
    const bScale = new Tensor('float32', Float32Array.from({ length: n }, () => 0.001 + r() * 0.01), [n]);
    const bZp = new Tensor('uint8', Uint8Array.from({ length: n }, () => 100 + Math.floor(r() * 50)), [n]);
    const yScale = new Tensor('float32', new Float32Array([0.37]), []);
    const yZp = new Tensor('uint8', new Uint8Array([120]), []);
    const inputs = { a, aScale, aZp, b, bScale, bZp, yScale, yZp };
    const [theirs] = await runOrt({ opType: 'QLinearMatMul', inputs: Object.keys(inputs), outputs: ['y'] }, inputs, [{ name: 'y', dtype: 'uint8' }]);
    const ours = qlinearMatMul(a, aScale, aZp, b, bScale, bZp, yScale, yZp);
    // Both round (acc * scale) half to even in float32; allow 1 LSB where the float product
    // lands within rounding error of a tie (documented bound), and require most exact.
    const diffs = Array.from(ours.data).map((v, i) => Math.abs(v - (theirs.data as Uint8Array)[i]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
    expect(diffs.filter((d) => d !== 0).length).toBeLessThanOrEqual(Math.ceil(diffs.length * 0.01));
  });

  test.each([0, 1, 2, -1])('QuantizeLinear and DequantizeLinear per axis %i (int8)', async (axis) => {
    const r = rng(5 + axis);
    const dims = [3, 4, 5];
    const x = new Tensor('float32', Float32Array.from({ length: 60 }, () => (r() - 0.5) * 20), dims);
    const c = dims[(axis + 3) % 3];
    const scale = new Tensor('float32', Float32Array.from({ length: c }, () => 0.01 + r() * 0.1), [c]);
    const zp = new Tensor('int8', Int8Array.from({ length: c }, () => Math.floor(r() * 20) - 10), [c]);
    const [q] = await runOrt({ opType: 'QuantizeLinear', inputs: ['x', 'scale', 'zp'], outputs: ['y'], attributes: { axis } }, { x, scale, zp }, [{ name: 'y', dtype: 'int8' }]);
    const ours = quantizeLinear(x, scale, zp, axis);
    expectEqual(ours, q);
    const [dq] = await runOrt({ opType: 'DequantizeLinear', inputs: ['q', 'scale', 'zp'], outputs: ['y'], attributes: { axis } }, { q: ours, scale, zp }, [{ name: 'y', dtype: 'float32' }]);
    expectEqual(dequantizeLinear(ours as Tensor<'int8'>, scale, zp, axis), dq);
  });

  test('DynamicQuantizeLinear on a skewed tensor', async () => {
    const r = rng(99);
    const x = new Tensor('float32', Float32Array.from({ length: 1000 }, () => r() * 7 - 1.5), [10, 100]);
    const theirs = await runOrt({ opType: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['y', 's', 'z'] }, { x },
      [{ name: 'y', dtype: 'uint8' }, { name: 's', dtype: 'float32' }, { name: 'z', dtype: 'uint8' }]);
    const ours = dynamicQuantizeLinear(x);
    expectEqual(ours[0], theirs[0]);
    expect(ours[1].data[0]).toBe(theirs[1].data[0]);
    expect(ours[2].data[0]).toBe(theirs[2].data[0]);
  });
});
