// The com.microsoft quantized ops (QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
// QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool) against onnxruntime-node on
// one-node models: seeded random inputs, uint8 and int8, parameters fed or constant, shapes
// big enough for the thread pool. Outputs must agree exactly. QLinearAdd and QLinearSigmoid
// follow the MLAS kernels onnxruntime runs on x86-64 with AVX2 and FMA (its AVX2 QLinearAdd,
// its FMA3 logistic); on other CPUs onnxruntime picks other kernels, so there one step of
// difference is allowed. Every one-step difference is counted and reported.
import { cpu } from '../lib/cpu';
import { Graph } from '../lib/graph/ir';
import { inferShapes } from '../lib/graph/shape-inference';
import { AttributeValue, buildModel } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { DataType, Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';

type QType = 'uint8' | 'int8';
interface QP { scale: number; zp: number }

const MS = 'com.microsoft';
// Zero points at both ends of the range and in the middle.
const ZPS: { [T in QType]: number[] } = { uint8: [0, 128, 255], int8: [-128, 0, 127] };

const features = cpu().features;
const MLAS_KERNEL_STEPS = process.arch === 'x64' && features.includes('avx2') && features.includes('fma') ? 0 : 1;

const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function quantized(type: QType, dims: number[], r: () => number): Tensor {
  const n = count(dims);
  return type === 'uint8'
    ? new Tensor('uint8', Uint8Array.from({ length: n }, () => Math.floor(r() * 256)), dims)
    : new Tensor('int8', Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128), dims);
}
const scalar = (type: DataType, v: number): Tensor => new Tensor(type, [v], []);

/** One-step differences per op, reported after the run. */
const offByOne = new Map<string, { elements: number; off: number }>();
afterAll(() => {
  const lines = [...offByOne].map(([op, s]) => `${op}: ${s.off} of ${s.elements} elements one step off onnxruntime`);
  console.log(`quantized contrib ops vs onnxruntime-node\n${lines.join('\n')}`);
});

interface Case {
  op: string;
  inputs: [string, Tensor][];
  /** Inputs written as initializers instead of fed. */
  constants?: string[];
  attributes?: { [name: string]: AttributeValue };
  outDims: number[];
  outType: QType;
  /** Largest difference allowed, in steps. */
  tolerance?: number;
}

async function check(c: Case): Promise<void> {
  const constants = new Set(c.constants ?? []);
  const fed = c.inputs.filter(([n]) => !constants.has(n));
  const bytes = buildModel({
    inputs: fed.map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims] })),
    outputs: [{ name: 'y', dtype: c.outType, dims: c.outDims }],
    initializers: Object.fromEntries(c.inputs.filter(([n]) => constants.has(n))),
    nodes: [{ opType: c.op, domain: MS, inputs: c.inputs.map(([n]) => n), outputs: ['y'], attributes: c.attributes }],
    opset: 17,
    domains: { [MS]: 1 },
  });
  const feeds = Object.fromEntries(fed);
  const theirs = (await runOrt(bytes, feeds)).y;
  const model = await load(bytes);
  let ours: Tensor;
  try {
    ours = (await model.run(feeds)).y;
  } finally {
    model.dispose();
  }
  expect(ours.dtype).toBe(theirs.dtype);
  expect([...ours.dims]).toEqual([...theirs.dims]);
  expect([...ours.dims]).toEqual(c.outDims);
  const a = ours.data as Uint8Array | Int8Array, b = theirs.data as Uint8Array | Int8Array;
  let off = 0, worst = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d === 1) off++;
    worst = Math.max(worst, d);
  }
  const s = offByOne.get(c.op) ?? { elements: 0, off: 0 };
  offByOne.set(c.op, { elements: s.elements + b.length, off: s.off + off });
  expect(worst).toBeLessThanOrEqual(c.tolerance ?? 0);
}

describe('QLinearAdd and QLinearMul against onnxruntime', () => {
  // [A dims, B dims, C dims]
  const shapes: [number[], number[], number[]][] = [
    [[8, 64, 128], [8, 64, 128], [8, 64, 128]],  // 65536: split over the pool
    [[4, 64, 256], [256], [4, 64, 256]],
    [[4, 64, 256], [], [4, 64, 256]],            // B a scalar
    [[1], [16, 4096], [16, 4096]],               // A one value
    [[32, 1, 512], [1, 16, 1], [32, 16, 512]],   // both broadcast
    [[64, 1], [1, 300], [64, 300]],              // A fixed along the last dim
    [[1], [1], [1]],                             // a single element
  ];
  // Scales under which onnxruntime's operation order shows (see the native tests), then
  // random ones.
  const fixedSets: [number, number, number][] = [[0.5, 0.3, 0.6], [0.25, 0.125, 0.75], [0.5, 0.25, 0.5]];
  test.each(['QLinearAdd', 'QLinearMul'].flatMap((op) => (['uint8', 'int8'] as QType[]).map((t) => [op, t] as const)))('%s %s', async (op, type) => {
    const r = rng(op.length * 7 + (type === 'int8' ? 1 : 0));
    let k = 0;
    for (const [ad, bd, cd] of shapes) {
      for (let set = 0; set < 4; set++, k++) {
        const fixed = fixedSets[set];
        const scales = fixed ?? [0.002 + r() * 0.05, 0.002 + r() * 0.05, 0.005 + r() * 0.08];
        const zp = (i: number): number => ZPS[type][(k + i) % 3];
        const a = quantized(type, ad, r), b = quantized(type, bd, r);
        await check({
          op,
          inputs: [['a', a], ['a_scale', scalar('float32', scales[0])], ['a_zp', scalar(type, zp(0))],
            ['b', b], ['b_scale', scalar('float32', scales[1])], ['b_zp', scalar(type, zp(1))],
            ['c_scale', scalar('float32', scales[2])], ['c_zp', scalar(type, zp(2))]],
          constants: k % 2 === 0 ? ['a_scale', 'a_zp', 'b_scale', 'b_zp', 'c_scale', 'c_zp'] : [],
          outDims: cd,
          outType: type,
          tolerance: op === 'QLinearAdd' ? MLAS_KERNEL_STEPS : 0,
        });
      }
    }
  });

  test('every input pair at order-sensitive scales (uint8)', async () => {
    const a = new Tensor('uint8', Uint8Array.from({ length: 65536 }, (_, i) => i >> 8), [65536]);
    const b = new Tensor('uint8', Uint8Array.from({ length: 65536 }, (_, i) => i & 255), [65536]);
    for (const op of ['QLinearAdd', 'QLinearMul']) {
      for (const [sa, sb, sc, za, zb, zc] of [[0.5, 0.3, 0.6, 77, 255, 128], [0.25, 0.125, 0.75, 125, 131, 128]]) {
        await check({
          op,
          inputs: [['a', a], ['a_scale', scalar('float32', sa)], ['a_zp', scalar('uint8', za)],
            ['b', b], ['b_scale', scalar('float32', sb)], ['b_zp', scalar('uint8', zb)],
            ['c_scale', scalar('float32', sc)], ['c_zp', scalar('uint8', zc)]],
          outDims: [65536],
          outType: 'uint8',
          tolerance: op === 'QLinearAdd' ? MLAS_KERNEL_STEPS : 0,
        });
      }
    }
  });
});

describe('QLinearSigmoid and QLinearLeakyRelu against onnxruntime', () => {
  test.each(['QLinearSigmoid', 'QLinearLeakyRelu'].flatMap((op) => (['uint8', 'int8'] as QType[]).map((t) => [op, t] as const)))('%s %s', async (op, type) => {
    const r = rng(op.length * 13 + (type === 'int8' ? 1 : 0));
    for (let k = 0; k < 6; k++) {
      const x = quantized(type, [4, 96, 256], r);
      const xs = 0.005 + r() * 0.2;
      const ys = op === 'QLinearSigmoid' ? 0.0005 + r() * 0.006 : 0.005 + r() * 0.2;
      await check({
        op,
        inputs: [['x', x], ['x_scale', scalar('float32', xs)], ['x_zp', scalar(type, ZPS[type][k % 3])],
          ['y_scale', scalar('float32', ys)], ['y_zp', scalar(type, ZPS[type][(k + 1) % 3])]],
        constants: k % 2 === 0 ? ['x_scale', 'x_zp', 'y_scale', 'y_zp'] : [],
        attributes: op === 'QLinearLeakyRelu' ? { alpha: 0.05 + k * 0.1 } : undefined,
        outDims: [4, 96, 256],
        outType: type,
        tolerance: op === 'QLinearSigmoid' ? MLAS_KERNEL_STEPS : 0,
      });
    }
  });
});

describe('QLinearConcat against onnxruntime', () => {
  test.each(['uint8', 'int8'] as QType[])('%s: copied and requantized inputs, several axes', async (type) => {
    const r = rng(type === 'uint8' ? 31 : 32);
    const cases: { parts: number[][]; axis: number; out: number[] }[] = [
      { parts: [[2, 16, 40, 40], [2, 8, 40, 40], [2, 24, 40, 40]], axis: 1, out: [2, 48, 40, 40] },
      { parts: [[3, 5, 7], [3, 5, 2]], axis: -1, out: [3, 5, 9] },
      { parts: [[4, 6], [1, 6], [2, 6]], axis: 0, out: [7, 6] },
    ];
    const y: QP = { scale: 0.031, zp: ZPS[type][1] + 3 };
    for (const [ci, c] of cases.entries()) {
      for (const constant of [false, true]) {
        // Equal to Y's parameters (copied), another scale, another zero point.
        const params: QP[] = [y, { scale: 0.05 + r() * 0.02, zp: ZPS[type][0] }, { scale: y.scale, zp: ZPS[type][2] }];
        const inputs: [string, Tensor][] = [['y_scale', scalar('float32', y.scale)], ['y_zp', scalar(type, y.zp)]];
        c.parts.forEach((dims, i) => {
          const p = params[(i + ci) % 3];
          inputs.push([`x${i}`, quantized(type, dims, r)], [`x${i}_scale`, scalar('float32', p.scale)], [`x${i}_zp`, scalar(type, p.zp)]);
        });
        await check({
          op: 'QLinearConcat',
          inputs,
          constants: constant ? inputs.map(([n]) => n).filter((n) => n.includes('scale') || n.includes('zp')) : [],
          attributes: { axis: c.axis },
          outDims: c.out,
          outType: type,
        });
      }
    }
  });
});

describe('QLinearGlobalAveragePool and QLinearAveragePool against onnxruntime', () => {
  const nhwc = (d: number[]): number[] => [d[0], ...d.slice(2), d[1]];
  // Pool output dims with onnxruntime's ceil_mode rule (a window must start in the image or its
  // leading pad).
  function poolOut(x: number[], k: number[], s: number[], pads: number[], ceil: boolean): number[] {
    const n = k.length;
    return [x[0], x[1], ...k.map((kk, i) => {
      const span = x[2 + i] + pads[i] + pads[n + i] - kk;
      let o = ceil ? Math.ceil(span / s[i]) + 1 : Math.floor(span / s[i]) + 1;
      if (ceil && (o - 1) * s[i] >= x[2 + i] + pads[i]) o--;
      return o;
    })];
  }

  test.each(['uint8', 'int8'] as QType[])('QLinearGlobalAveragePool %s, NCHW and channels_last', async (type) => {
    const r = rng(type === 'uint8' ? 41 : 42);
    for (const [k, dims] of [[2, 64, 32, 32], [1, 19, 7, 9], [3, 40, 5, 4, 3], [2, 7, 100]].entries()) {
      for (const last of [false, true]) {
        const xd = last ? nhwc(dims) : dims;
        const yd = xd.map((d, i) => ((last ? i === 0 || i === xd.length - 1 : i < 2) ? d : 1));
        await check({
          op: 'QLinearGlobalAveragePool',
          inputs: [['x', quantized(type, xd, r)], ['x_scale', scalar('float32', 0.01 + r() * 0.05)], ['x_zp', scalar(type, ZPS[type][k % 3])],
            ['y_scale', scalar('float32', 0.005 + r() * 0.05)], ['y_zp', scalar(type, ZPS[type][(k + 1) % 3])]],
          constants: last ? ['x_scale', 'x_zp', 'y_scale', 'y_zp'] : [],
          attributes: { channels_last: last ? 1 : 0 },
          outDims: yd,
          outType: type,
        });
      }
    }
  });

  interface PoolCase { x: number[]; k: number[]; s: number[]; pads: number[]; ceil: boolean; include: boolean; autoPad?: string }
  const cases: PoolCase[] = [
    { x: [2, 16, 33, 31], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], ceil: false, include: false },
    { x: [2, 16, 33, 31], k: [3, 3], s: [2, 2], pads: [1, 1, 1, 1], ceil: true, include: true },   // ceil overhang
    { x: [1, 8, 5, 5], k: [3, 3], s: [3, 3], pads: [0, 0, 2, 2], ceil: true, include: false },     // last ceil window dropped
    { x: [1, 24, 20, 17], k: [2, 3], s: [1, 2], pads: [0, 1, 1, 0], ceil: false, include: true },  // asymmetric pads
    { x: [2, 5, 41], k: [4], s: [3], pads: [2, 1], ceil: true, include: false },                   // 1-D
    { x: [1, 6, 7, 8, 9], k: [2, 3, 2], s: [2, 2, 3], pads: [1, 0, 1, 1, 2, 0], ceil: false, include: true },  // 3-D
    { x: [2, 12, 9, 7], k: [9, 7], s: [1, 1], pads: [0, 0, 0, 0], ceil: false, include: false },   // whole image
    { x: [1, 10, 18, 18], k: [3, 3], s: [2, 2], pads: [0, 0, 1, 1], ceil: false, include: false, autoPad: 'SAME_UPPER' },
    { x: [1, 10, 18, 18], k: [4, 4], s: [2, 2], pads: [1, 1, 1, 1], ceil: false, include: true, autoPad: 'SAME_LOWER' },
  ];
  test.each(['uint8', 'int8'] as QType[])('QLinearAveragePool %s: pads, strides, ceil_mode, count_include_pad, auto_pad, layouts', async (type) => {
    const r = rng(type === 'uint8' ? 51 : 52);
    for (const [i, c] of cases.entries()) {
      for (const last of [false, true]) {
        const y = poolOut(c.x, c.k, c.s, c.pads, c.ceil);
        const attributes: { [name: string]: AttributeValue } = {
          kernel_shape: c.k, strides: c.s, ceil_mode: c.ceil ? 1 : 0, count_include_pad: c.include ? 1 : 0, channels_last: last ? 1 : 0,
        };
        // auto_pad cases list the pads it works out, for the expected dims only.
        if (c.autoPad) attributes.auto_pad = c.autoPad;
        else attributes.pads = c.pads;
        await check({
          op: 'QLinearAveragePool',
          inputs: [['x', quantized(type, last ? nhwc(c.x) : c.x, r)], ['x_scale', scalar('float32', 0.01 + r() * 0.05)], ['x_zp', scalar(type, ZPS[type][i % 3])],
            ['y_scale', scalar('float32', 0.005 + r() * 0.05)], ['y_zp', scalar(type, ZPS[type][(i + 1) % 3])]],
          constants: i % 2 === 0 ? ['x_scale', 'x_zp', 'y_scale', 'y_zp'] : [],
          attributes,
          outDims: last ? nhwc(y) : y,
          outType: type,
        });
      }
    }
  });
});

describe('shape rules', () => {
  function infer(op: string, inputs: { [name: string]: (number | string)[] }, attributes: { [name: string]: number | number[] } = {}, type: QType = 'uint8'): (number | string | null)[] | undefined {
    const g = new Graph();
    for (const [name, dims] of Object.entries(inputs)) {
      const dtype: DataType = name.includes('scale') ? 'float32' : type;
      g.inputs.push({ name, dtype, dims });
    }
    const attrs = new Map(Object.entries(attributes).map(([k, v]) => [k, Array.isArray(v) ? { type: 'ints' as const, value: v } : { type: 'int' as const, value: v }]));
    g.nodes = [{ name: 'n', opType: op, domain: MS, inputs: Object.keys(inputs), outputs: ['y'], attributes: attrs }];
    g.outputs = [{ name: 'y', dtype: type }];
    const report = inferShapes(g, 17);
    expect(report.unknown).toEqual([]);
    expect(g.valueInfo.get('y')?.dtype).toBe(type);
    return g.valueInfo.get('y')?.dims;
  }

  test('element-wise ops broadcast and keep symbolic dims', () => {
    expect(infer('QLinearAdd', { a: ['n', 1, 8], a_scale: [], a_zp: [], b: [5, 1], b_scale: [], b_zp: [], c_scale: [], c_zp: [] })).toEqual(['n', 5, 8]);
    expect(infer('QLinearMul', { a: [], a_scale: [], a_zp: [], b: [3, 'w'], b_scale: [], b_zp: [], c_scale: [], c_zp: [] }, {}, 'int8')).toEqual([3, 'w']);
    expect(infer('QLinearSigmoid', { x: ['n', 7], x_scale: [], x_zp: [], y_scale: [], y_zp: [] })).toEqual(['n', 7]);
    expect(infer('QLinearLeakyRelu', { x: [2, 'h'], x_scale: [], x_zp: [], y_scale: [], y_zp: [] }, {}, 'int8')).toEqual([2, 'h']);
  });

  test('QLinearConcat sums the axis over the triples', () => {
    expect(infer('QLinearConcat', { y_scale: [], y_zp: [], x0: ['n', 3, 4], x0_scale: [], x0_zp: [], x1: ['n', 5, 4], x1_scale: [], x1_zp: [] }, { axis: 1 })).toEqual(['n', 8, 4]);
  });

  test('pools in both layouts', () => {
    expect(infer('QLinearGlobalAveragePool', { x: ['n', 8, 7, 7], x_scale: [], x_zp: [], y_scale: [], y_zp: [] })).toEqual(['n', 8, 1, 1]);
    expect(infer('QLinearGlobalAveragePool', { x: ['n', 7, 7, 8], x_scale: [], x_zp: [], y_scale: [], y_zp: [] }, { channels_last: 1 })).toEqual(['n', 1, 1, 8]);
    expect(infer('QLinearAveragePool', { x: [1, 3, 10, 9], x_scale: [], x_zp: [], y_scale: [], y_zp: [] }, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })).toEqual([1, 3, 5, 5]);
    expect(infer('QLinearAveragePool', { x: [1, 10, 9, 3], x_scale: [], x_zp: [], y_scale: [], y_zp: [] }, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1, channels_last: 1 })).toEqual([1, 5, 4, 3]);
  });

  test('a QLinearGlobalAveragePool input without spatial dims is refused by name', () => {
    const g = new Graph();
    g.inputs.push({ name: 'x', dtype: 'uint8', dims: [2, 3] }, { name: 's', dtype: 'float32', dims: [] }, { name: 'z', dtype: 'uint8', dims: [] });
    g.nodes = [{ name: 'gap', opType: 'QLinearGlobalAveragePool', domain: MS, inputs: ['x', 's', 'z', 's', 'z'], outputs: ['y'], attributes: new Map() }];
    g.outputs = [{ name: 'y', dtype: 'uint8' }];
    const report = inferShapes(g, 17);
    expect(report.unknown[0].reason).toMatch(/QLinearGlobalAveragePool node 'gap': X must have rank >= 3/);
  });
});
