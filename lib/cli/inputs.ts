// Reading model inputs and labels from files, for calibration (quantize --calib) and
// evaluation (compare --data/--labels): .npy, .json, or a directory of .npy files. Every
// error names the file and what in it did not fit the model.
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import { basename, extname, join } from 'path';
import { Dim } from '../graph/ir';
import type { Feeds, ValueSpec } from '../runtime/model';
import { ARRAY_TYPES, DataType, INTEGER_RANGES, Tensor, TypedArray } from '../tensor';
import { parseNpy } from './npy';
import { CliError } from './errors';
import { checkedElementCount } from '../limits';
import { flattenArrays, jsonPreview } from '../json-values';

const fmtDims = (dims: readonly (Dim | number)[]): string => `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

function fits(spec: readonly Dim[], dims: readonly number[]): boolean {
  return spec.length === dims.length && spec.every((d, i) => typeof d !== 'number' || d < 0 || d === dims[i]);
}

function countOf(dims: readonly number[], source: string): number {
  try {
    return checkedElementCount(dims, `${source}: dims`);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

function slice(t: Tensor, index: number, dims: number[]): Tensor {
  const per = dims.reduce((a, b) => a * b, 1);
  const data = (t.data as TypedArray).slice(index * per, (index + 1) * per);
  return new Tensor(t.dtype, data as never, dims);
}

/**
 * The samples an array holds for one input: the array itself when its dims fit the input's,
 * else its slices along the first axis (a stack of inputs, or of batch-1 inputs).
 */
export function samplesFor(spec: ValueSpec, t: Tensor, source: string): Tensor[] {
  const dims = [...t.dims];
  // The model declares no dims (unknown rank looks like a scalar here): run() checks what it can.
  if (spec.dims.length === 0) return [t];
  if (fits(spec.dims, dims)) return [t];
  // Splitting is bounded by the values present, unless the samples hold none: a header of
  // shape (100000000, 0) would make a hundred million empty tensors out of a 128-byte file.
  if (dims.length > 1 && dims[0] > 1 && dims.slice(1).includes(0)) {
    throw new CliError(`${source}: input '${spec.name}' received dims ${fmtDims(dims)}, a stack of ${dims[0]} empty samples`);
  }
  if (dims.length === spec.dims.length + 1 && fits(spec.dims, dims.slice(1))) {
    return Array.from({ length: dims[0] }, (_, i) => slice(t, i, dims.slice(1)));
  }
  if (spec.dims[0] === 1 && dims.length === spec.dims.length && fits(spec.dims.slice(1), dims.slice(1))) {
    return Array.from({ length: dims[0] }, (_, i) => slice(t, i, [1, ...dims.slice(1)]));
  }
  throw new CliError(`${source}: input '${spec.name}' takes dims ${fmtDims(spec.dims)} (or a stack of them along a new first axis), received ${fmtDims(dims)}`);
}

function checkDtype(spec: ValueSpec, t: Tensor, source: string): Tensor {
  if (t.dtype === spec.dtype) return t;
  throw new CliError(`${source}: input '${spec.name}' takes ${spec.dtype}, received ${t.dtype} data`);
}

/** A JSON value (nested arrays of numbers, or { dims, data }) as a tensor of the input's dtype. */
function jsonTensor(spec: ValueSpec, value: unknown, source: string): Tensor {
  let dims: number[];
  let flat: unknown[];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as { dims?: unknown; data?: unknown };
    if (!Array.isArray(v.dims) || v.dims.some((d) => !Number.isInteger(d) || (d as number) < 0)) throw new CliError(`${source}: 'dims' must be an array of non-negative integers, received ${jsonPreview(v.dims)}`);
    if (!Array.isArray(v.data)) throw new CliError(`${source}: 'data' must be a flat array of numbers, received ${typeof v.data}`);
    dims = v.dims as number[];
    flat = v.data;
    const size = countOf(dims, source);
    if (flat.length !== size) throw new CliError(`${source}: dims ${fmtDims(dims)} need ${size} values, 'data' has ${flat.length}`);
  } else if (typeof value === 'number') {
    dims = [];
    flat = [value];
  } else if (Array.isArray(value)) {
    dims = [];
    for (let level: unknown = value; Array.isArray(level); level = level[0]) dims.push(level.length);
    flat = flattenArrays(value, dims.length);
    const size = countOf(dims, source);
    if (flat.length !== size || flat.some((x) => Array.isArray(x))) throw new CliError(`${source}: nested arrays are not rectangular (expected ${fmtDims(dims)} from the first elements)`);
  } else {
    throw new CliError(`${source}: expected a number, nested arrays of numbers or { dims, data }, received ${value === null ? 'null' : typeof value}`);
  }
  const bad = flat.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) throw new CliError(`${source}: value ${bad} is ${jsonPreview(flat[bad])}, expected a finite number`);
  const dtype: DataType = spec.dtype;
  const integer = dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16';
  if (dtype === 'float16') throw new CliError(`${source}: input '${spec.name}' is float16, which JSON data cannot feed`);
  if (integer && flat.some((x) => !Number.isInteger(x))) throw new CliError(`${source}: input '${spec.name}' takes ${dtype}, received non-integer values`);
  const range = INTEGER_RANGES[dtype];
  const outside = range ? flat.findIndex((x) => (x as number) < range[0] || (x as number) > range[1]) : -1;
  if (range && outside >= 0) throw new CliError(`${source}: input '${spec.name}' takes ${dtype}, value ${outside} is ${flat[outside]}, outside [${range[0]}, ${range[1]}]`);
  const data = new ARRAY_TYPES[dtype](flat.length) as TypedArray;
  const target = data as unknown as { [i: number]: number | bigint };
  const big = dtype === 'int64' || dtype === 'uint64';
  for (let i = 0; i < flat.length; i++) target[i] = big ? BigInt(flat[i] as number) : (flat[i] as number);
  return new Tensor(dtype, data as never, dims);
}

const inputList = (inputs: readonly ValueSpec[]): string => inputs.map((i) => `'${i.name}'`).join(', ');

function singleInput(inputs: readonly ValueSpec[], source: string, form: string): ValueSpec {
  if (inputs.length !== 1) throw new CliError(`${source}: ${form} feeds a single input, the model has ${inputs.length} (${inputList(inputs)}): use a .json list of { input: value } objects or a directory of <input>.npy files`);
  return inputs[0];
}

function readJson(path: string, inputs: readonly ValueSpec[]): Feeds[] {
  return parseJsonFeeds(readFileSync(path, 'utf8'), inputs, path);
}

/**
 * Feeds from the text of a .json feed file (one { input: value } object, a list of them, or
 * a plain array for a single-input model); `source` names the file in errors.
 */
export function parseJsonFeeds(text: string, inputs: readonly ValueSpec[], source: string): Feeds[] {
  const path = source;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const isSampleObject = (v: unknown): v is { [name: string]: unknown } => typeof v === 'object' && v !== null && !Array.isArray(v) && !('dims' in v && 'data' in v);
  const samples = isSampleObject(parsed) ? [parsed] : Array.isArray(parsed) && parsed.length > 0 && isSampleObject(parsed[0]) ? parsed : undefined;
  if (!samples) {
    const spec = singleInput(inputs, path, 'a plain array');
    return samplesFor(spec, jsonTensor(spec, parsed, path), path).map((t) => ({ [spec.name]: t }));
  }
  return samples.map((sample, i) => {
    const where = `${path} [sample ${i}]`;
    if (!isSampleObject(sample)) throw new CliError(`${where}: expected an object of input name to value, received ${Array.isArray(sample) ? 'an array' : typeof sample}`);
    for (const name of Object.keys(sample)) {
      if (!inputs.some((s) => s.name === name)) throw new CliError(`${where}: '${name}' is not an input of the model (inputs: ${inputList(inputs)})`);
    }
    const feeds: Feeds = {};
    for (const spec of inputs) {
      if (!(spec.name in sample)) throw new CliError(`${where}: no value for input '${spec.name}' (inputs: ${inputList(inputs)})`);
      const t = jsonTensor(spec, sample[spec.name], `${where} input '${spec.name}'`);
      if (!fits(spec.dims, [...t.dims]) && spec.dims.length > 0) throw new CliError(`${where}: input '${spec.name}' takes dims ${fmtDims(spec.dims)}, received ${fmtDims(t.dims)}`);
      feeds[spec.name] = t;
    }
    return feeds;
  });
}

function readNpyFile(path: string): Tensor {
  return parseNpy(readFileSync(path), path);
}

function readDirectory(dir: string, inputs: readonly ValueSpec[]): Feeds[] {
  const files = readdirSync(dir).filter((f) => extname(f) === '.npy').sort();
  if (files.length === 0) throw new CliError(`${dir}: the directory holds no .npy files`);
  const byInput = files.every((f) => inputs.some((s) => s.name === basename(f, '.npy')));
  if (inputs.length > 1 || (byInput && files.length === 1)) {
    // One <input>.npy per input, each a stack of samples.
    for (const f of files) {
      if (!inputs.some((s) => s.name === basename(f, '.npy'))) throw new CliError(`${join(dir, f)}: '${basename(f, '.npy')}' is not an input of the model (inputs: ${inputList(inputs)}); with several inputs the directory holds one <input>.npy per input`);
    }
    const perInput = inputs.map((spec) => {
      const file = join(dir, `${spec.name}.npy`);
      if (!existsSync(file)) throw new CliError(`${dir}: no ${spec.name}.npy for input '${spec.name}' (inputs: ${inputList(inputs)})`);
      return samplesFor(spec, checkDtype(spec, readNpyFile(file), file), file);
    });
    const count = perInput[0].length;
    perInput.forEach((s, i) => {
      if (s.length !== count) throw new CliError(`${dir}: ${inputs[i].name}.npy holds ${s.length} samples, ${inputs[0].name}.npy holds ${count}`);
    });
    return Array.from({ length: count }, (_, k) => Object.fromEntries(inputs.map((spec, i) => [spec.name, perInput[i][k]])));
  }
  const spec = inputs[0];
  return files.flatMap((f) => {
    const file = join(dir, f);
    return samplesFor(spec, checkDtype(spec, readNpyFile(file), file), file).map((t) => ({ [spec.name]: t }));
  });
}

/**
 * Feeds from a .npy file, a .json file or a directory of .npy files, checked against the
 * model's inputs. `argName` (e.g. '--calib') goes into errors about the path itself.
 */
export function readFeeds(path: string, inputs: readonly ValueSpec[], argName: string): Feeds[] {
  if (!existsSync(path)) throw new CliError(`${argName}: '${path}' does not exist`);
  if (statSync(path).isDirectory()) return readDirectory(path, inputs);
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return readJson(path, inputs);
  if (ext === '.npy') {
    const spec = singleInput(inputs, path, 'a .npy file');
    return samplesFor(spec, checkDtype(spec, readNpyFile(path), path), path).map((t) => ({ [spec.name]: t }));
  }
  throw new CliError(`${argName}: '${path}' is neither a .npy file, a .json file nor a directory`);
}

/** Class ids from a .json array (possibly nested) or an integer .npy array. */
export function readLabels(path: string, argName = '--labels'): number[] {
  if (!existsSync(path)) throw new CliError(`${argName}: '${path}' does not exist`);
  const ext = extname(path).toLowerCase();
  let values: number[];
  if (ext === '.json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new CliError(`${path}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new CliError(`${path}: expected an array of class ids, received ${typeof parsed}`);
    values = flattenArrays(parsed, Infinity) as number[];
  } else if (ext === '.npy') {
    const t = readNpyFile(path);
    values = Array.from(t.data as ArrayLike<number | bigint>, Number);
  } else {
    throw new CliError(`${argName}: '${path}' is neither a .json nor a .npy file`);
  }
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0);
  if (bad >= 0) throw new CliError(`${path}: label ${bad} is ${jsonPreview(values[bad])}, expected a non-negative integer class id`);
  if (values.length === 0) throw new CliError(`${path}: holds no labels`);
  return values;
}
