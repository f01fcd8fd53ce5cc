// Property tests (fast-check, fixed seed, bounded runs): structured mutations of real and
// built models, and of the feeds of loaded (and quantized) models, go through load -> run.
// The property: every case ends in our own Error that says what was wrong, or in outputs
// that onnxruntime-node agrees with whenever it accepts the same model and feeds. Never an
// engine-level error, a non-Error, a hang (a per-case budget) or an allocation past the
// limit (maxTensorBytes is set low, so a mutated dim cannot take the machine's memory).
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../lib/onnx/builder';
import { inferShapes, inferShapesForInputs } from '../lib/graph/shape-inference';
import { load } from '../lib/runtime/load';
import { Model, ValueSpec } from '../lib/runtime/model';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { quantizeStatic } from '../lib/quant/static';
import { ARRAY_TYPES, DATA_TYPES, DataType, Tensor, TypedArray } from '../lib/tensor';
import { smallDigitCnn } from './helpers/digits';
import { REAL_MODELS, rng } from './helpers/ort-models';
import { ONNX_NODE_TESTS, readNodeTest } from './helpers/onnx-testdata';
import {
  BudgetExceeded, EXTREME, MUTATION_KINDS, isExtreme, MutationChoice, badError, decodeModel, difference, encodeModel, feedsFor, mutate, randomData, tryOrt, withinBudget,
} from './helpers/fuzz-cases';

// NQUANT_FUZZ_SEED / NQUANT_FUZZ_RUNS explore further (and NQUANT_FUZZ_VERBOSE=1 prints every refusal); CI uses the fixed ones.
const SEED = Number(process.env.NQUANT_FUZZ_SEED ?? 20261128);
const MODEL_RUNS = Number(process.env.NQUANT_FUZZ_RUNS ?? 500);
const FEED_RUNS = Number(process.env.NQUANT_FUZZ_RUNS ?? 3000);
const VERBOSE = process.env.NQUANT_FUZZ_VERBOSE === '1';
/** Replays one counterexample: the seed and path a failure prints. */
const PATH = process.env.NQUANT_FUZZ_PATH;
/** A case that has not finished after this long is a hang (cases take milliseconds). */
const CASE_BUDGET_MS = 20_000;
/** Bounds the suite whatever the machine's load: fast-check stops early and the counts say so. */
const SUITE_BUDGET_MS = Number(process.env.NQUANT_FUZZ_BUDGET_MS ?? 25_000);
const LIMITS = { maxTensorBytes: 64 << 20 };
const FLOAT_TOLERANCE = 1e-4;
const QUANT_TOLERANCE = 0.05;

type Feeds = { [name: string]: Tensor };
interface Base { name: string; bytes: Uint8Array; feeds: Feeds; tolerance: number }

const i64 = (values: number[]): Tensor => new Tensor('int64', values.map((v) => BigInt(v)), [values.length]);
const f32 = (dims: number[], seed: number): Tensor => new Tensor('float32', randomData('float32', dims.reduce((a, b) => a * b, 1), seed) as Float32Array, dims);

/** Value-dependent shapes: a fed Reshape target, Shape -> Gather -> Concat, ConstantOfShape, Range. */
function shapeOpsModel(): Base {
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['n', 4] }, { name: 'shape', dtype: 'int64', dims: [2] }],
    outputs: [
      { name: 'y1', dtype: 'float32', dims: ['a', 'b'] }, { name: 'y2', dtype: 'float32', dims: ['n', 3] },
      { name: 'y3', dtype: 'float32', dims: ['a', 'b'] }, { name: 'y4', dtype: 'int64', dims: ['n'] },
    ],
    nodes: [
      { opType: 'Reshape', name: 'reshape', inputs: ['x', 'shape'], outputs: ['r'] },
      { opType: 'Relu', name: 'relu', inputs: ['r'], outputs: ['rr'] },
      { opType: 'Transpose', name: 'transpose', inputs: ['rr'], outputs: ['y1'], attributes: { perm: [1, 0] } },
      { opType: 'Shape', name: 'shape_of', inputs: ['x'], outputs: ['s'] },
      { opType: 'Gather', name: 'gather', inputs: ['s', 'zero'], outputs: ['n1'], attributes: { axis: 0 } },
      { opType: 'Concat', name: 'concat', inputs: ['n1', 'four'], outputs: ['cat'], attributes: { axis: 0 } },
      { opType: 'Reshape', name: 'reshape2', inputs: ['x', 'cat'], outputs: ['z'] },
      { opType: 'MatMul', name: 'matmul', inputs: ['z', 'w'], outputs: ['mm'] },
      { opType: 'Add', name: 'add', inputs: ['mm', 'b'], outputs: ['pre'] },
      { opType: 'Softmax', name: 'softmax', inputs: ['pre'], outputs: ['y2'], attributes: { axis: -1 } },
      { opType: 'ConstantOfShape', name: 'fill', inputs: ['shape'], outputs: ['y3'], attributes: { value: new Tensor('float32', [1.5], [1]) } },
      { opType: 'Squeeze', name: 'squeeze', inputs: ['n1', 'zero'], outputs: ['n0'] },
      { opType: 'Range', name: 'range', inputs: ['start', 'n0', 'one'], outputs: ['y4'] },
    ],
    initializers: {
      zero: i64([0]), four: i64([4]), w: f32([4, 3], 5), b: f32([3], 6),
      start: new Tensor('int64', [0n], []), one: new Tensor('int64', [1n], []),
    },
  });
  return { name: 'shape-ops', bytes, feeds: { x: f32([2, 4], 1), shape: i64([4, 2]) }, tolerance: FLOAT_TOLERANCE };
}

/** ONNX backend node tests with their first data set as feeds. */
const NODE_TESTS = [
  'test_conv_with_strides_padding', 'test_maxpool_2d_pads', 'test_gemm_default_matrix_bias', 'test_reshape_negative_dim',
  'test_expand_dim_changed', 'test_constantofshape_int_zeros', 'test_slice', 'test_gather_0', 'test_concat_3d_axis_1',
  'test_transpose_all_permutations_0', 'test_softmax_axis_1', 'test_matmulinteger', 'test_qlinearconv', 'test_dynamicquantizelinear',
  'test_resize_upsample_scales_nearest', 'test_range_int32_type_negative_delta', 'test_averagepool_2d_strides', 'test_batchnorm_example', 'test_split_equal_parts_1d_opset13',
];

function nodeTest(name: string): Base | undefined {
  const dir = path.join(ONNX_NODE_TESTS, name);
  if (!fs.existsSync(dir)) return undefined;
  const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'model.onnx')));
  const inputs = decodeModel(bytes).graph.input.map((i: { name: string }) => i.name) as string[];
  const set = readNodeTest(name).sets[0];
  const feeds: Feeds = {};
  set.inputs.forEach((t, k) => { feeds[inputs[k]] = t; });
  return { name, bytes, feeds, tolerance: FLOAT_TOLERANCE };
}

function fileModel(index: number): Base {
  const m = REAL_MODELS[index];
  return { name: m.name, bytes: new Uint8Array(fs.readFileSync(m.path)), feeds: m.feeds(rng(3)), tolerance: FLOAT_TOLERANCE };
}

interface Stats { [outcome: string]: number }
const bump = (s: Stats, k: string): void => { s[k] = (s[k] ?? 0) + 1; };

/**
 * Runs `model` on `feeds` and judges the outcome against onnxruntime; throws on a violation.
 * A refusal must name what was wrong: its message has to match `names` (the mutated input, a
 * node, a value: what the caller can act on).
 */
async function judge(what: string, model: Model, feeds: Feeds, ortSource: Uint8Array | ort.InferenceSession, tolerance: number, stats: Stats, names: RegExp, honest = true, values = true): Promise<void> {
  let ours: Feeds;
  try {
    ours = await withinBudget(model.run(feeds), CASE_BUDGET_MS, what);
  } catch (e) {
    if (e instanceof BudgetExceeded) throw e;
    const bad = badError(e) ?? (names.test((e as Error).message) ? undefined : `the error names nothing the caller can act on (expected ${names}): ${(e as Error).message}`);
    if (bad) throw new Error(`${what}: ${bad}`);
    if (VERBOSE) console.log(`refused ${what}: ${(e as Error).message}`);
    bump(stats, 'refused by us');
    return;
  }
  if (!honest) throw new Error(`${what}: ran on feeds that are not tensors or whose dims do not describe their data`);
  if (values && hasEmptyIntermediate(model, feeds)) {
    // A window larger than its input: ONNX's formula floors (1 + 0 - 2) / 2 + 1 to 0 rows,
    // onnxruntime truncates toward zero and gives 1 (found by ppocr_cls with a Conv stride of
    // 10, whose 1-row output then met a 2x2 MaxPool). Past such a value the two legitimately part.
    bump(stats, 'ran with an empty intermediate (dims compared only)');
    values = false;
  }
  const theirs = await tryOrt(ortSource, feeds);
  if (!theirs) {
    if (VERBOSE) console.log(`ours only ${what}`);
    bump(stats, 'ran here, refused by onnxruntime');
    return;
  }
  const diff = difference(ours, theirs, tolerance, values);
  if (diff) throw new Error(`${what}: ran, but differs from onnxruntime: ${diff}`);
  bump(stats, 'agreed with onnxruntime');
}

/** Whether some value of the executed graph has a zero dim while no feed has one. */
function hasEmptyIntermediate(model: Model, feeds: Feeds): boolean {
  if (Object.values(feeds).some((t) => t.dims.includes(0))) return false;
  const dims = Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, [...t.dims]]));
  const values = inferShapesForInputs(model.executionGraph, dims, model.ir.meta.opsets, feeds);
  return [...values.values()].some((v) => v.dims.includes(0));
}

/** A refusal of a mutated model names a node, value, initializer or input ('quoted'), or the model. */
const NAMES_SOMETHING = /'[^']+'|^ONNX model/;

const mutationArb: fc.Arbitrary<MutationChoice> = fc.record({ kind: fc.constantFrom(...MUTATION_KINDS), pick: fc.nat(1000), value: fc.nat(1000) });

describe('property: mutated models load and run, or fail with our error', () => {
  const bases: Base[] = [];

  beforeAll(async () => {
    bases.push(shapeOpsModel(), ...REAL_MODELS.map((_, i) => fileModel(i)));
    const cnn = smallDigitCnn(3);
    const digits = (seed: number): Feeds => ({ input: f32([1, 1, 28, 28], seed) });
    bases.push({ name: 'mnist-cnn', bytes: cnn.toOnnx(), feeds: digits(2), tolerance: FLOAT_TOLERANCE });
    // Quantized exports: mutated scales, zero points and their dims reach the QDQ lowering.
    bases.push({ name: 'mnist-cnn dynamic int8', bytes: (await quantizeDynamic(cnn, { perChannel: true })).toOnnx(), feeds: digits(2), tolerance: QUANT_TOLERANCE });
    for (const format of ['qdq', 'qoperator'] as const) {
      const q = await quantizeStatic(cnn, [digits(5), digits(6)], { method: 'minmax', format, perChannel: format === 'qdq' });
      bases.push({ name: `mnist-cnn static int8 ${format}`, bytes: q.toOnnx(), feeds: digits(2), tolerance: QUANT_TOLERANCE });
    }
    for (const name of NODE_TESTS) {
      const b = nodeTest(name);
      if (b) bases.push(b);
    }
    // Every base must run as given, or a mutation's refusal could be the base's own.
    for (const b of bases) await (await load(b.bytes)).run(b.feeds);
  });

  test(`${MODEL_RUNS} mutated models (seed ${SEED})`, async () => {
    const stats: Stats = {};
    const started = Date.now();
    const property = fc.asyncProperty(fc.nat(bases.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.nat(), async (which, mutations, feedSeed) => {
      const base = bases[which];
      const obj = decodeModel(base.bytes);
      const done = mutations.map((m) => mutate(obj, m)).filter((d): d is string => d !== undefined);
      const what = `${base.name} [${done.join('; ') || 'unchanged'}]`;
      let bytes: Uint8Array;
      try {
        bytes = encodeModel(obj);
      } catch {
        bump(stats, 'not encodable');  // protobufjs refused the mutated object: nothing reaches us
        return;
      }
      let model: Model;
      try {
        model = await load(bytes, LIMITS);
      } catch (e) {
        const bad = badError(e);
        if (bad) throw new Error(`${what}: load: ${bad}`);
        if (VERBOSE) console.log(`refused at load ${what}: ${(e as Error).message}`);
        bump(stats, 'refused at load');
        return;
      }
      try {
        // The base's feeds where the names still fit, fresh ones for renamed or retyped inputs.
        const fresh = feedsFor(model.inputs.filter((i) => !(i.name in base.feeds) || base.feeds[i.name].dtype !== i.dtype), feedSeed);
        if (!fresh) { bump(stats, 'inputs declared too large to feed'); return; }
        const feeds: Feeds = { ...fresh };
        for (const i of model.inputs) if (!(i.name in feeds)) feeds[i.name] = base.feeds[i.name];
        await judge(what, model, feeds, bytes, base.tolerance, stats, NAMES_SOMETHING, true, !mutations.some(isExtreme));
      } finally {
        model.dispose();
      }
    });
    const result = await fc.check(property, { seed: SEED, path: PATH, numRuns: MODEL_RUNS, interruptAfterTimeLimit: SUITE_BUDGET_MS, markInterruptAsFailure: false });
    console.log(`mutated models: seed ${SEED}, ${result.numRuns} runs of ${MODEL_RUNS} in ${Date.now() - started} ms over ${bases.length} bases${result.interrupted ? ' (stopped by the suite budget)' : ''}\n  ${JSON.stringify(stats)}`);
    if (result.failed) throw new Error(`counterexample after ${result.numRuns} runs (seed ${SEED}, path ${result.counterexamplePath}): ${(result.errorInstance as Error)?.message ?? String(result.errorInstance)}`);
    expect(result.numRuns).toBeGreaterThan(0);
  });
});

// ----- feeds -----

type FeedMutation =
  | { kind: 'dtype'; dtype: DataType }
  | { kind: 'addDim' } | { kind: 'dropDim' }
  | { kind: 'resizeDim'; dim: number; size: number }
  | { kind: 'values'; value: number; at: number }
  | { kind: 'intValues'; value: number; at: number }
  | { kind: 'forgedDims'; first: number }
  | { kind: 'missing' } | { kind: 'extra' } | { kind: 'notATensor' };

/*
 * Float inputs past EXTREME (or NaN, infinities) are compared with onnxruntime by dims and
 * dtype only: how NaN and overflow travel through pooling and reductions is not specified,
 * and onnxruntime's own MaxPool depends on where the NaN sits in the window
 * ([-1, 0.2, 0.5, NaN] gives NaN, [NaN, -1, 0.5, 0.2] gives 0.5).
 */

const SPECIAL_FLOATS = [NaN, Infinity, -Infinity, 1e30, -1e30, -0, 3.4e38];
const SPECIAL_INTS = [-1, 0, -(2 ** 31), 2 ** 31, 2 ** 40, 1e6, 5];

const feedMutationArb: fc.Arbitrary<FeedMutation> = fc.oneof(
  fc.record({ kind: fc.constant('dtype' as const), dtype: fc.constantFrom(...DATA_TYPES) }),
  fc.constant({ kind: 'addDim' as const }), fc.constant({ kind: 'dropDim' as const }),
  fc.record({ kind: fc.constant('resizeDim' as const), dim: fc.nat(5), size: fc.constantFrom(0, 1, 2, 3, 7) }),
  fc.record({ kind: fc.constant('values' as const), value: fc.constantFrom(...SPECIAL_FLOATS), at: fc.nat() }),
  fc.record({ kind: fc.constant('intValues' as const), value: fc.constantFrom(...SPECIAL_INTS), at: fc.nat() }),
  // The first dim replaced, so the rank (and symbolic batch) checks pass and only the data tells.
  fc.record({ kind: fc.constant('forgedDims' as const), first: fc.constantFrom(2 ** 31, 2 ** 53, -1, 1.5, 0, 2, NaN) }),
  fc.constant({ kind: 'missing' as const }), fc.constant({ kind: 'extra' as const }), fc.constant({ kind: 'notATensor' as const }),
);

function convert(t: Tensor, dtype: DataType): Tensor {
  const out = new ARRAY_TYPES[dtype](t.size) as TypedArray;
  const big = dtype === 'int64' || dtype === 'uint64';
  const src = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < t.size; i++) {
    const v = Number(src[i]);
    (out as unknown as { [i: number]: number | bigint })[i] = big ? BigInt(Number.isFinite(v) ? Math.trunc(v) : 0) : v;
  }
  return new Tensor(dtype, out as never, t.dims);
}

const forgeries = new WeakSet<object>();

/** A Tensor whose dims lie about its data: what a caller bypassing the constructor hands in. */
function forged(t: Tensor, dims: number[]): Tensor {
  try {
    if (dims.reduce((a, b) => a * b, 1) === t.size) return new Tensor(t.dtype, t.data, dims);
  } catch {
    // dims the constructor refuses (negative, fractional, past 2^53): forge them
  }
  const f = Object.assign(Object.create(Tensor.prototype) as Tensor, { dtype: t.dtype, data: t.data, dims });
  forgeries.add(f);
  return f;
}

function mutateFeeds(feeds: Feeds, inputs: readonly ValueSpec[], target: number, m: FeedMutation): { feeds: Feeds; what: string } {
  const spec = inputs[target % inputs.length];
  const t = feeds[spec.name];
  const out: Feeds = { ...feeds };
  // Forgeries and removals are left as they are: later mutations work on real tensors only.
  if (!(t instanceof Tensor) || forgeries.has(t)) return { feeds: out, what: `${spec.name} left as it is` };
  const resized = (dims: number[]): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new ARRAY_TYPES[t.dtype](n) as TypedArray;
    (data as unknown as { set(a: ArrayLike<number | bigint>): void }).set((t.data as TypedArray).subarray(0, Math.min(n, t.size)) as never);
    return new Tensor(t.dtype, data as never, dims);
  };
  switch (m.kind) {
    case 'dtype': out[spec.name] = convert(t, m.dtype); return { feeds: out, what: `${spec.name} as ${m.dtype}` };
    case 'addDim': out[spec.name] = t.reshape([1, ...t.dims]); return { feeds: out, what: `${spec.name} with a leading 1` };
    case 'dropDim': out[spec.name] = t.reshape(t.dims.length ? [t.dims[0] * (t.dims[1] ?? 1), ...t.dims.slice(2)] : [1]); return { feeds: out, what: `${spec.name} rank - 1` };
    case 'resizeDim': {
      if (t.dims.length === 0) return { feeds: out, what: 'scalar: no dim to resize' };
      const dims = [...t.dims];
      dims[m.dim % dims.length] = m.size;
      out[spec.name] = resized(dims);
      return { feeds: out, what: `${spec.name} dims [${dims}]` };
    }
    case 'values': case 'intValues': {
      if (t.size === 0) return { feeds: out, what: 'empty: no value to change' };
      const float = t.dtype === 'float32' || t.dtype === 'float64';
      if (float !== (m.kind === 'values')) return { feeds: out, what: `${m.kind} does not apply to ${t.dtype}` };
      const data = (t.data as TypedArray).slice() as TypedArray;
      const i = m.at % t.size;
      const big = t.dtype === 'int64' || t.dtype === 'uint64';
      (data as unknown as { [i: number]: number | bigint })[i] = big ? BigInt(m.value) : m.value;
      out[spec.name] = new Tensor(t.dtype, data as never, t.dims);
      return { feeds: out, what: `${spec.name}[${i}] := ${m.value}` };
    }
    case 'forgedDims': {
      const dims = t.dims.length ? [m.first, ...t.dims.slice(1)] : [m.first];
      out[spec.name] = forged(t, dims);
      return { feeds: out, what: `${spec.name} forged dims [${dims}] for ${t.size} elements` };
    }
    case 'missing': delete out[spec.name]; return { feeds: out, what: `${spec.name} missing` };
    case 'extra': out['not_an_input'] = t; return { feeds: out, what: 'an extra feed' };
    case 'notATensor': out[spec.name] = { dtype: t.dtype, data: t.data, dims: t.dims } as unknown as Tensor; return { feeds: out, what: `${spec.name} a plain object` };
  }
}

describe('property: mutated feeds run, or fail with our error, on float and quantized models', () => {
  interface Target { name: string; model: Model; session: ort.InferenceSession; feeds: Feeds; tolerance: number }
  const targets: Target[] = [];

  beforeAll(async () => {
    const add = async (name: string, model: Model, feeds: Feeds, tolerance: number): Promise<void> => {
      targets.push({ name, model, session: await ort.InferenceSession.create(model.toOnnx(), { graphOptimizationLevel: 'disabled' }), feeds, tolerance });
    };
    const cnn = smallDigitCnn(4);
    const digits = (seed: number): Feeds => ({ input: f32([1, 1, 28, 28], seed) });
    await add('mnist-cnn', cnn, digits(1), FLOAT_TOLERANCE);
    const shapeOps = shapeOpsModel();
    await add('shape-ops', await load(shapeOps.bytes), shapeOps.feeds, FLOAT_TOLERANCE);
    const deepa = fileModel(0);
    await add('hello_deepa', await load(deepa.bytes), deepa.feeds, FLOAT_TOLERANCE);
    await add('mnist-cnn dynamic int8', await quantizeDynamic(cnn, { perChannel: true }), digits(2), QUANT_TOLERANCE);
    await add('mnist-cnn static int8', await quantizeStatic(cnn, [digits(5), digits(6), digits(7)], { method: 'minmax' }), digits(3), QUANT_TOLERANCE);
  });

  afterAll(async () => {
    for (const t of targets) { await t.session.release(); t.model.dispose(); }
  });

  test(`${FEED_RUNS} mutated feeds (seed ${SEED})`, async () => {
    const stats: Stats = {};
    const started = Date.now();
    const property = fc.asyncProperty(fc.nat(targets.length - 1), fc.nat(7), fc.array(feedMutationArb, { minLength: 1, maxLength: 2 }), async (which, input, mutations) => {
      const target = targets[which];
      let feeds = target.feeds;
      const what: string[] = [];
      for (const m of mutations) {
        const r = mutateFeeds(feeds, target.model.inputs, input, m);
        feeds = r.feeds;
        what.push(r.what);
      }
      // Non-tensors and forged dims never reach onnxruntime: its binding would read past the data.
      const honest = Object.values(feeds).every((t) => t instanceof Tensor && !forgeries.has(t));
      const extreme = mutations.some((m) => m.kind === 'values' && !(Math.abs(m.value) < EXTREME));
      // The input mutated, a node (a fed shape that breaks a Reshape), or the feeds object as a whole.
      const names = new RegExp(`'${target.model.inputs[input % target.model.inputs.length].name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'|node '|^feeds: `);
      await judge(`${target.name} [${what.join('; ')}]`, target.model, feeds, target.session, target.tolerance, stats, names, honest, !extreme);
    });
    const result = await fc.check(property, { seed: SEED, path: PATH, numRuns: FEED_RUNS, interruptAfterTimeLimit: SUITE_BUDGET_MS, markInterruptAsFailure: false });
    console.log(`mutated feeds: seed ${SEED}, ${result.numRuns} runs of ${FEED_RUNS} in ${Date.now() - started} ms over ${targets.length} models${result.interrupted ? ' (stopped by the suite budget)' : ''}\n  ${JSON.stringify(stats)}`);
    if (result.failed) throw new Error(`counterexample after ${result.numRuns} runs (seed ${SEED}, path ${result.counterexamplePath}): ${(result.errorInstance as Error)?.message ?? String(result.errorInstance)}`);
    expect(result.numRuns).toBeGreaterThan(0);
  });
});

// One test per bug the properties found (or that reading their failures led to), with the
// input that found it, so each stays fixed whatever the generators draw next time.
describe('regressions found by the properties', () => {
  test('a Tensor made without its constructor, dims [2, 1, 28, 28] over 784 floats, is refused naming the feed', async () => {
    // Found by: mnist-cnn [input forged dims [2,1,28,28] for 784 elements]; native code used to
    // answer "inputs[0]: expected 6272 bytes, received 3136 bytes", naming no input.
    const model = smallDigitCnn(4);
    const real = f32([1, 1, 28, 28], 1);
    const fake = Object.assign(Object.create(Tensor.prototype) as Tensor, { dtype: 'float32', data: real.data, dims: [2, 1, 28, 28] });
    await expect(model.run({ input: fake })).rejects.toThrow("feeds['input']: expected a Float32Array of 1568 elements for dims [2, 1, 28, 28], received Float32Array(784)");
    const negative = Object.assign(Object.create(Tensor.prototype) as Tensor, { dtype: 'float32', data: real.data, dims: [-1, 1, 28, 28] });
    await expect(model.run({ input: negative })).rejects.toThrow("feeds['input']: expected dim 0 to be a non-negative integer, received -1");
    await expect(model.run({ input: real })).resolves.toBeDefined();
  });

  test('a graph output declared int8 that the graph computes as float32 is refused, not returned as float32', async () => {
    // Found by: test_conv_with_strides_padding [y elem_type := 3] ran here, onnxruntime refused it.
    const base = nodeTest('test_conv_with_strides_padding');
    if (!base) throw new Error('libonnx-testdata is missing test_conv_with_strides_padding');
    const obj = decodeModel(base.bytes);
    obj.graph.output[0].type.tensorType.elemType = 3;
    const model = await load(encodeModel(obj));
    await expect(model.run(base.feeds)).rejects.toThrow("graph output 'y': declared int8, but the graph computes float32");
    obj.graph.output[0].type.tensorType.elemType = 16;
    await expect((await load(encodeModel(obj))).run(base.feeds)).rejects.toThrow("graph output 'y': type tensor(bfloat16) is not one nquant can compute");
  });

  test('Gemm missing its B input names the rank as unknown, not "undefined"', async () => {
    // Found by: hello_deepa [Gemm input 1 dropInput]: "expected 2-D A and B, received ranks 3 and undefined".
    const bytes = buildModel({
      inputs: [{ name: 'a', dtype: 'float32', dims: [1, 2, 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 4] }],
      nodes: [{ opType: 'Gemm', name: 'gemm', inputs: ['a', ''], outputs: ['y'] }],
    });
    await expect((await load(bytes)).run({ a: f32([1, 2, 3], 1) })).rejects.toThrow("Gemm node 'gemm': expected 2-D A and B, received ranks 3 and unknown");
  });

  test('Conv and MaxPool on inputs of rank below 3 fail naming the rank, not with "Invalid array length"', async () => {
    // Found reading the MaxPool refusals: a rank-1 input made the Conv rule allocate new Array(-1).
    const conv = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [4] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1] }],
      nodes: [{ opType: 'Conv', name: 'conv', inputs: ['x', 'w'], outputs: ['y'] }],
      initializers: { w: f32([1, 1, 3], 2) },
    });
    await expect((await load(conv)).run({ x: f32([4], 1) })).rejects.toThrow("Conv node 'conv': input rank 1 (dims [4]): expected at least 3, [N, C, spatial...]");
    const pool = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 3] }],
      nodes: [{ opType: 'MaxPool', name: 'pool', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: [2] } }],
    });
    await expect((await load(pool)).run({ x: f32([2, 3], 1) })).rejects.toThrow("MaxPool node 'pool': input rank 2 (dims [2, 3]): expected at least 3");
  });

  test('errors about unnamed nodes name them by their output, in TS rules and in native kernels', async () => {
    // Found by: test_conv_with_strides_padding [Conv input 0 duplicateInput]: "Conv node '': kernel_shape
    // [3, 3] does not match W [1, 1, 7, 5]" (ONNX's own test models leave node names empty).
    const base = nodeTest('test_conv_with_strides_padding');
    if (!base) throw new Error('libonnx-testdata is missing test_conv_with_strides_padding');
    const obj = decodeModel(base.bytes);
    expect(obj.graph.node[0].name ?? '').toBe('');
    obj.graph.node[0].input = [obj.graph.node[0].input[0], obj.graph.node[0].input[0]];
    await expect((await load(encodeModel(obj))).run(base.feeds)).rejects.toThrow("Conv node '-> y': kernel_shape [3, 3] does not match W [1, 1, 7, 5]");
    const gather = nodeTest('test_gather_0');
    if (!gather) throw new Error('libonnx-testdata is missing test_gather_0');
    const g = decodeModel(gather.bytes);
    g.graph.node[0].attribute[0].i = 7;
    await expect((await load(encodeModel(g))).run(gather.feeds)).rejects.toThrow("Gather node '-> y': axis 7 out of range for rank 4");
  });

  test('a per-channel weight scale that does not match its weight names the DequantizeLinear node and the weight', async () => {
    // Found by: mnist-cnn static int8 qdq [initializer conv.weight_0_quantized dims reversed to [3,3,1,8]]:
    // "DequantizeLinear scale: expected 3 values (dim 0 of the input), received 8 values" named neither.
    const cnn = smallDigitCnn(3);
    const digits = (seed: number): Feeds => ({ input: f32([1, 1, 28, 28], seed) });
    const q = await quantizeStatic(cnn, [digits(5)], { method: 'minmax', format: 'qdq', perChannel: true });
    const obj = decodeModel(q.toOnnx());
    const w = obj.graph.initializer.find((t: { name: string }) => t.name === 'conv.weight_0_quantized');
    expect(w.dims).toEqual([8, 1, 3, 3]);
    w.dims = [3, 3, 1, 8];
    await expect((await load(encodeModel(obj))).run(digits(2))).rejects.toThrow(
      /^DequantizeLinear node '[^']+' \(weight 'conv.weight_0_quantized'\): DequantizeLinear scale: expected 3 values \(dim 0 of the input\), received "8 values"$/,
    );
  });

  test('a Reshape whose shape input declares 2^32 entries reports an unknown rank instead of allocating them', async () => {
    // Found reading the shape rules the mutated value_info dims reach: new Array(2^32) threw
    // "Invalid array length" inside inference (swallowed into the shape report's reason).
    const bytes = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [4] }, { name: 'shape', dtype: 'int64', dims: [2 ** 32] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [4] }],
      nodes: [{ opType: 'Reshape', name: 'rs', inputs: ['x', 'shape'], outputs: ['y'] }],
    });
    const model = await load(bytes);
    const report = inferShapes(model.ir.graph);
    expect(report.unknown).toEqual([{ value: 'y', node: 'rs', opType: 'Reshape', reason: 'rank unknown' }]);
  });
});
