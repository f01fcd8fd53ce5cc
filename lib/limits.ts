// Size limits and the one checked way to turn dims into element counts and byte sizes.
// Dims come from files, requests and shape arithmetic on data (Reshape targets, Range
// bounds): a plain product silently loses exactness past 2^53, goes negative, NaN or
// Infinity, and an unchecked allocation of it fails deep inside V8 or takes the process
// down with the OOM killer. Every size is computed here, so each refusal is a RangeError
// that names the tensor, and happens before anything is allocated.
import { describe, invalidRange, invalidType } from './errors';

export interface Limits {
  /** Largest single tensor (initializer, feed, intermediate or output), in bytes. */
  maxTensorBytes: number;
  /** Largest model: its file plus the tensor data it holds or references, in bytes. */
  maxModelBytes: number;
}

/** 4 GiB per tensor, 16 GiB per model: far above the models a CPU serves, far below a hostile dims field. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({ maxTensorBytes: 2 ** 32, maxModelBytes: 2 ** 34 });

let current: Limits = { ...DEFAULT_LIMITS };

function checkLimit(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidRange(name, `a positive integer number of bytes up to 2^53 - 1`, value);
  }
  return value;
}

/**
 * Sets the process-wide limits (each field optional; omitted ones keep their value) and
 * returns the previous ones, so a caller can restore them. Per-call options (load's
 * maxTensorBytes / maxModelBytes) take precedence over these.
 */
export function setLimits(limits: Partial<Limits>): Limits {
  if (typeof limits !== 'object' || limits === null) throw invalidType('limits', 'an object { maxTensorBytes?, maxModelBytes? }', limits);
  const next = { ...current };
  if (limits.maxTensorBytes !== undefined) next.maxTensorBytes = checkLimit('limits.maxTensorBytes', limits.maxTensorBytes);
  if (limits.maxModelBytes !== undefined) next.maxModelBytes = checkLimit('limits.maxModelBytes', limits.maxModelBytes);
  const previous = current;
  current = next;
  return { ...previous };
}

/** The process-wide limits in force. */
export function getLimits(): Limits {
  return { ...current };
}

/** A per-call limit when given (validated), else the process-wide one. */
export function resolveLimit(name: keyof Limits, given: number | undefined, what: string = name): number {
  return given === undefined ? current[name] : checkLimit(what, given);
}

const dimsText = (dims: readonly unknown[]): string => `[${dims.map((d) => (typeof d === 'number' ? String(d) : describe(d))).join(', ')}]`;

/**
 * Number of elements of a tensor with these dims. Throws a RangeError naming `what` when a
 * dim is not a non-negative integer, or when the product of the non-zero dims passes 2^53
 * (kernels multiply partial products: those must stay exact even when another dim is 0).
 */
export function checkedElementCount(dims: readonly unknown[], what: string): number {
  if (!Array.isArray(dims)) throw invalidRange(`${what} dims`, 'an array of non-negative integers', dims);
  let nonZero = 1;
  let zero = false;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what}: expected dim ${i} to be a non-negative integer, received ${describe(d)} (dims ${dimsText(dims)})`);
    }
    if (d === 0) zero = true;
    else nonZero *= d;
    if (nonZero > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`${what}: expected dims whose product stays below 2^53, received dims ${dimsText(dims)}`);
    }
  }
  return zero ? 0 : nonZero;
}

/**
 * Bytes of a tensor with these dims and element size, refused past `maxBytes` (default: the
 * process-wide maxTensorBytes; `limitName` says which option set it) with a RangeError naming `what`.
 */
export function checkedByteSize(dims: readonly unknown[], bytesPerElement: number, what: string, maxBytes = current.maxTensorBytes, limitName = 'maxTensorBytes'): number {
  const count = checkedElementCount(dims, what);
  const bytes = count * bytesPerElement;
  if (!(bytes <= maxBytes)) {
    throw new RangeError(`${what}: expected at most ${maxBytes} bytes (the ${limitName} limit), received ${bytes} bytes for dims ${dimsText(dims)}`);
  }
  return bytes;
}
