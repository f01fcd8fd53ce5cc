import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { importModel, importModelFile, unsupportedOps } from '../lib/onnx/import';
import { buildModel } from '../lib/onnx/builder';
import { ModelProto } from '../lib/onnx/schema';
import { Tensor } from '../lib/tensor';
import { REAL_MODELS } from './helpers/ort-models';

const tiny = (extra: object = {}): Uint8Array => ModelProto.encode(ModelProto.fromObject({
  irVersion: 8,
  opsetImport: [{ domain: '', version: 17 }],
  graph: {
    name: 'g',
    node: [{ name: 'relu', opType: 'Relu', input: ['x'], output: ['y'] }],
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'n' }, {}, { dimValue: 4 }] } } } }],
    output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
    ...extra,
  },
})).finish();

describe('importModel on real models', () => {
  test.each(REAL_MODELS.map((m) => [m.name, m.path]))('%s', (_name, file) => {
    const m = importModelFile(file);
    expect(m.graph.nodes.length).toBeGreaterThanOrEqual(4);
    expect(m.meta.opsets.get('')).toBeGreaterThanOrEqual(9);
    for (const t of m.graph.initializers.values()) expect(t.data.length).toBe(t.size);
  });

  test('silero: symbolic dims, value_info, If subgraphs read outer values', () => {
    const m = importModelFile(REAL_MODELS[1].path);
    expect(m.graph.inputs.find((i) => i.name === 'input')?.dims).toEqual(['batch', 'sequence']);
    expect(m.graph.valueInfo.size).toBeGreaterThan(0);
    const iff = m.graph.nodes.find((n) => n.opType === 'If');
    const thenBranch = iff?.attributes.get('then_branch');
    expect(thenBranch?.type).toBe('graph');
    if (thenBranch?.type === 'graph') expect(thenBranch.value.nodes.some((n) => n.inputs.includes('input'))).toBe(true);
  });

  test('ppocr: Constant nodes are kept as nodes (folding is a pass)', () => {
    const m = importModelFile(REAL_MODELS[2].path);
    expect(m.graph.nodes.filter((n) => n.opType === 'Constant').length).toBe(250);
  });
});

describe('importModel details', () => {
  test('dims: dim_param -> string, missing -> null; rank unknown -> undefined', () => {
    const m = importModel(tiny());
    expect(m.graph.inputs[0].dims).toEqual(['n', null, 4]);
    expect(m.graph.outputs[0].dims).toBeUndefined();
  });

  test('typed-field initializers and all attribute kinds', () => {
    const bytes = ModelProto.encode(ModelProto.fromObject({
      irVersion: 7, opsetImport: [{ version: 13 }],
      graph: {
        node: [{ name: 'n', opType: 'Custom', domain: 'x.y', input: ['a'], output: ['b'], attribute: [
          { name: 'f', type: 1, f: 0.5 }, { name: 'i', type: 2, i: '9223372036854775807' }, { name: 's', type: 3, s: Buffer.from('hé') },
          { name: 't', type: 4, t: { dims: [2], dataType: 7, int64Data: [1, -2] } },
          { name: 'fs', type: 6, floats: [1, 2] }, { name: 'is', type: 7, ints: [3, -4] }, { name: 'ss', type: 8, strings: [Buffer.from('a')] },
          { name: 'g', type: 5, g: { node: [{ opType: 'Neg', input: ['a'], output: ['c'] }], output: [{ name: 'c', type: { tensorType: { elemType: 1 } } }] } },
          { name: 'tp', type: 13, tp: { tensorType: { elemType: 8 } } },
        ] }],
        initializer: [{ name: 'a', dims: [3], dataType: 1, floatData: [1, 2, 3] }, { name: 'd', dims: [2], dataType: 11, doubleData: [0.25, 8] }],
        output: [{ name: 'b', type: { tensorType: { elemType: 1 } } }],
      },
    })).finish();
    const m = importModel(bytes);
    expect(Array.from(m.graph.initializers.get('a')?.data as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(m.graph.initializers.get('d')?.data as Float64Array)).toEqual([0.25, 8]);
    const a = m.graph.nodes[0].attributes;
    expect(a.get('f')).toEqual({ type: 'float', value: 0.5 });
    expect(a.get('i')?.value).toBe(9223372036854775807);
    expect(a.get('s')).toEqual({ type: 'string', value: 'hé' });
    const t = a.get('t');
    expect(t?.type === 'tensor' && Array.from(t.value.data as BigInt64Array)).toEqual([1n, -2n]);
    expect(a.get('is')).toEqual({ type: 'ints', value: [3, -4] });
    expect(a.get('g')?.type).toBe('graph');
    expect(a.get('tp')?.type).toBe('foreign');
    expect(m.graph.nodes[0].domain).toBe('x.y');
  });

  test('external data next to the model, confined to baseDir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquant-ext-'));
    const weights = new Float32Array([1.5, -2, 3.25, 4]);
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(weights.buffer)]));
    const model = (location: string, extra: { key: string; value: string }[] = []): Uint8Array => ModelProto.encode(ModelProto.fromObject({
      irVersion: 8, opsetImport: [{ version: 17 }],
      graph: {
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
        initializer: [{ name: 'w', dims: [4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }, { key: 'offset', value: '8' }, { key: 'length', value: '16' }, ...extra] }],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
      },
    })).finish();
    fs.writeFileSync(path.join(dir, 'm.onnx'), model('w.bin'));
    const m = importModelFile(path.join(dir, 'm.onnx'));
    expect(Array.from(m.graph.initializers.get('w')?.data as Float32Array)).toEqual(Array.from(weights));
    expect(() => importModel(model('w.bin'))).toThrow(/baseDir/);
    expect(() => importModel(model('../etc/passwd'), { baseDir: dir })).toThrow(/inside/);
    expect(() => importModel(model('/etc/passwd'), { baseDir: dir })).toThrow(/inside/);
    fs.symlinkSync('/etc/hostname', path.join(dir, 'link.bin'));
    expect(() => importModel(model('link.bin'), { baseDir: dir })).toThrow(/real path/);
    expect(() => importModel(model('missing.bin'), { baseDir: dir })).toThrow(/existing file/);
    fs.writeFileSync(path.join(dir, 'short.bin'), Buffer.alloc(10));
    expect(() => importModel(model('short.bin'), { baseDir: dir })).toThrow(/bytes/);
    fs.rmSync(dir, { recursive: true });
  });

  test('maxBytes refuses big tensors before allocating', () => {
    const bytes = buildModel({ inputs: [{ name: 'x', dtype: 'float32', dims: [4] }], outputs: [{ name: 'y', dtype: 'float32', dims: [4] }],
      nodes: [{ opType: 'Add', inputs: ['x', 'w'], outputs: ['y'] }], initializers: { w: new Tensor('float32', new Float32Array(4)) } });
    expect(() => importModel(bytes, { maxBytes: 8 })).toThrow(/maxBytes/);
    expect(importModel(bytes, { maxBytes: 16 }).graph.initializers.size).toBe(1);
  });
});

describe('import errors name what is wrong', () => {
  test('malformed and truncated bytes', () => {
    expect(() => importModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/malformed protobuf|ir_version/);
    const real = fs.readFileSync(REAL_MODELS[0].path);
    expect(() => importModel(new Uint8Array(real.subarray(0, real.length / 2)))).toThrow(Error);
    expect(() => importModel(new Uint8Array(0))).toThrow(/ir_version/);
    expect(() => importModel('x' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });

  test('unknown data type of an initializer', () => {
    const bytes = tiny({ initializer: [{ name: 'z', dims: [1], dataType: 99, rawData: Buffer.alloc(4) }] });
    expect(() => importModel(bytes)).toThrow(/initializer 'z'.*data_type.*99/);
  });

  test('declared size beyond the bytes present', () => {
    const bytes = tiny({ initializer: [{ name: 'z', dims: [1000000000, 1000], dataType: 1, rawData: Buffer.alloc(4) }] });
    expect(() => importModel(bytes)).toThrow(/initializer 'z'/);
  });

  test('dangling input reference names the node and value', () => {
    const bytes = tiny({ node: [{ name: 'relu', opType: 'Relu', input: ['nope'], output: ['y'] }] });
    expect(() => importModel(bytes)).toThrow(/Relu node 'relu': input 'nope'/);
  });

  test('duplicate outputs name both producers', () => {
    const bytes = tiny({ node: [{ name: 'a', opType: 'Relu', input: ['x'], output: ['y'] }, { name: 'b', opType: 'Neg', input: ['x'], output: ['y'] }] });
    expect(() => importModel(bytes)).toThrow(/Neg node 'b': output 'y' is already produced by Relu node 'a'/);
  });

  test('graph output nobody produces', () => {
    const bytes = tiny({ output: [{ name: 'q', type: { tensorType: { elemType: 1 } } }] });
    expect(() => importModel(bytes)).toThrow(/output 'q'/);
  });

  test('unsupported IR version', () => {
    const bytes = ModelProto.encode(ModelProto.fromObject({ irVersion: 99, graph: {} })).finish();
    expect(() => importModel(bytes)).toThrow(/ir_version.*99/);
  });
});

test('unsupportedOps lists ops outside the set, subgraphs included', () => {
  const m = importModelFile(REAL_MODELS[1].path);
  const missing = unsupportedOps(m.graph, new Set(['Reshape', 'Gather', 'Equal', 'If', 'Conv', 'Relu']));
  const names = missing.map((u) => u.op);
  expect(names).toContain('Gemm');
  expect(names).toContain('Sigmoid');
  expect(names).not.toContain('Conv');
  expect(missing.find((u) => u.op === 'Gemm')?.nodes.length).toBe(4);
});
