// Channels-last integer ops: nquant QLinearConv with channels_last 1 (NHWC in and out) and 2
// (NCHW in, NHWC out) against the NCHW op on the same data, and com.microsoft NhwcMaxPool
// against onnxruntime-node, bit-exact.
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { DataType, Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';

function toNhwc(t: Tensor): Tensor {
  const [n, c, h, w] = t.dims;
  const src = t.data as Uint8Array;
  const out = new (src.constructor as Uint8ArrayConstructor)(src.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((b * h + y) * w + x) * c + ch] = src[((b * c + ch) * h + y) * w + x];
  }
  return new Tensor(t.dtype as 'uint8', out, [n, h, w, c]);
}

function bytes(dtype: 'uint8' | 'int8', dims: number[], r: () => number): Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return dtype === 'uint8'
    ? new Tensor('uint8', Uint8Array.from({ length: size }, () => Math.floor(r() * 256)), dims)
    : new Tensor('int8', Int8Array.from({ length: size }, () => Math.floor(r() * 256) - 128), dims);
}

async function runOne(node: NodeSpec, x: Tensor, outDtype: DataType, init: { [k: string]: Tensor }, domains?: { [d: string]: number }): Promise<Tensor> {
  const m = await load(buildModel({
    inputs: [{ name: 'x', dtype: x.dtype, dims: [...x.dims] }],
    outputs: [{ name: 'y', dtype: outDtype, dims: [] }],
    nodes: [node], initializers: init, opset: 13, domains,
  }));
  return (await m.run({ x })).y;
}

describe('nquant QLinearConv channels_last', () => {
  test.each([
    ['3x3 pad 1', 8, 16, 3, 1, 1, 1],
    ['3x3 stride 2', 8, 12, 3, 2, 1, 1],
    ['1x1', 24, 8, 1, 1, 0, 1],
    ['depthwise 3x3', 16, 16, 3, 1, 1, 16],
    ['7x7 stride 2 (stem)', 3, 8, 7, 2, 3, 1],
  ])('%s: NHWC results equal the NCHW ones', async (_name, c, m, k, s, p, group) => {
    const r = rng(c * 100 + m + k);
    const x = bytes('uint8', [2, c, 11, 13], r);
    const w = bytes('int8', [m, c / group, k, k], r);
    const init = {
      xs: new Tensor('float32', [0.05], []), xz: new Tensor('uint8', [7], []), w,
      ws: new Tensor('float32', Float32Array.from({ length: m }, (_, i) => 0.01 + 0.002 * i), [m]), wz: new Tensor('int8', new Int8Array(m), [m]),
      ys: new Tensor('float32', [0.4], []), yz: new Tensor('uint8', [100], []),
      b: new Tensor('int32', Int32Array.from({ length: m }, () => Math.floor(r() * 2000) - 1000), [m]),
    };
    const attrs = { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], group };
    const node = (layout: number): NodeSpec => ({ opType: 'QLinearConv', domain: 'nquant', inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', 'b'], outputs: ['y'], attributes: { ...attrs, channels_last: layout, qmin: 100 } });
    const nchw = await runOne(node(0), x, 'uint8', init, { nquant: 1 });
    const both = await runOne(node(1), toNhwc(x), 'uint8', init, { nquant: 1 });
    const outOnly = await runOne(node(2), x, 'uint8', init, { nquant: 1 });
    const want = toNhwc(nchw);
    expect([...both.dims]).toEqual([...want.dims]);
    expect(Buffer.from(both.data as Uint8Array).equals(Buffer.from(want.data as Uint8Array))).toBe(true);
    expect(Buffer.from(outOnly.data as Uint8Array).equals(Buffer.from(want.data as Uint8Array))).toBe(true);
  });
});

describe('com.microsoft NhwcMaxPool', () => {
  test.each([
    ['uint8', [3, 3], [2, 2], [1, 1, 1, 1], 0],
    ['int8', [2, 2], [2, 2], [0, 0, 0, 0], 1],
    ['uint8', [3, 3], [1, 1], [0, 1, 2, 1], 0],
  ] as const)('%s kernel %j strides %j pads %j ceil %i matches onnxruntime', async (dtype, kernel, strides, pads, ceil) => {
    const x = bytes(dtype, [2, 9, 10, 5], rng(kernel[0] * 7 + pads[1]));
    const node: NodeSpec = { opType: 'NhwcMaxPool', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: [...kernel], strides: [...strides], pads: [...pads], ceil_mode: ceil } };
    const bytesModel = buildModel({ inputs: [{ name: 'x', dtype, dims: [...x.dims] }], outputs: [{ name: 'y', dtype, dims: [] }], nodes: [node], opset: 13, domains: { 'com.microsoft': 1 } });
    const ours = (await (await load(bytesModel)).run({ x })).y;
    const theirs = (await runOrt(bytesModel, { x })).y;
    expect([...ours.dims]).toEqual([...theirs.dims]);
    expect(Array.from(ours.data as Uint8Array)).toEqual(Array.from(theirs.data as Uint8Array));
  });
});
