// Parsing a KServe v2 infer request (JSON, or JSON header + raw tensor bytes with the
// binary-tensor extension) into feeds checked against the model. Every problem is a 400
// whose message names the input and what was wrong.
import { endianness } from 'os';
import type { Feeds, ValueSpec } from '../runtime/model';
import { checkedElementCount } from '../limits';
import { ARRAY_TYPES, DataType, INTEGER_RANGES, Tensor, TypedArray } from '../tensor';
import { dtypeOf, kserveDatatype, toHalfBits } from './datatypes';
import { badRequest } from './http-error';
import { checkJsonBytes, DEFAULT_MAX_JSON_DEPTH } from './json-guard';
import { flattenArrays, jsonPreview } from '../json-values';

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  feeds: Feeds;
  /** The outputs to return, in order; all of the model's when the request names none. */
  outputs: RequestedOutput[];
}

export interface ModelSignature {
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
}

// Raw tensor bytes are read in place; the protocol says little-endian.
const LITTLE_ENDIAN = endianness() === 'LE';

const isObject = (v: unknown): v is { [key: string]: unknown } => typeof v === 'object' && v !== null && !Array.isArray(v);

export function formatDims(dims: readonly (number | string | null)[]): string {
  return `[${dims.map((d) => (typeof d === 'number' ? d : -1)).join(', ')}]`;
}

function parseShape(where: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badRequest(`${where}: 'shape' must be an array of non-negative integers`);
  let size = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw badRequest(`${where}: 'shape' must be an array of non-negative integers, got ${jsonPreview(shape)}`);
    size *= d;
  }
  if (size > 2 ** 32) throw badRequest(`${where}: shape ${jsonPreview(shape)} has too many elements`);
  return shape as number[];
}

function elementCount(dims: readonly number[], where: string): number {
  return checkedElementCount(dims, where);
}

/** JSON `data` (flat or nested row-major) -> a typed array of `dtype` with `count` elements. */
function fromJson(where: string, dtype: DataType, dims: number[], data: unknown, count: number): TypedArray {
  // Flattening copies, so a flat array (the usual case) is read as it is.
  const flat: unknown[] = !Array.isArray(data) ? [data] : data.length > 0 && Array.isArray(data[0]) ? flattenArrays(data, Math.max(1, dims.length - 1)) : data;
  if (flat.length !== count) throw badRequest(`${where}: shape ${formatDims(dims)} needs ${count} values, 'data' has ${flat.length}`);
  const out = new ARRAY_TYPES[dtype](count);
  const notA = (kind: string, i: number): never => { throw badRequest(`${where}: ${kserveDatatype(dtype)} data must be ${kind}, got ${jsonPreview(flat[i])} at index ${i}`); };
  if (dtype === 'bool') {
    const bools = out as Uint8Array;
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (v === true || v === 1) bools[i] = 1;
      else if (v !== false && v !== 0) notA('true/false', i);
    }
    return out;
  }
  const range = INTEGER_RANGES[dtype];
  if (range) {
    const [lo, hi] = range;
    const big = dtype === 'int64' || dtype === 'uint64';
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) notA(`integers in [${lo}, ${hi}]`, i);
      if (big) (out as BigInt64Array | BigUint64Array)[i] = BigInt(v as number);
      else (out as Exclude<TypedArray, BigInt64Array | BigUint64Array>)[i] = v as number;
    }
    return out;
  }
  const floats = out as Float32Array | Float64Array | Uint16Array;
  const half = dtype === 'float16';
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v !== 'number') notA('numbers', i);
    floats[i] = half ? toHalfBits(v as number) : (v as number);
  }
  return out;
}

/** `bytes` as a typed array of `dtype`: a view when aligned, else a copy. */
function fromBytes(dtype: DataType, bytes: Uint8Array): TypedArray {
  const Ctor = ARRAY_TYPES[dtype];
  const n = bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, n);
}

function checkAgainstModel(where: string, spec: ValueSpec, datatype: string, dims: number[]): DataType {
  const dtype = dtypeOf(datatype);
  if (dtype === undefined) throw badRequest(`${where}: unsupported datatype ${jsonPreview(datatype)} (the model expects ${kserveDatatype(spec.dtype)})`);
  if (dtype !== spec.dtype) throw badRequest(`${where}: datatype ${datatype} does not match the model's ${kserveDatatype(spec.dtype)}`);
  // Empty tensors are refused: some native kernels divide by a zero spatial size.
  if (dims.includes(0)) throw badRequest(`${where}: shape ${formatDims(dims)} has a zero dim; empty tensors are not accepted`);
  if (spec.dims.length > 0) {
    const fits = dims.length === spec.dims.length && spec.dims.every((d, i) => typeof d !== 'number' || d === dims[i]);
    if (!fits) throw badRequest(`${where}: shape ${formatDims(dims)} does not match the model's ${formatDims(spec.dims)} (-1: any size)`);
  }
  return dtype;
}

/**
 * `body` is the whole request body; `headerLength` the Inference-Header-Content-Length
 * header when present (the JSON part's length, raw tensor bytes following it).
 */
export function parseInferRequest(body: Buffer, headerLength: string | undefined, model: ModelSignature, maxJsonDepth = DEFAULT_MAX_JSON_DEPTH): InferRequest {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^\d+$/.test(headerLength.trim()) || n > body.length) {
      throw badRequest(`Inference-Header-Content-Length: expected an integer no larger than the body (${body.length} bytes), got ${jsonPreview(headerLength)}`);
    }
    jsonEnd = n;
  }
  checkJsonBytes(body.subarray(0, jsonEnd), maxJsonDepth);
  let request: unknown;
  try {
    request = JSON.parse(body.toString('utf8', 0, jsonEnd));
  } catch (e) {
    throw badRequest(`malformed JSON in the request body: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(request)) throw badRequest('the request body must be a JSON object with an "inputs" array');
  const { id, inputs, outputs, parameters } = request;
  if (id !== undefined && typeof id !== 'string') throw badRequest(`'id' must be a string, got ${jsonPreview(id)}`);
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest(`'inputs' must be a non-empty array of tensors, got ${inputs === undefined ? 'nothing' : jsonPreview(inputs)}`);
  if (parameters !== undefined && !isObject(parameters)) throw badRequest(`'parameters' must be an object`);

  const specs = new Map(model.inputs.map((s) => [s.name, s]));
  const feeds: Feeds = {};
  let cursor = jsonEnd;
  inputs.forEach((input: unknown, index: number) => {
    if (!isObject(input)) throw badRequest(`inputs[${index}] must be an object with name, shape, datatype and data`);
    const { name, shape, datatype, data } = input;
    if (typeof name !== 'string') throw badRequest(`inputs[${index}]: 'name' must be a string`);
    const where = `input '${name}'`;
    const spec = specs.get(name);
    if (!spec) throw badRequest(`${where}: the model has no such input (inputs: ${model.inputs.map((s) => s.name).join(', ')})`);
    if (feeds[name] !== undefined) throw badRequest(`${where}: given more than once`);
    if (typeof datatype !== 'string') throw badRequest(`${where}: 'datatype' must be a string such as "${kserveDatatype(spec.dtype)}"`);
    const dims = parseShape(where, shape);
    const dtype = checkAgainstModel(where, spec, datatype, dims);
    const count = elementCount(dims, where);
    const params = input.parameters;
    if (params !== undefined && !isObject(params)) throw badRequest(`${where}: 'parameters' must be an object`);
    const binarySize = params?.binary_data_size;
    let array: TypedArray;
    if (binarySize !== undefined) {
      if (headerLength === undefined) throw badRequest(`${where}: binary_data_size given without the Inference-Header-Content-Length header`);
      if (!LITTLE_ENDIAN) throw badRequest(`${where}: binary tensors are not supported on this big-endian server`);
      if (typeof binarySize !== 'number' || !Number.isInteger(binarySize) || binarySize < 0) throw badRequest(`${where}: binary_data_size must be a non-negative integer`);
      const expected = count * ARRAY_TYPES[dtype].BYTES_PER_ELEMENT;
      if (binarySize !== expected) throw badRequest(`${where}: shape ${formatDims(dims)} of ${datatype} needs ${expected} bytes, binary_data_size says ${binarySize}`);
      if (cursor + binarySize > body.length) throw badRequest(`${where}: the body ends ${cursor + binarySize - body.length} bytes before its binary data does`);
      if (data !== undefined) throw badRequest(`${where}: give either 'data' or binary_data_size, not both`);
      array = fromBytes(dtype, body.subarray(cursor, cursor + binarySize));
      cursor += binarySize;
    } else {
      if (data === undefined) throw badRequest(`${where}: 'data' is missing (or give parameters.binary_data_size with binary data)`);
      array = fromJson(where, dtype, dims, data, count);
    }
    feeds[name] = new Tensor(dtype, array as never, dims);
  });
  if (cursor !== body.length) throw badRequest(`the body has ${body.length - cursor} bytes after the JSON header that no input's binary_data_size accounts for`);
  const missing = model.inputs.filter((s) => feeds[s.name] === undefined).map((s) => s.name);
  if (missing.length > 0) throw badRequest(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (the model needs ${model.inputs.map((s) => s.name).join(', ')})`);

  const binaryDefault = parameters?.binary_data_output === true;
  let requested: RequestedOutput[];
  if (outputs === undefined) {
    requested = model.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  } else {
    if (!Array.isArray(outputs)) throw badRequest(`'outputs' must be an array of { name }`);
    const known = new Set(model.outputs.map((o) => o.name));
    requested = outputs.map((o: unknown, index: number) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${index}] must be an object with a string 'name'`);
      if (!known.has(o.name)) throw badRequest(`output '${o.name}': the model has no such output (outputs: ${model.outputs.map((s) => s.name).join(', ')})`);
      const p = o.parameters;
      if (p !== undefined && !isObject(p)) throw badRequest(`output '${o.name}': 'parameters' must be an object`);
      const binary = p?.binary_data;
      if (binary !== undefined && typeof binary !== 'boolean') throw badRequest(`output '${o.name}': binary_data must be true or false`);
      return { name: o.name, binary: binary ?? binaryDefault };
    });
  }
  return { id, feeds, outputs: requested };
}
