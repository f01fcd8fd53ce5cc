// One-node models of the quant_gemm family run through load()/model.run() and checked
// against onnxruntime-node: com.microsoft QGemm and DynamicQuantizeMatMul against ORT's own
// kernels; the nquant-domain QLinearConv/QLinearMatMul (which ORT does not have) against
// ORT running the standard-op graph they stand for (the clamp as DequantizeLinear ->
// Relu/Clip -> QuantizeLinear, a bias as MatMulInteger -> Add -> Cast -> Mul ->
// QuantizeLinear, a float32 output as a final DequantizeLinear).
import * as ort from 'onnxruntime-node';
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { DataType, Tensor } from '../lib/tensor';

type Feeds = { [name: string]: Tensor };
type Byte = 'uint8' | 'int8';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function bytes(r: () => number, dtype: Byte, dims: number[], lo?: number, hi?: number): Tensor {
  const size = dims.reduce((p, d) => p * d, 1);
  const min = lo ?? (dtype === 'uint8' ? 0 : -128), max = hi ?? (dtype === 'uint8' ? 255 : 127);
  const vals = Array.from({ length: size }, () => min + Math.floor(r() * (max - min + 1)));
  return dtype === 'uint8' ? new Tensor('uint8', Uint8Array.from(vals), dims) : new Tensor('int8', Int8Array.from(vals), dims);
}
const scalar = (dtype: Byte | 'float32' | 'int32', v: number): Tensor =>
  dtype === 'float32' ? new Tensor('float32', [v], []) : dtype === 'int32' ? new Tensor('int32', [v], []) : new Tensor(dtype, [v], []);
const floats = (r: () => number, n: number, lo: number, hi: number, dims = [n]): Tensor =>
  new Tensor('float32', Float32Array.from({ length: n }, () => lo + r() * (hi - lo)), dims);
const ints32 = (r: () => number, dims: number[], span: number): Tensor =>
  new Tensor('int32', Int32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => Math.floor((r() * 2 - 1) * span)), dims);

interface Graph {
  nodes: NodeSpec[];
  inputs: Feeds;        // fed at run time
  initializers: Feeds;  // constants (packed once by us)
  output: { name: string; dtype: DataType; dims: number[] };
}

function modelBytes(g: Graph, domains: { [d: string]: number }): Uint8Array {
  return buildModel({
    inputs: Object.entries(g.inputs).map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims] })),
    outputs: [g.output],
    nodes: g.nodes,
    initializers: g.initializers,
    opset: 19,
    domains,
  });
}

async function runOrt(g: Graph): Promise<Tensor> {
  const session = await ort.InferenceSession.create(modelBytes(g, { 'com.microsoft': 1 }));
  try {
    const feeds: { [name: string]: ort.Tensor } = {};
    for (const [name, t] of Object.entries(g.inputs)) feeds[name] = new ort.Tensor(t.dtype as never, t.data as never, [...t.dims]);
    const out = (await session.run(feeds))[g.output.name];
    return new Tensor(out.type as DataType, out.data as never, [...out.dims]);
  } finally {
    await session.release();
  }
}

async function runOurs(g: Graph): Promise<Tensor> {
  const model = await load(modelBytes(g, { 'com.microsoft': 1, nquant: 1 }));
  try {
    return (await model.run(g.inputs))[g.output.name];
  } finally {
    model.dispose();
  }
}

const report: string[] = [];
afterAll(() => {
  // The one place the mismatch counts are printed (1-LSB differences are allowed, not hidden).
  console.log(`quant-gemm-ops vs onnxruntime:\n  ${report.join('\n  ')}`);
});

/** Quantized outputs: at most 1 LSB apart; returns how many differ. */
function expectQuantizedClose(label: string, ours: Tensor, theirs: Tensor, maxOffByOne = 0.01): void {
  expect(ours.dtype).toBe(theirs.dtype);
  expect([...ours.dims]).toEqual([...theirs.dims]);
  const a = ours.data as ArrayLike<number>, b = theirs.data as ArrayLike<number>;
  let off = 0, worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) off++;
    worst = Math.max(worst, d);
  }
  report.push(`${label}: ${off} of ${a.length} values 1 LSB apart, max diff ${worst}`);
  expect(worst).toBeLessThanOrEqual(1);
  // Where both sides use the same float rounding the off-by-ones are rare tie cases.
  expect(off).toBeLessThanOrEqual(Math.ceil(a.length * maxOffByOne));
}

/** Float outputs: |ours - theirs| <= tol(i); reports the largest difference. */
function expectFloatClose(label: string, ours: Tensor, theirs: Tensor, tol: (i: number, want: number) => number): void {
  expect(ours.dtype).toBe('float32');
  expect([...ours.dims]).toEqual([...theirs.dims]);
  const a = ours.data as Float32Array, b = theirs.data as Float32Array;
  let bad = 0, worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Math.max(worst, d);
    if (!(d <= tol(i, b[i]))) bad++;
  }
  report.push(`${label}: max |diff| ${worst.toExponential(2)} over ${a.length} values, ${bad} outside tolerance`);
  expect(bad).toBe(0);
}

function maxAbs(t: Tensor): number {
  let m = 0;
  for (const v of t.data as Float32Array) m = Math.max(m, Math.abs(v));
  return m;
}

describe('com.microsoft QGemm against onnxruntime', () => {
  interface Case { label: string; m: number; k: number; n: number; at: Byte; bt: Byte; perCol: boolean; c: 'none' | 'scalar' | 'n' | 'mn' | 'm1'; transA: number; transB: number; alpha: number; quantized: boolean }
  const cases: Case[] = [
    { label: 'u8 x s8 per-column, C [N], quantized', m: 7, k: 19, n: 33, at: 'uint8', bt: 'int8', perCol: true, c: 'n', transA: 0, transB: 0, alpha: 1, quantized: true },
    { label: 'u8 x u8 per-tensor, no C, float', m: 16, k: 64, n: 40, at: 'uint8', bt: 'uint8', perCol: false, c: 'none', transA: 0, transB: 0, alpha: 1, quantized: false },
    { label: 's8 x s8, C [M,N], transB, quantized', m: 5, k: 130, n: 17, at: 'int8', bt: 'int8', perCol: true, c: 'mn', transA: 0, transB: 1, alpha: 1, quantized: true },
    { label: 'u8 x s8 transA, alpha 0.5, scalar C, float', m: 9, k: 31, n: 65, at: 'uint8', bt: 'int8', perCol: false, c: 'scalar', transA: 1, transB: 0, alpha: 0.5, quantized: false },
    { label: 'u8 x s8 C [N] float, per-column', m: 33, k: 48, n: 20, at: 'uint8', bt: 'int8', perCol: true, c: 'n', transA: 0, transB: 1, alpha: 1, quantized: false },
    { label: 'u8 x u8 GEMV, C [M,1], quantized', m: 1, k: 256, n: 64, at: 'uint8', bt: 'uint8', perCol: true, c: 'm1', transA: 0, transB: 0, alpha: 1.5, quantized: true },
  ];
  test.each(cases)('$label', async (c) => {
    const r = rng(c.m * 7919 + c.k * 31 + c.n);
    const a = bytes(r, c.at, c.transA ? [c.k, c.m] : [c.m, c.k]);
    const b = bytes(r, c.bt, c.transB ? [c.n, c.k] : [c.k, c.n]);
    const nb = c.perCol ? [c.n] : [];
    const bScale = floats(r, c.perCol ? c.n : 1, 0.002, 0.01, nb);
    const bZp = bytes(r, c.bt, nb, c.bt === 'uint8' ? 100 : -10, c.bt === 'uint8' ? 150 : 10);
    const cDims = { none: [], scalar: [], n: [c.n], mn: [c.m, c.n], m1: [c.m, 1] }[c.c];
    const inits: Feeds = {
      a_scale: scalar('float32', 0.021), a_zp: scalar(c.at, c.at === 'uint8' ? 129 : -3),
      b, b_scale: bScale, b_zp: bZp,
    };
    const inputs = ['a', 'a_scale', 'a_zp', 'b', 'b_scale', 'b_zp'];
    if (c.c !== 'none') {
      inits.c = ints32(r, cDims, 4000);
      inputs.push('c');
    } else if (c.quantized) {
      inputs.push('');
    }
    if (c.quantized) {
      inits.y_scale = scalar('float32', 0.6);
      inits.y_zp = scalar(c.at, c.at === 'uint8' ? 118 : 4);
      inputs.push('y_scale', 'y_zp');
    }
    const g: Graph = {
      // alpha only when not the default: the builder writes integral numbers as INT attributes.
      nodes: [{ opType: 'QGemm', domain: 'com.microsoft', inputs, outputs: ['y'], attributes: { transA: c.transA, transB: c.transB, ...(c.alpha !== 1 ? { alpha: c.alpha } : {}) } }],
      inputs: { a },
      initializers: inits,
      output: { name: 'y', dtype: c.quantized ? c.at : 'float32', dims: [c.m, c.n] },
    };
    const [ours, theirs] = [await runOurs(g), await runOrt(g)];
    if (c.quantized) expectQuantizedClose(`QGemm ${c.label}`, ours, theirs);
    // Same float operations in the same order: only summation-free rounding can differ.
    else expectFloatClose(`QGemm ${c.label}`, ours, theirs, (_, want) => 1e-6 * Math.abs(want) + 1e-7);
  });
});

describe('com.microsoft DynamicQuantizeMatMul against onnxruntime', () => {
  interface Case { label: string; aDims: number[]; n: number; bt: Byte; perCol: boolean; zp: 'none' | 'tensor' | 'column'; bias: boolean }
  const cases: Case[] = [
    { label: 'batched A, s8 B per-column scales, bias', aDims: [2, 5, 40], n: 24, bt: 'int8', perCol: true, zp: 'none', bias: true },
    { label: 'u8 B with a zero point, per-tensor', aDims: [7, 64], n: 33, bt: 'uint8', perCol: false, zp: 'tensor', bias: false },
    { label: 's8 B per-column zero points and scales, bias, K 130', aDims: [1, 3, 130], n: 65, bt: 'int8', perCol: true, zp: 'column', bias: true },
  ];
  test.each(cases)('$label', async (c) => {
    const r = rng(c.n * 17 + c.aDims.length);
    const k = c.aDims[c.aDims.length - 1];
    const aSize = c.aDims.reduce((p, d) => p * d, 1);
    const a = floats(r, aSize, -2.5, 4, c.aDims);
    const inits: Feeds = { b: bytes(r, c.bt, [k, c.n]), b_scale: floats(r, c.perCol ? c.n : 1, 0.001, 0.01, c.perCol ? [c.n] : []) };
    const inputs = ['a', 'b', 'b_scale'];
    if (c.zp !== 'none') {
      inits.b_zp = bytes(r, c.bt, c.zp === 'column' ? [c.n] : [], c.bt === 'uint8' ? 120 : -4, c.bt === 'uint8' ? 136 : 4);
      inputs.push('b_zp');
    } else if (c.bias) {
      inputs.push('');
    }
    if (c.bias) {
      inits.bias = floats(r, c.n, -1, 1);
      inputs.push('bias');
    }
    const outDims = [...c.aDims.slice(0, -1), c.n];
    const g: Graph = {
      nodes: [{ opType: 'DynamicQuantizeMatMul', domain: 'com.microsoft', inputs, outputs: ['y'] }],
      inputs: { a },
      initializers: inits,
      output: { name: 'y', dtype: 'float32', dims: outDims },
    };
    const [ours, theirs] = [await runOurs(g), await runOrt(g)];
    // A is quantized the same way on both sides (ONNX DynamicQuantizeLinear), so the int32
    // sums agree and only the last float rounding of acc*scale + bias may differ.
    const m = maxAbs(theirs);
    expectFloatClose(`DynamicQuantizeMatMul ${c.label}`, ours, theirs, (_, want) => 1e-6 * Math.abs(want) + 1e-7 * m);
  });
});

/** DequantizeLinear -> act -> QuantizeLinear appended to a node producing `q`. */
function clampTail(q: string, act: 'Relu' | { lo: number; hi: number }, out: string): { nodes: NodeSpec[]; inits: Feeds } {
  const nodes: NodeSpec[] = [{ opType: 'DequantizeLinear', inputs: [q, 'y_scale', 'y_zp'], outputs: ['dq'] }];
  const inits: Feeds = {};
  if (act === 'Relu') {
    nodes.push({ opType: 'Relu', inputs: ['dq'], outputs: ['act'] });
  } else {
    inits.clip_lo = scalar('float32', act.lo);
    inits.clip_hi = scalar('float32', act.hi);
    nodes.push({ opType: 'Clip', inputs: ['dq', 'clip_lo', 'clip_hi'], outputs: ['act'] });
  }
  nodes.push({ opType: 'QuantizeLinear', inputs: ['act', 'y_scale', 'y_zp'], outputs: [out] });
  return { nodes, inits };
}

/** qmin/qmax of the clamp the DequantizeLinear -> act -> QuantizeLinear tail applies. */
function clampBounds(act: 'Relu' | { lo: number; hi: number }, sy: number, zy: number, dtype: Byte): [number, number] {
  const [tmin, tmax] = dtype === 'uint8' ? [0, 255] : [-128, 127];
  const q = (v: number) => Math.min(tmax, Math.max(tmin, Math.round(v / sy) + zy));
  return act === 'Relu' ? [Math.max(tmin, zy), tmax] : [q(act.lo), q(act.hi)];
}

describe('nquant QLinearConv against the standard-op graph in onnxruntime', () => {
  interface Case {
    label: string; x: number[]; m: number; k: number[]; strides: number[]; pads: number[]; dilations: number[]; group: number;
    xt: Byte; wt: Byte; wZp: number; act: 'none' | 'Relu' | { lo: number; hi: number } | 'float'; sy: number; zy: number;
  }
  const cases: Case[] = [
    { label: 'ResNet-like 3x3 + Relu, per-channel scales, bias', x: [1, 16, 14, 14], m: 32, k: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, xt: 'uint8', wt: 'int8', wZp: 0, act: 'Relu', sy: 0.5, zy: 10 },
    { label: 'depthwise 3x3 stride 2 + ReLU6', x: [1, 24, 15, 15], m: 24, k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 24, xt: 'uint8', wt: 'int8', wZp: 0, act: { lo: 0, hi: 6 }, sy: 0.0625, zy: 5 },
    { label: '1x1, batch 2, float output', x: [2, 32, 7, 7], m: 48, k: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, xt: 'uint8', wt: 'int8', wZp: 0, act: 'float', sy: 0, zy: 0 },
    { label: 'int8 activations, groups 2, stride 2, Clip(-1, 2)', x: [1, 8, 11, 11], m: 12, k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], group: 2, xt: 'int8', wt: 'int8', wZp: 0, act: { lo: -1, hi: 2 }, sy: 0.125, zy: -3 },
    { label: 'u8 weights with zero point 128, 5x5 dilation 2, no clamp', x: [1, 6, 16, 16], m: 10, k: [5, 5], strides: [1, 1], pads: [4, 4, 4, 4], dilations: [2, 2], group: 1, xt: 'uint8', wt: 'uint8', wZp: 128, act: 'none', sy: 0.8, zy: 128 },
    { label: 'depthwise float output', x: [1, 16, 9, 9], m: 16, k: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 16, xt: 'uint8', wt: 'int8', wZp: 0, act: 'float', sy: 0, zy: 0 },
  ];
  test.each(cases)('$label', async (c) => {
    const r = rng(c.x[1] * 131 + c.m);
    const cg = c.x[1] / c.group;
    const x = bytes(r, c.xt, c.x);
    const w = bytes(r, c.wt, [c.m, cg, ...c.k]);
    const attributes = { kernel_shape: c.k, strides: c.strides, pads: c.pads, dilations: c.dilations, group: c.group };
    const base: Feeds = {
      x_scale: scalar('float32', 0.02), x_zp: scalar(c.xt, c.xt === 'uint8' ? 128 : 2), w,
      // onnxruntime needs one w zero point for all channels; scales are per channel.
      w_scale: floats(r, c.m, 0.002, 0.008), w_zp: bytes(r, c.wt, [c.m], c.wZp, c.wZp),
      bias: ints32(r, [c.m], 3000),
    };
    const qInputs = ['x', 'x_scale', 'x_zp', 'w', 'w_scale', 'w_zp'];
    const oh = [0, 1].map((i) => Math.floor((c.x[2 + i] + c.pads[i] + c.pads[i + 2] - ((c.k[i] - 1) * c.dilations[i] + 1)) / c.strides[i]) + 1);
    const outDims = [c.x[0], c.m, ...oh];
    if (c.act === 'float') {
      const ours = await runOurs({
        nodes: [{ opType: 'QLinearConv', domain: 'nquant', inputs: [...qInputs, '', '', 'bias'], outputs: ['y'], attributes }],
        inputs: { x }, initializers: base, output: { name: 'y', dtype: 'float32', dims: outDims },
      });
      // The reference quantizes to 8 bits over our output's range, then dequantizes: within one step.
      const vals = ours.data as Float32Array;
      const lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
      const sy = Math.fround((hi - lo) / 255 * 1.001), zy = Math.min(255, Math.max(0, Math.round(-lo / sy)));
      const theirs = await runOrt({
        nodes: [
          { opType: 'QLinearConv', inputs: [...qInputs, 'y_scale', 'y_zp', 'bias'], outputs: ['q'], attributes },
          { opType: 'DequantizeLinear', inputs: ['q', 'y_scale', 'y_zp'], outputs: ['y'] },
        ],
        inputs: { x }, initializers: { ...base, y_scale: scalar('float32', sy), y_zp: scalar('uint8', zy) },
        output: { name: 'y', dtype: 'float32', dims: outDims },
      });
      expectFloatClose(`nquant QLinearConv ${c.label} (reference step ${sy.toExponential(2)})`, ours, theirs, () => sy);
      return;
    }
    const inits: Feeds = { ...base, y_scale: scalar('float32', c.sy), y_zp: scalar(c.xt, c.zy) };
    const oursAttrs: { [k: string]: number | number[] } = { ...attributes };
    const refNodes: NodeSpec[] = [];
    if (c.act === 'none') {
      refNodes.push({ opType: 'QLinearConv', inputs: [...qInputs, 'y_scale', 'y_zp', 'bias'], outputs: ['y'], attributes });
    } else {
      [oursAttrs.qmin, oursAttrs.qmax] = clampBounds(c.act, c.sy, c.zy, c.xt);
      const tail = clampTail('q', c.act, 'y');
      refNodes.push({ opType: 'QLinearConv', inputs: [...qInputs, 'y_scale', 'y_zp', 'bias'], outputs: ['q'], attributes }, ...tail.nodes);
      Object.assign(inits, tail.inits);
    }
    const output = { name: 'y', dtype: c.xt, dims: outDims };
    const ours = await runOurs({
      nodes: [{ opType: 'QLinearConv', domain: 'nquant', inputs: [...qInputs, 'y_scale', 'y_zp', 'bias'], outputs: ['y'], attributes: oursAttrs }],
      inputs: { x }, initializers: inits, output,
    });
    const theirs = await runOrt({ nodes: refNodes, inputs: { x }, initializers: inits, output });
    expectQuantizedClose(`nquant QLinearConv ${c.label}`, ours, theirs);
  });
});

describe('nquant QLinearMatMul against the standard-op graph in onnxruntime', () => {
  interface Case {
    label: string; a: number[]; b: number[]; at: Byte; bt: Byte; perCol: boolean; bias: boolean; bConst: boolean;
    act: 'none' | 'Relu' | { lo: number; hi: number } | 'float'; sy: number; zy: number;
  }
  const cases: Case[] = [
    { label: 'batched A, per-column B, Relu', a: [2, 6, 40], b: [40, 24], at: 'uint8', bt: 'int8', perCol: true, bias: false, bConst: true, act: 'Relu', sy: 0.25, zy: 20 },
    { label: 'int8, batched B fed at run time, Clip(-2, 3)', a: [2, 5, 33], b: [2, 33, 17], at: 'int8', bt: 'int8', perCol: false, bias: false, bConst: false, act: { lo: -2, hi: 3 }, sy: 0.0625, zy: -6 },
    { label: 'bias, quantized', a: [9, 64], b: [64, 40], at: 'uint8', bt: 'int8', perCol: true, bias: true, bConst: true, act: 'none', sy: 0.3, zy: 128 },
    { label: 'bias, float output', a: [3, 4, 70], b: [70, 33], at: 'uint8', bt: 'uint8', perCol: true, bias: true, bConst: true, act: 'float', sy: 0, zy: 0 },
  ];
  test.each(cases)('$label', async (c) => {
    const r = rng(c.a[c.a.length - 1] * 97 + c.b[c.b.length - 1]);
    const n = c.b[c.b.length - 1];
    const a = bytes(r, c.at, c.a);
    const b = bytes(r, c.bt, c.b);
    const nb = c.perCol ? [n] : [];
    const common: Feeds = {
      a_scale: scalar('float32', 0.03), a_zp: scalar(c.at, c.at === 'uint8' ? 131 : -1),
      b_scale: floats(r, c.perCol ? n : 1, 0.002, 0.01, nb),
      b_zp: bytes(r, c.bt, nb, c.bt === 'uint8' ? 110 : -5, c.bt === 'uint8' ? 140 : 5),
    };
    const feeds: Feeds = c.bConst ? { a } : { a, b };
    const inits: Feeds = c.bConst ? { ...common, b } : { ...common };
    const bias = ints32(r, [n], 5000);
    const aRank = c.a.length, bRank = c.b.length;
    const outDims = aRank >= bRank ? [...c.a.slice(0, -1), n] : [...c.b.slice(0, -2), c.a[aRank - 2], n];
    const qInputs = ['a', 'a_scale', 'a_zp', 'b', 'b_scale', 'b_zp'];
    const outDtype: DataType = c.act === 'float' ? 'float32' : c.at;
    const oursInputs = [...qInputs, c.act === 'float' ? '' : 'y_scale', c.act === 'float' ? '' : 'y_zp', ...(c.bias ? ['bias'] : [])];
    const oursAttrs: { [k: string]: number } = {};
    const oursInits: Feeds = { ...inits, ...(c.bias ? { bias } : {}) };
    if (c.act !== 'float') Object.assign(oursInits, { y_scale: scalar('float32', c.sy), y_zp: scalar(c.at, c.zy) });
    if (c.act === 'Relu' || typeof c.act === 'object') [oursAttrs.qmin, oursAttrs.qmax] = clampBounds(c.act, c.sy, c.zy, c.at);
    const output = { name: 'y', dtype: outDtype, dims: outDims };
    const ours = await runOurs({
      nodes: [{ opType: 'QLinearMatMul', domain: 'nquant', inputs: oursInputs, outputs: ['y'], attributes: oursAttrs }],
      inputs: feeds, initializers: oursInits, output,
    });

    if (!c.bias) {
      // No bias: QLinearMatMul itself, then the clamp tail.
      const refInits: Feeds = { ...inits, y_scale: scalar('float32', c.sy), y_zp: scalar(c.at, c.zy) };
      const nodes: NodeSpec[] = [{ opType: 'QLinearMatMul', inputs: [...qInputs, 'y_scale', 'y_zp'], outputs: [c.act === 'none' ? 'y' : 'q'] }];
      if (c.act !== 'none' && c.act !== 'float') {
        const tail = clampTail('q', c.act, 'y');
        nodes.push(...tail.nodes);
        Object.assign(refInits, tail.inits);
      }
      const theirs = await runOrt({ nodes, inputs: feeds, initializers: refInits, output });
      expectQuantizedClose(`nquant QLinearMatMul ${c.label}`, ours, theirs);
      return;
    }
    // Bias: exact int32 sums from MatMulInteger, the bias added in int32, scaled in float32
    // by a_scale*b_scale[n] (formed in float32 as we form it).
    const sb = common.b_scale.data as Float32Array;
    const sab = new Tensor('float32', Float32Array.from({ length: n }, (_, j) => Math.fround(0.03 * sb[c.perCol ? j : 0])), [n]);
    const nodes: NodeSpec[] = [
      { opType: 'MatMulInteger', inputs: ['a', 'b', 'a_zp', 'b_zp'], outputs: ['acc'] },
      { opType: 'Add', inputs: ['acc', 'bias'], outputs: ['acc_b'] },
      { opType: 'Cast', inputs: ['acc_b'], outputs: ['acc_f'], attributes: { to: 1 } },
      { opType: 'Mul', inputs: ['acc_f', 'sab'], outputs: [c.act === 'float' ? 'y' : 'yf'] },
    ];
    const refInits: Feeds = { ...inits, bias, sab };
    if (c.act !== 'float') {
      nodes.push({ opType: 'QuantizeLinear', inputs: ['yf', 'y_scale', 'y_zp'], outputs: ['y'] });
      Object.assign(refInits, { y_scale: scalar('float32', c.sy), y_zp: scalar(c.at, c.zy) });
    }
    const theirs = await runOrt({ nodes, inputs: feeds, initializers: refInits, output });
    if (c.act === 'float') {
      // float(acc + bias) * s there, float(acc) * s + float(bias) * s here: a few roundings.
      const m = maxAbs(theirs);
      expectFloatClose(`nquant QLinearMatMul ${c.label}`, ours, theirs, (_, want) => 2e-6 * Math.abs(want) + 1e-6 * m);
    } else {
      // QuantizeLinear divides by y_scale; we multiply by (a_scale*b_scale)/y_scale.
      expectQuantizedClose(`nquant QLinearMatMul ${c.label}`, ours, theirs, 0.05);
    }
  });
});

describe('shape inference of the family', () => {
  test('float32 output when y_scale is omitted, y_zero_point\'s type otherwise', async () => {
    const r = rng(3);
    const w = bytes(r, 'int8', [4, 2, 3, 3]);
    const base = { x_scale: scalar('float32', 0.1), x_zp: scalar('uint8', 0), w, w_scale: scalar('float32', 0.1), w_zp: scalar('int8', 0) };
    for (const quantized of [false, true]) {
      const inits: Feeds = quantized ? { ...base, y_scale: scalar('float32', 0.5), y_zp: scalar('int8', 0) } : base;
      // Output dims left symbolic so the runtime's own inference has to produce them.
      const bytesOut = buildModel({
        inputs: [{ name: 'x', dtype: 'uint8', dims: [1, 2, 5, 5] }],
        outputs: [{ name: 'y', dtype: quantized ? 'int8' : 'float32', dims: ['n', 'c', 'h', 'w'] }],
        nodes: [{ opType: 'QLinearConv', domain: 'nquant', inputs: ['x', 'x_scale', 'x_zp', 'w', 'w_scale', 'w_zp', ...(quantized ? ['y_scale', 'y_zp'] : [])], outputs: ['y'], attributes: { pads: [1, 1, 1, 1] } }],
        initializers: inits,
        opset: 19,
        domains: { nquant: 1 },
      });
      const model = await load(bytesOut);
      const y = (await model.run({ x: bytes(r, 'uint8', [1, 2, 5, 5]) })).y;
      model.dispose();
      expect(y.dtype).toBe(quantized ? 'int8' : 'float32');
      expect([...y.dims]).toEqual([1, 4, 5, 5]);
    }
  });
});
