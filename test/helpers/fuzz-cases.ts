// What the property tests share: the judgement of an error (ours, naming what was wrong, or
// one the JS engine or native code raised by accident), structured mutations of a decoded
// ModelProto, feeds for a model's declared inputs, and NaN-aware comparison with onnxruntime.
import * as ort from 'onnxruntime-node';
import { ModelProto } from '../../lib/onnx/schema';
import { ValueSpec } from '../../lib/runtime/model';
import { ARRAY_TYPES, DataType, Tensor, TypedArray } from '../../lib/tensor';
import { rng } from './ort-models';

/**
 * Messages that mean the input reached code that never checked it: V8's own TypeErrors and
 * RangeErrors, allocation failures, and native internals leaking through.
 */
const ENGINE_MESSAGES = [
  /Cannot read propert/, /Cannot set propert/, /is not a function/, /is not iterable/, /is not defined/,
  /of undefined/, /of null/, /undefined is not/, /null is not/, /Invalid array length/, /Invalid typed array length/,
  /Invalid DataView/, /Array buffer allocation failed/, /Maximum call stack/, /out of memory/i, /bad_alloc/,
  /Cannot (convert|mix) .*BigInt/, /BigInt.* cannot/, /is outside the bounds/, /should be a multiple of/,
  /std::/, /Assertion/,
];

/** Why `e` is not an acceptable refusal, or undefined when it is. */
export function badError(e: unknown): string | undefined {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  const msg = e.message;
  if (msg.length < 12) return `error message too short to say what was wrong: ${JSON.stringify(msg)}`;
  const hit = ENGINE_MESSAGES.find((re) => re.test(msg));
  return hit ? `engine-level error (${hit}): ${e.name}: ${msg}\n${e.stack?.split('\n').slice(1, 6).join('\n')}` : undefined;
}

/** Awaits `p`, failing the case when it takes longer than the budget (a hang, not slowness). */
export async function withinBudget<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new BudgetExceeded(`${what}: no result within the ${ms} ms budget (hang?)`)), ms); });
  try {
    return await Promise.race([p, budget]);
  } finally {
    clearTimeout(timer);
  }
}

export class BudgetExceeded extends Error {}

// ----- feeds -----

export const MAX_FEED_ELEMENTS = 1 << 18;

/** Random data for a tensor of this dtype and element count (floats in [-1, 1), ints in [0, 4)). */
export function randomData(dtype: DataType, n: number, seed: number): TypedArray {
  const r = rng(seed);
  const data = new ARRAY_TYPES[dtype](n) as TypedArray;
  const out = data as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < n; i++) {
    if (dtype === 'float32' || dtype === 'float64') out[i] = r() * 2 - 1;
    else if (dtype === 'int64' || dtype === 'uint64') out[i] = BigInt(Math.floor(r() * 4));
    else if (dtype === 'float16') out[i] = 0x3c00;  // 1.0
    else if (dtype === 'bool') out[i] = r() < 0.5 ? 1 : 0;
    else out[i] = Math.floor(r() * 4);
  }
  return data;
}

/** Feeds for the declared inputs (symbolic dims -> 1), or undefined when a feed would be huge. */
export function feedsFor(inputs: readonly ValueSpec[], seed: number): { [name: string]: Tensor } | undefined {
  const feeds: { [name: string]: Tensor } = {};
  for (const [k, spec] of inputs.entries()) {
    const dims = spec.dims.map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    if (!(n <= MAX_FEED_ELEMENTS)) return undefined;
    feeds[spec.name] = new Tensor(spec.dtype, randomData(spec.dtype, n, seed + k) as never, dims);
  }
  return feeds;
}

// ----- model mutations (on ModelProto.toObject output, longs as numbers or strings) -----

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = any;

export const INTERESTING_INTS = [0, 1, -1, -2, 2, 3, 7, 64, 2 ** 31, -(2 ** 31), 2 ** 40, '9223372036854775807', '-9223372036854775808'] as const;
export const INTERESTING_FLOATS = [0, -1, 1e-30, 1e30, NaN, Infinity, -Infinity] as const;
export const OP_TYPES = ['Relu', 'Add', 'MatMul', 'Gemm', 'Conv', 'Reshape', 'Transpose', 'Concat', 'Softmax', 'Flatten', 'Identity', 'Gather', 'Slice', 'Expand', 'MaxPool', 'Squeeze', 'NotAnOp'] as const;
export const ONNX_DTYPES = [1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 16, 8, 0, 99] as const;

export interface MutationChoice {
  kind: MutationKind;
  /** Which element to mutate (taken modulo the number of candidates). */
  pick: number;
  /** Index into the kind's value list. */
  value: number;
}

export const MUTATION_KINDS = [
  'valueInfoDim', 'initializerDims', 'intAttribute', 'floatAttribute', 'opType', 'initializerDtype', 'valueDtype',
  'dropInput', 'duplicateInput', 'emptyInput', 'truncateRaw', 'dropNode', 'duplicateNode', 'swapInitializerDims',
  'initializerValue',
] as const;

/** Values written into an initializer (a scale, a zero point, a shape, a weight). */
export const INTERESTING_VALUES = [0, -1, 1, 255, -128, 127, 2 ** 31 - 1, -(2 ** 31), 1e-30, 1e30, NaN, Infinity, -Infinity, 0.5] as const;
export type MutationKind = typeof MUTATION_KINDS[number];

/**
 * Float attributes past this magnitude (or NaN, infinities) make outputs depend on evaluation
 * order (alpha = Inf times a zero weight is NaN when alpha is folded into the weights, Inf when
 * applied after the sum): such cases are compared with onnxruntime by dims and dtype only.
 */
export const EXTREME = 1e30;

export function isExtreme(m: MutationChoice): boolean {
  if (m.kind === 'floatAttribute') return !(Math.abs(INTERESTING_FLOATS[m.value % INTERESTING_FLOATS.length]) < EXTREME);
  // 1e-30 too: a scale that small sends quantized values to the clamps, where rounding order decides.
  if (m.kind === 'initializerValue') return !(Math.abs(INTERESTING_VALUES[m.value % INTERESTING_VALUES.length]) < EXTREME) || INTERESTING_VALUES[m.value % INTERESTING_VALUES.length] === 1e-30;
  return false;
}

/** Writes `v` (cast as the ONNX dtype would store it) into element i of raw little-endian bytes. */
function writeRaw(raw: Uint8Array, dataType: number, i: number, v: number): boolean {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size: { [t: number]: number } = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 11: 8 };
  const n = size[dataType];
  if (!n || raw.byteLength < n) return false;
  const at = (i % Math.floor(raw.byteLength / n)) * n;
  const int = Number.isFinite(v) ? Math.trunc(v) : 0;
  switch (dataType) {
    case 1: view.setFloat32(at, v, true); break;
    case 2: view.setUint8(at, int & 0xff); break;
    case 3: view.setInt8(at, (int << 24) >> 24); break;
    case 6: view.setInt32(at, int | 0, true); break;
    case 7: view.setBigInt64(at, BigInt(int), true); break;
    case 11: view.setFloat64(at, v, true); break;
  }
  return true;
}

const at = <T>(list: T[], pick: number): T | undefined => (list.length ? list[pick % list.length] : undefined);

function valueInfos(g: Obj): Obj[] {
  return [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])].filter((v: Obj) => v.type?.tensorType);
}

/** Applies one mutation in place; returns a description (for the failure report), or undefined when nothing fit. */
export function mutate(model: Obj, m: MutationChoice): string | undefined {
  const g = model.graph;
  const nodes: Obj[] = g.node ?? [];
  const inits: Obj[] = g.initializer ?? [];
  const int = INTERESTING_INTS[m.value % INTERESTING_INTS.length];
  switch (m.kind) {
    case 'valueInfoDim': {
      const dims = valueInfos(g).flatMap((v: Obj) => (v.type.tensorType.shape?.dim ?? []).map((d: Obj, i: number) => ({ v, d, i })));
      const c = at(dims, m.pick);
      if (!c) return undefined;
      c.d.dimValue = int;
      delete c.d.dimParam;
      return `${c.v.name} dim ${c.i} := ${int}`;
    }
    case 'initializerDims': {
      const t = at(inits, m.pick);
      if (!t || !(t.dims?.length)) return undefined;
      const i = m.pick % t.dims.length;
      t.dims[i] = int;
      return `initializer ${t.name} dim ${i} := ${int}`;
    }
    case 'swapInitializerDims': {
      const t = at(inits.filter((x) => (x.dims?.length ?? 0) >= 2), m.pick);
      if (!t) return undefined;
      t.dims = [...t.dims].reverse();
      return `initializer ${t.name} dims reversed to [${t.dims}]`;
    }
    case 'intAttribute': {
      const attrs = nodes.flatMap((n) => (n.attribute ?? []).filter((a: Obj) => a.type === 2 || a.type === 7).map((a: Obj) => ({ n, a })));
      const c = at(attrs, m.pick);
      if (!c) return undefined;
      if (c.a.type === 2) c.a.i = int;
      else if (c.a.ints?.length) c.a.ints[m.pick % c.a.ints.length] = int;
      else c.a.ints = [int];
      return `${c.n.opType} '${c.n.name}' attribute ${c.a.name} := ${int}`;
    }
    case 'floatAttribute': {
      const attrs = nodes.flatMap((n) => (n.attribute ?? []).filter((a: Obj) => a.type === 1).map((a: Obj) => ({ n, a })));
      const c = at(attrs, m.pick);
      if (!c) return undefined;
      c.a.f = INTERESTING_FLOATS[m.value % INTERESTING_FLOATS.length];
      return `${c.n.opType} '${c.n.name}' attribute ${c.a.name} := ${c.a.f}`;
    }
    case 'opType': {
      const n = at(nodes, m.pick);
      if (!n) return undefined;
      n.opType = OP_TYPES[m.value % OP_TYPES.length];
      return `node '${n.name}' op_type := ${n.opType}`;
    }
    case 'initializerDtype': {
      const t = at(inits, m.pick);
      if (!t) return undefined;
      t.dataType = ONNX_DTYPES[m.value % ONNX_DTYPES.length];
      return `initializer ${t.name} data_type := ${t.dataType}`;
    }
    case 'valueDtype': {
      const v = at(valueInfos(g), m.pick);
      if (!v) return undefined;
      v.type.tensorType.elemType = ONNX_DTYPES[m.value % ONNX_DTYPES.length];
      return `${v.name} elem_type := ${v.type.tensorType.elemType}`;
    }
    case 'dropInput': case 'duplicateInput': case 'emptyInput': {
      const n = at(nodes.filter((x) => (x.input?.length ?? 0) > 0), m.pick);
      if (!n) return undefined;
      const i = m.value % n.input.length;
      if (m.kind === 'dropInput') n.input.splice(i, 1);
      else if (m.kind === 'duplicateInput') n.input.splice(i, 0, n.input[i]);
      else n.input[i] = '';
      return `${n.opType} '${n.name}' input ${i} ${m.kind}`;
    }
    case 'truncateRaw': {
      const t = at(inits.filter((x) => x.rawData?.length), m.pick);
      if (!t) return undefined;
      const keep = m.value % t.rawData.length;
      t.rawData = t.rawData.subarray(0, keep);
      return `initializer ${t.name} raw_data truncated to ${keep} bytes`;
    }
    case 'initializerValue': {
      const t = at(inits.filter((x) => x.rawData?.length), m.pick);
      if (!t) return undefined;
      const v = INTERESTING_VALUES[m.value % INTERESTING_VALUES.length];
      t.rawData = Uint8Array.from(t.rawData);  // a copy: the decoded message may view the model's bytes
      if (!writeRaw(t.rawData, t.dataType, m.pick, v)) return undefined;
      return `initializer ${t.name} element ${m.pick} := ${v}`;
    }
    case 'dropNode': case 'duplicateNode': {
      if (!nodes.length) return undefined;
      const i = m.pick % nodes.length;
      if (m.kind === 'dropNode') nodes.splice(i, 1);
      else nodes.splice(i, 0, JSON.parse(JSON.stringify({ ...nodes[i], attribute: undefined })));
      return `${m.kind} #${i}`;
    }
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export function decodeModel(bytes: Uint8Array): Obj {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number });
}

export function encodeModel(obj: Obj): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(obj)).finish();
}

// ----- onnxruntime -----

/** onnxruntime-node's outputs, or undefined when it refuses the model or the feeds. */
export async function tryOrt(bytes: Uint8Array | ort.InferenceSession, feeds: { [name: string]: Tensor }): Promise<{ [name: string]: Tensor } | undefined> {
  let session: ort.InferenceSession | undefined;
  const own = bytes instanceof Uint8Array;
  try {
    session = own ? await ort.InferenceSession.create(bytes as Uint8Array, { graphOptimizationLevel: 'disabled' }) : (bytes as ort.InferenceSession);
    const input: { [name: string]: ort.Tensor } = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.dtype as never, t.data as never, [...t.dims]);
    const result = await session.run(input);
    const out: { [name: string]: Tensor } = {};
    for (const name of session.outputNames) out[name] = new Tensor(result[name].type as DataType, result[name].data as never, [...result[name].dims]);
    return out;
  } catch {
    return undefined;
  } finally {
    if (own) await session?.release();
  }
}

/**
 * Where ours and theirs differ beyond `tolerance` (max |a-b| over max |b|, NaN matching NaN,
 * infinities matching exactly; dtypes and dims only unless `values`), or undefined when they agree.
 */
export function difference(ours: { [name: string]: Tensor }, theirs: { [name: string]: Tensor }, tolerance: number, values = true): string | undefined {
  for (const [name, b] of Object.entries(theirs)) {
    const a = ours[name];
    if (!a) return `output '${name}' missing from ours`;
    if (a.dtype !== b.dtype) return `output '${name}': dtype ${a.dtype}, onnxruntime ${b.dtype}`;
    if (a.dims.join(',') !== b.dims.join(',')) return `output '${name}': dims [${a.dims}], onnxruntime [${b.dims}]`;
    if (!values) continue;
    const x = a.data as ArrayLike<number | bigint>, y = b.data as ArrayLike<number | bigint>;
    let diff = 0, mag = 0;
    for (let i = 0; i < y.length; i++) {
      const u = Number(x[i]), v = Number(y[i]);
      if (Number.isNaN(v) || Number.isNaN(u)) {
        if (Number.isNaN(v) !== Number.isNaN(u)) return `output '${name}'[${i}]: ${u}, onnxruntime ${v}`;
        continue;
      }
      if (!Number.isFinite(v) || !Number.isFinite(u)) {
        if (u !== v) return `output '${name}'[${i}]: ${u}, onnxruntime ${v}`;
        continue;
      }
      diff = Math.max(diff, Math.abs(u - v));
      mag = Math.max(mag, Math.abs(v));
    }
    const err = mag === 0 ? diff : diff / mag;
    if (!(err <= tolerance)) return `output '${name}': relative error ${err} above ${tolerance}`;
  }
  return undefined;
}
