// NaN and infinities fed through the INT8 paths, against the documented rules (SECURITY.md):
// float->int8 quantization maps NaN to qmin (as onnxruntime does) and saturates +-Inf; dynamic
// quantization leaves NaN/Inf out of the range. Each rule is checked as an equivalence a
// wrong implementation would break: a feed with NaN must give exactly the outputs of the same
// feed with NaN replaced by a value that quantizes to qmin (and Inf by values that saturate).
// One-node QuantizeLinear / DynamicQuantizeLinear models are also run through
// onnxruntime-node, whose outputs ours must equal.
import { miniResnet } from '../bench/models/zoo';
import { buildModel } from '../lib/onnx/builder';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { quantizeStatic } from '../lib/quant/static';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';

const FAULTS = [NaN, -NaN, Infinity, -Infinity];

async function runOurs(bytes: Uint8Array, feeds: { [name: string]: Tensor }): Promise<{ [name: string]: Tensor }> {
  const model = await load(bytes);
  try {
    return await model.run(feeds);
  } finally {
    model.dispose();
  }
}

const values = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number>);

describe('QuantizeLinear and DynamicQuantizeLinear on NaN/Inf, same as onnxruntime', () => {
  // Long enough for a SIMD body and a tail; faults at every lane position.
  const x = Float32Array.from({ length: 67 }, (_, i) => (i % 3 === 0 ? FAULTS[(i / 3) % 4] : (i - 33) * 0.37));

  test.each([
    ['uint8', 0], ['uint8', 128], ['uint8', 255], ['int8', -128], ['int8', 0], ['int8', 127],
  ] as const)('QuantizeLinear %s zero point %d: NaN -> qmin, Inf saturates', async (type, zp) => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [x.length] }],
      outputs: [{ name: 'y', dtype: type, dims: [x.length] }],
      initializers: { s: new Tensor('float32', [0.1], []), z: new Tensor(type, [zp], []) },
      nodes: [{ opType: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['y'] }],
      opset: 17,
    });
    const feeds = { x: new Tensor('float32', x, [x.length]) };
    const ours = values((await runOurs(bytes, feeds)).y);
    const theirs = values((await runOrt(bytes, feeds)).y);
    expect(ours).toEqual(theirs);
    const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
    x.forEach((v, i) => {
      if (Number.isNaN(v)) expect(ours[i]).toBe(qmin);
      else if (v === Infinity) expect(ours[i]).toBe(qmax);
      else if (v === -Infinity) expect(ours[i]).toBe(qmin);
    });
  });

  test('DynamicQuantizeLinear leaves NaN out of the range and maps it to 0', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [4] }],
      outputs: [{ name: 'y', dtype: 'uint8', dims: [4] }, { name: 's', dtype: 'float32', dims: [] }, { name: 'z', dtype: 'uint8', dims: [] }],
      nodes: [{ opType: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['y', 's', 'z'] }],
      opset: 17,
    });
    const feeds = { x: new Tensor('float32', [NaN, 1, 2, -1], [4]) };
    const ours = await runOurs(bytes, feeds);
    const theirs = await runOrt(bytes, feeds);
    for (const k of ['y', 's', 'z']) expect(values(ours[k])).toEqual(values(theirs[k]));
    expect(values(ours.y)).toEqual([0, 170, 255, 0]);
    expect(values(ours.z)).toEqual([85]);
  });

  test('DynamicQuantizeLinear leaves Inf out of the range too (onnxruntime returns scale Inf there)', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [5] }],
      outputs: [{ name: 'y', dtype: 'uint8', dims: [5] }, { name: 's', dtype: 'float32', dims: [] }, { name: 'z', dtype: 'uint8', dims: [] }],
      nodes: [{ opType: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['y', 's', 'z'] }],
      opset: 17,
    });
    const ours = await runOurs(bytes, { x: new Tensor('float32', [Infinity, 1, 2, -1, -Infinity], [5]) });
    expect(values(ours.s)[0]).toBeCloseTo(3 / 255, 7);
    expect(values(ours.z)).toEqual([85]);
    expect(values(ours.y)).toEqual([255, 170, 255, 0, 0]);
  });
});

/** Copies t with every NaN replaced by nan, +Inf by pos and -Inf by neg. */
function replaced(t: Tensor, nan: number, pos: number, neg: number): Tensor {
  const d = Float32Array.from(t.data as Float32Array, (v) => (Number.isNaN(v) ? nan : v === Infinity ? pos : v === -Infinity ? neg : v));
  return new Tensor('float32', d, [...t.dims]);
}

function withFaults(t: Tensor, seed: number): Tensor {
  const r = rng(seed);
  const d = Float32Array.from(t.data as Float32Array);
  for (let i = 0; i < d.length; i++) if (r() < 0.05) d[i] = FAULTS[Math.floor(r() * 4)];
  return new Tensor('float32', d, [...t.dims]);
}

describe('quantized models on NaN/Inf feeds', () => {
  // A small MLP: quantizeDynamic turns both MatMuls into DynamicQuantizeMatMul.
  function mlp(): Uint8Array {
    const r = rng(5);
    const w = (k: number, n: number): Tensor => new Tensor('float32', Float32Array.from({ length: k * n }, () => r() - 0.5), [k, n]);
    return buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [4, 48] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [4, 10] }],
      initializers: { w1: w(48, 32), w2: w(32, 10) },
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'] },
        { opType: 'Relu', inputs: ['h'], outputs: ['a'] },
        { opType: 'MatMul', inputs: ['a', 'w2'], outputs: ['y'] },
      ],
      opset: 17,
    });
  }

  test('quantizeDynamic: NaN acts as the range minimum, Inf as its end; outputs stay finite', async () => {
    const model = await load(mlp());
    try {
      const q = await quantizeDynamic(model);
      expect(q.executionGraph.nodes.map((n) => n.opType)).toContain('DynamicQuantizeMatMul');
      const r = rng(9);
      const clean = new Tensor('float32', Float32Array.from({ length: 4 * 48 }, () => r() * 2 - 1), [4, 48]);
      const x = withFaults(clean, 3);
      const data = x.data as Float32Array;
      expect(data.some(Number.isNaN)).toBe(true);
      expect(data.some((v) => v === Infinity)).toBe(true);
      // The dynamic range is over the finite values with 0 included; NaN quantizes to 0, the
      // code of the range's low end, +Inf to 255 (the high end), -Inf to 0.
      const finite = data.filter(Number.isFinite);
      const lo = Math.min(0, ...finite), hi = Math.max(0, ...finite);
      const same = replaced(x, lo, hi, lo);
      const y = (await q.run({ x })).y.data as Float32Array;
      const want = (await q.run({ x: same })).y.data as Float32Array;
      expect(Array.from(y)).toEqual(Array.from(want));
      expect(Array.from(y).every(Number.isFinite)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  test('quantizeStatic: NaN acts as -huge (qmin), Inf saturates; same rule in onnxruntime on the export', async () => {
    const model = await load(miniResnet());
    try {
      const r = rng(1);
      const batch = (): { input: Tensor } => ({
        input: new Tensor('float32', Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => r() * 2 - 1), [2, 3, 32, 32]),
      });
      const q = await quantizeStatic(model, [batch(), batch(), batch()], { method: 'minmax' });
      const input = withFaults(batch().input, 4);
      const same = replaced(input, -1e30, 1e30, -1e30);
      const name = q.outputs[0].name;
      const ours = (await q.run({ input }))[name].data as Float32Array;
      expect(Array.from(ours)).toEqual(Array.from((await q.run({ input: same }))[name].data as Float32Array));
      expect(Array.from(ours).every(Number.isFinite)).toBe(true);
      const bytes = q.toOnnx();
      const theirs = (await runOrt(bytes, { input }))[name].data as Float32Array;
      const theirsSame = (await runOrt(bytes, { input: same }))[name].data as Float32Array;
      expect(Array.from(theirs)).toEqual(Array.from(theirsSame));
    } finally {
      model.dispose();
    }
  });
});
