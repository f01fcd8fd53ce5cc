import * as fs from 'fs';
import * as path from 'path';
import { Graph, ModelIR } from '../lib/graph/ir';
import { exportModel } from '../lib/onnx/export';
import { importModel, importModelFile } from '../lib/onnx/import';
import { Tensor } from '../lib/tensor';
import { ONNX_NODE_TESTS } from './helpers/onnx-testdata';
import { REAL_MODELS, expectClose, rng, runOrt } from './helpers/ort-models';

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Every initializer and tensor attribute identical to the byte, subgraphs included. */
function expectSameTensors(a: Graph, b: Graph): void {
  expect([...b.initializers.keys()].sort()).toEqual([...a.initializers.keys()].sort());
  for (const [name, t] of a.initializers) {
    const u = b.initializers.get(name) as Tensor;
    expect(u.dtype).toBe(t.dtype);
    expect([...u.dims]).toEqual([...t.dims]);
    if (!bytesOf(t).equals(bytesOf(u))) throw new Error(`initializer '${name}' differs after round trip`);
  }
  expect(b.nodes.length).toBe(a.nodes.length);
  a.nodes.forEach((n, i) => {
    const m = b.nodes[i];
    expect(m.opType).toBe(n.opType);
    expect(m.inputs).toEqual(n.inputs);
    expect(m.outputs).toEqual(n.outputs);
    for (const [k, attr] of n.attributes) {
      const other = m.attributes.get(k);
      expect(other?.type).toBe(attr.type);
      if (attr.type === 'tensor' && other?.type === 'tensor') expect(bytesOf(other.value).equals(bytesOf(attr.value))).toBe(true);
      else if (attr.type === 'graph' && other?.type === 'graph') expectSameTensors(attr.value, other.value);
      else if (attr.type === 'graphs' && other?.type === 'graphs') attr.value.forEach((g, j) => expectSameTensors(g, other.value[j]));
      else if (attr.type === 'float' || attr.type === 'floats' || attr.type === 'int' || attr.type === 'ints' || attr.type === 'string' || attr.type === 'strings') expect(other?.value).toEqual(attr.value);
    }
  });
}

describe('real models: load -> save -> load', () => {
  test.each(REAL_MODELS.map((m) => [m.name, m]))('%s round-trips bit-exactly and onnxruntime gives the same outputs', async (_n, spec) => {
    const original = fs.readFileSync(spec.path);
    const model = importModelFile(spec.path);
    const bytes = exportModel(model);
    const again = importModel(bytes);
    expectSameTensors(model.graph, again.graph);
    expect(again.meta.opsets).toEqual(model.meta.opsets);
    expect(again.graph.inputs).toEqual(model.graph.inputs);
    // A second export is byte-identical to the first (stable writer).
    expect(Buffer.from(exportModel(again)).equals(Buffer.from(bytes))).toBe(true);
    const feeds = spec.feeds(rng(7));
    expectClose(await runOrt(bytes, feeds), await runOrt(new Uint8Array(original), feeds), 0);
  });
});

function listModels(): string[] {
  return fs.readdirSync(ONNX_NODE_TESTS).filter((d) => fs.existsSync(path.join(ONNX_NODE_TESTS, d, 'model.onnx'))).sort();
}

describe('ONNX backend node tests', () => {
  test('every model imports, exports and re-imports with identical tensors', () => {
    const failures: string[] = [];
    const models = listModels();
    for (const name of models) {
      try {
        const m = importModelFile(path.join(ONNX_NODE_TESTS, name, 'model.onnx'));
        const again = importModel(exportModel(m));
        expectSameTensors(m.graph, again.graph);
        expect(again.graph.inputs.map((i) => i.foreign?.description ?? i.dtype)).toEqual(m.graph.inputs.map((i) => i.foreign?.description ?? i.dtype));
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`);
      }
    }
    expect(models.length).toBeGreaterThan(900);
    expect(failures).toEqual([]);
  });

  // Running every model twice through onnxruntime would take minutes; these cover the
  // quantization ops, control flow, non-tensor types and a spread of others.
  const SAMPLE = ['test_qlinearconv', 'test_qlinearmatmul_2D', 'test_matmulinteger', 'test_convinteger_with_padding',
    'test_dynamicquantizelinear', 'test_quantizelinear', 'test_dequantizelinear', 'test_if', 'test_loop11', 'test_scan9_sum',
    'test_conv_with_strides_padding', 'test_maxpool_2d_ceil', 'test_resize_upsample_scales_linear', 'test_layer_normalization_4d_axis1',
    'test_gemm_all_attributes', 'test_slice_neg_steps', 'test_qlinearmatmul_3D', 'test_batchnorm_epsilon', 'test_split_variable_parts_1d',
    'test_reduce_mean_default_axes_keepdims_example', 'test_constant', 'test_gather_negative_indices', 'test_softmax_axis_0_expanded'];
  test.each(SAMPLE)('%s: re-exported model gives the expected outputs in onnxruntime', async (name) => {
    const dir = path.join(ONNX_NODE_TESTS, name);
    const { readNodeTest } = await import('./helpers/onnx-testdata');
    const model = importModelFile(path.join(dir, 'model.onnx'));
    const set = readNodeTest(name).sets[0];
    const feeds: { [k: string]: Tensor } = {};
    model.graph.feedInputs.forEach((input, i) => { feeds[input.name] = set.inputs[i]; });
    const ours = await runOrt(exportModel(model), feeds);
    const reference = await runOrt(new Uint8Array(fs.readFileSync(path.join(dir, 'model.onnx'))), feeds);
    expectClose(ours, reference, 0);
  });
});

test('fused nquant nodes are written back as standard ONNX', async () => {
  const g = new Graph();
  g.inputs = [{ name: 'x', dtype: 'float32', dims: [2, 3] }];
  g.outputs = [{ name: 'y', dtype: 'float32', dims: [2, 4] }, { name: 'z', dtype: 'float32', dims: [2, 4] }];
  const r = rng(3);
  g.initializers.set('w', new Tensor('float32', Float32Array.from({ length: 12 }, () => r() - 0.5), [3, 4]));
  g.initializers.set('b', new Tensor('float32', Float32Array.from({ length: 4 }, () => r() - 0.5), [4]));
  g.nodes = [
    { name: 'fg', opType: 'FusedGemm', domain: 'nquant', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: new Map([['activation', { type: 'string', value: 'Clip' }], ['clip_min', { type: 'float', value: -0.1 }], ['clip_max', { type: 'float', value: 0.2 }]]) },
    { name: 'fm', opType: 'FusedMatMul', domain: 'nquant', inputs: ['x', 'w', 'b'], outputs: ['z'], attributes: new Map([['activation', { type: 'string', value: 'Relu' }]]) },
  ];
  const model: ModelIR = { graph: g, meta: { irVersion: 8, opsets: new Map([['', 17]]), metadata: new Map() } };
  const back = importModel(exportModel(model));
  expect(back.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Clip', 'MatMul', 'Add', 'Relu']);
  const x = new Tensor('float32', Float32Array.from({ length: 6 }, () => r() * 2 - 1), [2, 3]);
  const out = await runOrt(exportModel(model), { x });
  const y = out.y.data as Float32Array;
  expect(Math.max(...y)).toBeLessThanOrEqual(0.2 + 1e-7);
  expect(Math.min(...y)).toBeGreaterThanOrEqual(-0.1 - 1e-7);
  expect(Math.min(...(out.z.data as Float32Array))).toBeGreaterThanOrEqual(0);
});
