import * as fs from 'fs';
import { load } from '../lib';
import { inspect } from '../lib/graph/inspect';
import { Graph, ModelIR } from '../lib/graph/ir';
import { optimize, foldConstants, removeIdentities, foldConvBatchNorm, matmulAddToGemm, absorbTranspose, fuseActivations } from '../lib/graph/passes';
import { inferShapes } from '../lib/graph/shape-inference';
import { eliminateDeadNodes, sortGraph, topoSort } from '../lib/graph/topo';
import { NodeSpec, buildModel } from '../lib/onnx/builder';
import { exportModel } from '../lib/onnx/export';
import { importModel, importModelFile } from '../lib/onnx/import';
import { DataType, Tensor } from '../lib/tensor';
import { REAL_MODELS, expectClose, rng, runOrt } from './helpers/ort-models';

const r = rng(42);
const rand = (dims: number[], lo = -1, hi = 1): Tensor => new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * r()), dims);
const i64 = (v: number[]): Tensor => new Tensor('int64', v.map((x) => BigInt(x)), [v.length]);

interface Case { inputs: { name: string; dtype?: DataType; dims: number[] }[]; outputs: string[]; nodes: NodeSpec[]; initializers?: { [k: string]: Tensor }; opset?: number }

function model(c: Case): ModelIR {
  const m = importModel(buildModel({
    inputs: c.inputs.map((i) => ({ name: i.name, dtype: i.dtype ?? 'float32', dims: i.dims })),
    outputs: c.outputs.map((name) => ({ name, dtype: 'float32', dims: [] })),
    nodes: c.nodes, initializers: c.initializers, opset: c.opset ?? 17,
  }));
  // The builder always writes a shape; output ranks are left for inference / onnxruntime.
  for (const o of m.graph.outputs) delete o.dims;
  return m;
}

/** Applies `pass` to a copy and checks onnxruntime gives the same outputs (1e-5 relative). */
async function numericCheck(m: ModelIR, pass: (g: Graph) => unknown): Promise<Graph> {
  const before = exportModel(m);
  const copy = importModel(before);
  inferShapes(copy.graph, copy.meta.opsets);
  pass(copy.graph);
  const feeds: { [k: string]: Tensor } = {};
  for (const i of copy.graph.feedInputs) feeds[i.name] = rand(i.dims as number[]);
  expectClose(await runOrt(exportModel(copy), feeds), await runOrt(before, feeds), 1e-5);
  return copy.graph;
}

describe('topo', () => {
  test('sorts producers before consumers and names a cycle', () => {
    const g = new Graph();
    g.inputs = [{ name: 'x', dtype: 'float32', dims: [1] }];
    g.outputs = [{ name: 'z', dtype: 'float32' }];
    g.nodes = [
      { name: 'second', opType: 'Relu', domain: '', inputs: ['y'], outputs: ['z'], attributes: new Map() },
      { name: 'first', opType: 'Neg', domain: '', inputs: ['x'], outputs: ['y'], attributes: new Map() },
    ];
    expect(topoSort(g).map((n) => n.name)).toEqual(['first', 'second']);
    g.nodes[1].inputs = ['z'];
    expect(() => sortGraph(g)).toThrow(/cycle through (Relu 'second' -> Neg 'first' -> Relu 'second'|Neg 'first' -> Relu 'second' -> Neg 'first')/);
  });

  test('dead-node elimination keeps what reaches an output', () => {
    const m = model({ inputs: [{ name: 'x', dims: [2] }], outputs: ['y'], initializers: { unused: rand([2]) },
      nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }, { opType: 'Neg', inputs: ['x'], outputs: ['dead'] }, { opType: 'Abs', inputs: ['dead'], outputs: ['dead2'] }] });
    expect(eliminateDeadNodes(m.graph)).toBe(2);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(m.graph.initializers.has('unused')).toBe(false);
  });
});

describe('passes, each checked numerically against onnxruntime', () => {
  test('constant folding: Constant nodes, shape chains on known dims, small float math', async () => {
    const m = model({ inputs: [{ name: 'x', dims: [2, 3, 4] }], outputs: ['y'],
      initializers: { i0: new Tensor('int64', [0n], []), ax: i64([0]), m1: i64([-1]), a: rand([4]), b: rand([4]) },
      nodes: [
        { opType: 'Constant', inputs: [], outputs: ['c'], attributes: { value: rand([4], 0.1, 1) } },
        { opType: 'Shape', inputs: ['x'], outputs: ['s'] }, { opType: 'Gather', inputs: ['s', 'i0'], outputs: ['b0'], attributes: { axis: 0 } },
        { opType: 'Unsqueeze', inputs: ['b0', 'ax'], outputs: ['bu'] }, { opType: 'Concat', inputs: ['bu', 'm1'], outputs: ['shape'], attributes: { axis: 0 } },
        { opType: 'Mul', inputs: ['a', 'b'], outputs: ['ab'] }, { opType: 'Sqrt', inputs: ['c'], outputs: ['sc'] }, { opType: 'Add', inputs: ['ab', 'sc'], outputs: ['k'] },
        { opType: 'Add', inputs: ['x', 'k'], outputs: ['xk'] }, { opType: 'Reshape', inputs: ['xk', 'shape'], outputs: ['y'] },
      ] });
    const g = await numericCheck(m, (gr) => foldConstants(gr, 17));
    expect(g.nodes.map((n) => n.opType)).toEqual(['Add', 'Reshape']);
    expect(Array.from(g.initializers.get('shape')?.data as BigInt64Array)).toEqual([2n, -1n]);
  });

  test('a Dropout in training mode on constants is not folded: it runs, with its seeded mask', async () => {
    const m = model({ inputs: [{ name: 'z', dims: [4] }], outputs: ['y'],
      initializers: { x: new Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]), r: new Tensor('float32', Float32Array.of(0.6), []), t: new Tensor('bool', Uint8Array.of(1), []) },
      nodes: [{ opType: 'Dropout', inputs: ['x', 'r', 't'], outputs: ['c'], attributes: { seed: 0 } }, { opType: 'Add', inputs: ['c', 'z'], outputs: ['y'] }] });
    const folded = importModel(exportModel(m));
    inferShapes(folded.graph, folded.meta.opsets);
    foldConstants(folded.graph, 17);
    expect(folded.graph.nodes.map((n) => n.opType)).toEqual(['Dropout', 'Add']);
    // NumPy's np.random.seed(0) draws 0.549, 0.715, 0.603, 0.545: kept where >= 0.6.
    const run = await (await load(exportModel(m))).run({ z: new Tensor('float32', new Float32Array(4), [4]) });
    const scale = Math.fround(1 / Math.fround(1 - Math.fround(0.6)));
    expect(Array.from(run.y.data as Float32Array)).toEqual([0, Math.fround(2 * scale), Math.fround(3 * scale), 0]);
  });

  test('Identity and Dropout removal, including at a graph output', async () => {
    const m = model({ inputs: [{ name: 'x', dims: [3, 4] }], outputs: ['y'],
      nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['a'] }, { opType: 'Relu', inputs: ['a'], outputs: ['b'] },
        { opType: 'Dropout', inputs: ['b'], outputs: ['c'] }, { opType: 'Neg', inputs: ['c'], outputs: ['d'] },
        { opType: 'Identity', inputs: ['d'], outputs: ['y'] }] });
    const g = await numericCheck(m, removeIdentities);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Relu', 'Neg']);
    expect(g.nodes[1].outputs).toEqual(['y']);
  });

  test('Conv + BatchNormalization folding (with and without conv bias)', async () => {
    for (const bias of [true, false]) {
      const m = model({ inputs: [{ name: 'x', dims: [2, 3, 8, 8] }], outputs: ['y'],
        initializers: { w: rand([6, 3, 3, 3]), ...(bias ? { cb: rand([6]) } : {}), s: rand([6], 0.5, 2), b: rand([6]), mu: rand([6]), v: rand([6], 0.1, 2) },
        nodes: [{ opType: 'Conv', inputs: bias ? ['x', 'w', 'cb'] : ['x', 'w'], outputs: ['c'], attributes: { pads: [1, 1, 1, 1] } },
          { opType: 'BatchNormalization', inputs: ['c', 's', 'b', 'mu', 'v'], outputs: ['y'], attributes: { epsilon: 1e-3 } }] });
      const g = await numericCheck(m, foldConvBatchNorm);
      expect(g.nodes.map((n) => n.opType)).toEqual(['Conv']);
    }
  });

  test('MatMul + Add -> Gemm', async () => {
    const m = model({ inputs: [{ name: 'x', dims: [5, 8] }], outputs: ['y'], initializers: { w: rand([8, 3]), c: rand([3]) },
      nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['mm'] }, { opType: 'Add', inputs: ['c', 'mm'], outputs: ['y'] }] });
    const g = await numericCheck(m, matmulAddToGemm);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Gemm']);
    // Not for 3-D activations: Gemm has no batch dims.
    const m3 = model({ inputs: [{ name: 'x', dims: [2, 5, 8] }], outputs: ['y'], initializers: { w: rand([8, 3]), c: rand([3]) },
      nodes: [{ opType: 'MatMul', inputs: ['x', 'w'], outputs: ['mm'] }, { opType: 'Add', inputs: ['mm', 'c'], outputs: ['y'] }] });
    inferShapes(m3.graph);
    expect(matmulAddToGemm(m3.graph)).toBe(0);
  });

  test('Transpose absorbed into Gemm transA/transB', async () => {
    const m = model({ inputs: [{ name: 'x', dims: [8, 5] }], outputs: ['y', 'z'], initializers: { w: rand([3, 8]), c: rand([3]) },
      nodes: [{ opType: 'Transpose', inputs: ['x'], outputs: ['xt'], attributes: { perm: [1, 0] } }, { opType: 'Transpose', inputs: ['w'], outputs: ['wt'] },
        { opType: 'MatMul', inputs: ['xt', 'wt'], outputs: ['y'] }, { opType: 'Gemm', inputs: ['xt', 'wt', 'c'], outputs: ['z'], attributes: { transA: 0, alpha: 0.5 } }] });
    const g = await numericCheck(m, (gr) => { absorbTranspose(gr); eliminateDeadNodes(gr); });
    expect(g.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Gemm']);
  });

  test('bias + activation fusion into nquant Fused* nodes; export un-fuses', async () => {
    const m = model({ inputs: [{ name: 'x', dims: [1, 3, 6, 6] }, { name: 'v', dims: [4, 8] }], outputs: ['y', 'z', 'u'], opset: 13,
      initializers: { w: rand([4, 3, 3, 3]), cb: rand([1, 4, 1, 1]), lo: new Tensor('float32', [0], []), hi: new Tensor('float32', [0.3], []),
        gw: rand([8, 5]), gb: rand([5]), mw: rand([8, 6]), mb: rand([6]) },
      nodes: [
        { opType: 'Conv', inputs: ['x', 'w'], outputs: ['c'] }, { opType: 'Add', inputs: ['c', 'cb'], outputs: ['cb2'] }, { opType: 'Relu', inputs: ['cb2'], outputs: ['y'] },
        { opType: 'Gemm', inputs: ['v', 'gw', 'gb'], outputs: ['g'] }, { opType: 'Clip', inputs: ['g', 'lo', 'hi'], outputs: ['z'] },
        { opType: 'MatMul', inputs: ['v', 'mw'], outputs: ['mm'] }, { opType: 'Add', inputs: ['mm', 'mb'], outputs: ['mma'] },
        { opType: 'LeakyRelu', inputs: ['mma'], outputs: ['u'], attributes: { alpha: 0.2 } },
      ] });
    const g = await numericCheck(m, (gr) => fuseActivations(gr, 13));
    expect(g.nodes.map((n) => `${n.domain}:${n.opType}`)).toEqual(['nquant:FusedConv', 'nquant:FusedGemm', 'nquant:FusedMatMul']);
    expect(g.nodes[0].inputs.length).toBe(3);
    inferShapes(g, 13);
    expect(g.valueInfo.get('y')?.dims).toEqual([1, 4, 4, 4]);
  });
});

describe('optimize() on real models', () => {
  test.each(REAL_MODELS.map((m) => [m.name, m]))('%s: optimized model matches the original in onnxruntime', async (_n, spec) => {
    const original = new Uint8Array(fs.readFileSync(spec.path));
    const m = importModelFile(spec.path);
    const before = m.graph.nodes.length;
    const report = optimize(m.graph, { level: 'all', opsets: m.meta.opsets });
    const feeds = spec.feeds(rng(5));
    expectClose(await runOrt(exportModel(m), feeds), await runOrt(original, feeds), 1e-5);
    // eslint-disable-next-line no-console
    console.log(`${spec.name}: ${before} -> ${m.graph.nodes.length} nodes`, report);
    expect(m.graph.nodes.length).toBeLessThanOrEqual(before);
  });

  test("level 'basic' keeps standard ops only", () => {
    const m = importModelFile(REAL_MODELS[2].path);
    optimize(m.graph, { level: 'basic', opsets: m.meta.opsets });
    expect(m.graph.nodes.some((n) => n.opType === 'Constant')).toBe(false);
    expect(m.graph.nodes.every((n) => n.domain === '')).toBe(true);
  });
});

test('inspect: histogram, parameters, I/O and node shapes', () => {
  const m = importModelFile(REAL_MODELS[0].path);
  const s = inspect(m);
  expect(s.ops.Gemm).toBe(3);
  expect(s.nodeCount).toBe(Object.values(s.ops).reduce((a, b) => a + b, 0));
  expect(s.parameters.byDtype.float32.bytes).toBe(s.parameters.byDtype.float32.count * 4);
  expect(s.inputs).toEqual([{ name: 'onnx::Flatten_0', dtype: 'float32', dims: [1, 25, 96] }]);
  expect(s.nodes.find((n) => n.opType === 'Flatten')?.outputs[0].dims).toEqual([1, 2400]);
  expect(s.unknownShapes).toEqual([]);
});

describe('cloneGraph', () => {
  test('copies subgraphs, so rewriting a clone leaves the original intact', () => {
    const { Graph } = jest.requireActual('../lib/graph/ir') as typeof import('../lib/graph/ir');
    const { cloneGraph } = jest.requireActual('../lib/graph/clone') as typeof import('../lib/graph/clone');
    const branch = new Graph();
    branch.nodes.push({ name: 'inner', opType: 'Relu', domain: '', inputs: ['x'], outputs: ['y'], attributes: new Map() });
    const g = new Graph();
    g.nodes.push({ name: 'if', opType: 'If', domain: '', inputs: ['c'], outputs: ['y'], attributes: new Map([['then_branch', { type: 'graph', value: branch }]]) });
    const c = cloneGraph(g);
    const copied = c.nodes[0].attributes.get('then_branch');
    if (!copied || copied.type !== 'graph') throw new Error('then_branch lost');
    copied.value.nodes[0].opType = 'Sigmoid';
    copied.value.nodes.push({ name: 'extra', opType: 'Identity', domain: '', inputs: ['y'], outputs: ['z'], attributes: new Map() });
    expect(branch.nodes.map((n) => n.opType)).toEqual(['Relu']);
  });
});
