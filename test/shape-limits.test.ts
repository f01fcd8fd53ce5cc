// Sizes computed from dims: negative, fractional, NaN or giant dims and shapes computed from
// data (ConstantOfShape, Expand, Tile, Range, Reshape) are refused with a RangeError that
// names the tensor, before the loader or a run allocates; maxTensorBytes / maxModelBytes are
// settable per load and process-wide.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Long from 'long';
import { buildModel, ModelSpec } from '../lib/onnx/builder';
import { importModel, importModelFile } from '../lib/onnx/import';
import { ModelProto } from '../lib/onnx/schema';
import { inferShapesForInputs } from '../lib/graph/shape-inference';
import { checkedByteSize, checkedElementCount, DEFAULT_LIMITS, getLimits, setLimits } from '../lib/limits';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { parseNpy } from '../lib/cli/npy';
import { randomFeeds } from '../lib/report/random-feeds';
import { createServer } from '../lib/serve/server';
import { Reply, request } from './helpers/serve-client';

const i64 = (values: number[]): Tensor => new Tensor('int64', values.map((v) => BigInt(v)), [values.length]);

afterEach(() => setLimits(DEFAULT_LIMITS));

describe('checkedElementCount / checkedByteSize', () => {
  test('counts ordinary dims, scalars and empty tensors', () => {
    expect(checkedElementCount([2, 3, 4], 'x')).toBe(24);
    expect(checkedElementCount([], 'x')).toBe(1);
    expect(checkedElementCount([5, 0, 7], 'x')).toBe(0);
    expect(checkedByteSize([2, 3], 4, 'x')).toBe(24);
  });

  test.each([
    [[2, -1], /^weights: expected dim 1 to be a non-negative integer, received -1 \(dims \[2, -1\]\)$/],
    [[2, 1.5], /^weights: expected dim 1 to be a non-negative integer, received 1\.5/],
    [[NaN], /^weights: expected dim 0 to be a non-negative integer, received NaN/],
    [[Infinity], /^weights: expected dim 0 to be a non-negative integer, received Infinity/],
    [['3'], /^weights: expected dim 0 to be a non-negative integer, received "3"/],
    [[2 ** 31, 2 ** 31], /^weights: expected dims whose product stays below 2\^53, received dims \[2147483648, 2147483648\]$/],
    // Kernels multiply partial products: a zero elsewhere does not make them safe.
    [[2 ** 31, 2 ** 31, 0], /^weights: expected dims whose product stays below 2\^53/],
  ])('dims %p are a RangeError naming the tensor', (dims, message) => {
    expect(() => checkedElementCount(dims as unknown[], 'weights')).toThrow(RangeError);
    expect(() => checkedElementCount(dims as unknown[], 'weights')).toThrow(message);
  });

  test('byte sizes past the limit name the tensor, the limit and the dims', () => {
    expect(() => checkedByteSize([1e6, 1e6], 4, "value 'y'")).toThrow(
      "value 'y': expected at most 4294967296 bytes (the maxTensorBytes limit), received 4000000000000 bytes for dims [1000000, 1000000]",
    );
    expect(checkedByteSize([1024], 1, 'x', 1024)).toBe(1024);
    expect(() => checkedByteSize([1025], 1, 'x', 1024)).toThrow(RangeError);
  });
});

describe('setLimits / getLimits', () => {
  test('defaults are 4 GiB per tensor and 16 GiB per model', () => {
    expect(getLimits()).toEqual({ maxTensorBytes: 2 ** 32, maxModelBytes: 2 ** 34 });
  });

  test('sets either field, returns the previous limits, refuses nonsense', () => {
    const before = setLimits({ maxTensorBytes: 1 << 20 });
    expect(before).toEqual({ maxTensorBytes: 2 ** 32, maxModelBytes: 2 ** 34 });
    expect(getLimits()).toEqual({ maxTensorBytes: 1 << 20, maxModelBytes: 2 ** 34 });
    expect(() => checkedByteSize([1 << 20], 2, 'x')).toThrow(/at most 1048576 bytes/);
    setLimits(before);
    expect(getLimits()).toEqual(before);
    expect(() => setLimits({ maxTensorBytes: -1 })).toThrow('limits.maxTensorBytes: expected a positive integer number of bytes up to 2^53 - 1, received -1');
    expect(() => setLimits({ maxModelBytes: 1.5 })).toThrow(RangeError);
    expect(() => setLimits({ maxModelBytes: 2 ** 60 })).toThrow(RangeError);
    expect(() => setLimits(null as never)).toThrow(TypeError);
    expect(getLimits()).toEqual(before);
  });
});

describe('the loader', () => {
  // An initializer declaring giant dims with no data: the declared size alone must be refused.
  function modelWithInitializer(dims: (number | Long)[], dataType = 1): Uint8Array {
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [1] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1] }],
      nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
      initializers: { w: new Tensor('float32', [1], [1]) },
    });
    const msg = ModelProto.decode(bytes) as unknown as { graph: { initializer: { dims: (number | Long)[]; dataType: number; rawData: Uint8Array }[] } };
    Object.assign(msg.graph.initializer[0], { dims, dataType, rawData: new Uint8Array(0) });
    return ModelProto.encode(msg as never).finish();
  }

  test('refuses an initializer past maxTensorBytes by its declared dims', () => {
    expect(() => importModel(modelWithInitializer([1e6, 1e6]))).toThrow(
      "graph initializer 'w': expected at most 4294967296 bytes (the maxBytes / maxTensorBytes limit), received 4000000000000 bytes for dims [1000000, 1000000]",
    );
  });

  test('names the dim of an initializer whose int64 dims leave 2^53 or multiply past it', () => {
    expect(() => importModel(modelWithInitializer([Long.fromString('9223372036854775807')]))).toThrow("graph initializer 'w' dim 0: expected a value below 2^53");
    expect(() => importModel(modelWithInitializer([2 ** 31, 2 ** 31, 0]))).toThrow("graph initializer 'w': expected dims whose product stays below 2^53");
    expect(() => importModel(modelWithInitializer([-4]))).toThrow("graph initializer 'w': expected dim 0 to be a non-negative integer, received -4");
  });

  test('maxModelBytes bounds the file, and the tensor data it references in total', async () => {
    // Two 1 KiB initializers stored outside the model: the file is small, its tensors are not.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquant-limits-'));
    try {
      const bytes = buildModel({
        inputs: [{ name: 'x', dtype: 'float32', dims: [256] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [256] }],
        nodes: [{ opType: 'Add', inputs: ['x', 'a'], outputs: ['t'] }, { opType: 'Add', inputs: ['t', 'b'], outputs: ['y'] }],
        initializers: { a: new Tensor('float32', new Float32Array(256), [256]), b: new Tensor('float32', new Float32Array(256), [256]) },
      });
      const msg = ModelProto.decode(bytes) as unknown as { graph: { initializer: object[] } };
      msg.graph.initializer.forEach((t, k) => Object.assign(t, { rawData: new Uint8Array(0), dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: String(k * 1024) }] }));
      const file = path.join(dir, 'm.onnx');
      fs.writeFileSync(file, ModelProto.encode(msg as never).finish());
      fs.writeFileSync(path.join(dir, 'w.bin'), new Uint8Array(2048));
      const size = fs.statSync(file).size;
      expect(size).toBeLessThan(1024);
      expect(importModelFile(file, { maxModelBytes: 2048 }).graph.initializers.size).toBe(2);
      expect(() => importModelFile(file, { maxModelBytes: 1536 })).toThrow(
        "graph initializer 'b': expected the model's tensors to total at most 1536 bytes (the maxModelBytes limit), received 2048 bytes with this one (dims [256])",
      );
      expect(() => importModelFile(file, { maxModelBytes: size - 1 })).toThrow(`ONNX model ${file}: expected at most ${size - 1} bytes (the maxModelBytes limit), received ${size} bytes`);
      expect(() => importModel(bytes, { maxModelBytes: bytes.length - 1 })).toThrow(`ONNX model: expected at most ${bytes.length - 1} bytes (the maxModelBytes limit), received ${bytes.length} bytes`);
      await expect(load(file, { maxModelBytes: 1536 })).rejects.toThrow(/maxModelBytes/);
      setLimits({ maxModelBytes: 1536 });
      await expect(load(file)).rejects.toThrow(/maxModelBytes/);
      // A per-load option wins over the process-wide limit.
      await expect(load(file, { maxModelBytes: 4096 })).resolves.toBeDefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('load({ maxTensorBytes }) and the older maxBytes both bound initializers', async () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [256] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [256] }],
      nodes: [{ opType: 'Add', inputs: ['x', 'a'], outputs: ['y'] }],
      initializers: { a: new Tensor('float32', new Float32Array(256), [256]) },
    });
    await expect(load(bytes, { maxTensorBytes: 1023 })).rejects.toThrow("graph initializer 'a': expected at most 1023 bytes");
    await expect(load(bytes, { maxBytes: 1023 })).rejects.toThrow("graph initializer 'a': expected at most 1023 bytes");
    await expect(load(bytes, { maxTensorBytes: 1024 })).resolves.toBeDefined();
    await expect(load(bytes, { maxTensorBytes: 0 })).rejects.toThrow('maxBytes: expected a positive integer');
  });
});

describe('runs whose shapes resolve to giant or invalid tensors', () => {
  const x1: ModelSpec['inputs'][number] = { name: 'x', dtype: 'float32', dims: [1] };
  const run = async (spec: ModelSpec, feeds: { [name: string]: Tensor }, opts = {}): Promise<unknown> => (await load(buildModel(spec), opts)).run(feeds);

  test('ConstantOfShape of a constant [1e6, 1e6] is refused naming its output', async () => {
    const spec: ModelSpec = {
      inputs: [x1],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1e6, 1e6] }],
      nodes: [{ opType: 'ConstantOfShape', name: 'fill', inputs: ['shape'], outputs: ['big'] }, { opType: 'Add', name: 'add', inputs: ['big', 'x'], outputs: ['y'] }],
      initializers: { shape: i64([1e6, 1e6]) },
    };
    await expect(run(spec, { x: new Tensor('float32', [1], [1]) })).rejects.toThrow(
      "ConstantOfShape node 'fill': value 'big': expected at most 4294967296 bytes (the maxTensorBytes limit), received 4000000000000 bytes for dims [1000000, 1000000]",
    );
  });

  test('a fed shape of [2^31, 2^31] (Expand) is refused before allocation', async () => {
    const spec: ModelSpec = {
      inputs: [x1, { name: 'shape', dtype: 'int64', dims: [2] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['a', 'b'] }],
      nodes: [{ opType: 'Expand', name: 'grow', inputs: ['x', 'shape'], outputs: ['y'] }],
    };
    const model = await load(buildModel(spec));
    const x = new Tensor('float32', [2], [1]);
    await expect(model.run({ x, shape: i64([2 ** 31, 2 ** 31]) })).rejects.toThrow("Expand node 'grow': value 'y': expected dims whose product stays below 2^53, received dims [2147483648, 2147483648]");
    await expect(model.run({ x, shape: i64([2 ** 16, 2 ** 16]) })).rejects.toThrow("Expand node 'grow': value 'y': expected at most 4294967296 bytes");
    // The same model runs when the shape is sane: the refusals above come from the sizes.
    const out = await model.run({ x, shape: i64([2, 3]) }) as { y: Tensor };
    expect([...out.y.dims]).toEqual([2, 3]);
    expect(Array.from(out.y.data as Float32Array)).toEqual([2, 2, 2, 2, 2, 2]);
  });

  test('a fed negative ConstantOfShape dim and a NaN Range length are refused naming the value', async () => {
    const cos: ModelSpec = {
      inputs: [{ name: 'shape', dtype: 'int64', dims: [2] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['a', 'b'] }],
      nodes: [{ opType: 'ConstantOfShape', name: 'fill', inputs: ['shape'], outputs: ['y'] }],
    };
    await expect(run(cos, { shape: i64([-1, 5]) })).rejects.toThrow("ConstantOfShape node 'fill': value 'y': expected dim 0 to be a non-negative integer, received -1 (dims [-1, 5])");
    const range: ModelSpec = {
      inputs: ['start', 'limit', 'delta'].map((name) => ({ name, dtype: 'float32' as const, dims: [] })),
      outputs: [{ name: 'y', dtype: 'float32', dims: ['n'] }],
      nodes: [{ opType: 'Range', name: 'r', inputs: ['start', 'limit', 'delta'], outputs: ['y'] }],
    };
    const f = (v: number): Tensor => new Tensor('float32', [v], []);
    await expect(run(range, { start: f(0), limit: f(NaN), delta: f(1) })).rejects.toThrow("Range node 'r': value 'y': expected dim 0 to be a non-negative integer, received NaN");
    await expect(run(range, { start: f(0), limit: f(1e12), delta: f(1) })).rejects.toThrow("Range node 'r': value 'y': expected at most 4294967296 bytes");
  });

  test('Tile by a constant [1e9, 1e9] and Reshape to a negative or wrong-sized shape are refused', async () => {
    const tile: ModelSpec = {
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 1] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1e9, 1e9] }],
      nodes: [{ opType: 'Tile', name: 't', inputs: ['x', 'reps'], outputs: ['y'] }],
      initializers: { reps: i64([1e9, 1e9]) },
    };
    await expect(run(tile, { x: new Tensor('float32', [1], [1, 1]) })).rejects.toThrow("Tile node 't': value 'y': expected dims whose product stays below 2^53");
    const reshape: ModelSpec = {
      inputs: [{ name: 'x', dtype: 'float32', dims: [6] }, { name: 'shape', dtype: 'int64', dims: [2] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['a', 'b'] }],
      nodes: [{ opType: 'Reshape', name: 'rs', inputs: ['x', 'shape'], outputs: ['y'] }],
    };
    const x = new Tensor('float32', new Float32Array(6), [6]);
    await expect(run(reshape, { x, shape: i64([-2, -3]) })).rejects.toThrow("Reshape node 'rs': shape [-2, -3] has -2: expected sizes >= 0, or -1 once");
    await expect(run(reshape, { x, shape: i64([4, -1]) })).rejects.toThrow("Reshape node 'rs': input dims [6] do not divide into shape [4, -1]");
    await expect(run(reshape, { x, shape: i64([4, 4]) })).rejects.toThrow("Reshape node 'rs': input dims [6] (6 elements) cannot take shape [4, 4] (16 elements)");
  });

  test('maxTensorBytes bounds feeds and intermediates, per model or process-wide', async () => {
    const spec: ModelSpec = {
      inputs: [{ name: 'x', dtype: 'float32', dims: ['n'] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['n'] }],
      nodes: [{ opType: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
    };
    const x = new Tensor('float32', new Float32Array(512), [512]);
    await expect(run(spec, { x }, { maxTensorBytes: 2047 })).rejects.toThrow("graph input: value 'x': expected at most 2047 bytes (the maxTensorBytes limit), received 2048 bytes for dims [512]");
    const model = await load(buildModel(spec));
    await expect(model.run({ x })).resolves.toBeDefined();
    // The process-wide limit is read when a plan is built, so it applies to loaded models.
    setLimits({ maxTensorBytes: 1024 });
    const x2 = new Tensor('float32', new Float32Array(300), [300]);
    await expect(model.run({ x: x2 })).rejects.toThrow("graph input: value 'x': expected at most 1024 bytes");
  });

  test('inferShapesForInputs refuses input dims of [2^31, 2^31] naming the input', async () => {
    const model = await load(buildModel({ inputs: [{ name: 'x', dtype: 'float32', dims: ['a', 'b'] }], outputs: [{ name: 'y', dtype: 'float32', dims: ['a', 'b'] }], nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }] }));
    expect(() => inferShapesForInputs(model.ir.graph, { x: [2 ** 31, 2 ** 31] })).toThrow("inputDims['x']: expected dims whose product stays below 2^53, received dims [2147483648, 2147483648]");
    expect(() => inferShapesForInputs(model.ir.graph, { x: [2, -2] })).toThrow("inputDims['x']: expected dim 1 to be a non-negative integer, received -2");
  });
});

describe('serving', () => {
  test('worker threads get the limits set with setLimits in the thread that starts the server', async () => {
    // setLimits() is per thread: without passing them on, workers ran with the defaults.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquant-limits-'));
    const file = path.join(dir, 'relu.onnx');
    fs.writeFileSync(file, buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: ['n'] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['n'] }],
      nodes: [{ opType: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
    }));
    setLimits({ maxTensorBytes: 1024 });
    const server = await createServer(file, { workers: 1 });
    try {
      const { url } = await server.listen(0);
      const infer = (n: number): Promise<Reply> => request(`${url}/v2/models/relu/infer`, { body: JSON.stringify({ inputs: [{ name: 'x', shape: [n], datatype: 'FP32', data: new Array(n).fill(-1) }] }) });
      expect((await infer(256)).status).toBe(200);
      const refused = await infer(257);
      expect(refused.status).toBe(400);
      expect(refused.json().error).toMatch("graph input: value 'x': expected at most 1024 bytes (the maxTensorBytes limit), received 1028 bytes for dims [257]");
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('other readers of dims', () => {
  test('.npy shapes past 2^53 are an NpyError naming the file', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }";
    const padded = header + ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    const bytes = new Uint8Array(10 + padded.length);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(bytes.buffer).setUint16(8, padded.length, true);
    bytes.set(Buffer.from(padded, 'latin1'), 10);
    expect(() => parseNpy(bytes, 'big.npy')).toThrow('big.npy: shape: expected dims whose product stays below 2^53, received dims [4294967296, 4294967296, 0]');
  });

  test('random feeds for a model declaring a giant input refuse to allocate it', () => {
    expect(() => randomFeeds([{ name: 'x', dtype: 'float32', dims: [1e6, 1e6] }])).toThrow("input 'x': expected at most 4294967296 bytes");
  });
});
