// Tensor: a dtype, a TypedArray viewed (never copied) and dims. Dtype names follow
// onnxruntime-node so tensors move between the two without surprises.
import { invalidRange, invalidType } from './errors';
import { checkedByteSize, checkedElementCount } from './limits';

export type DataTypeMap = {
  float32: Float32Array;
  float16: Uint16Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
};
export type DataType = keyof DataTypeMap;
export type TypedArray = DataTypeMap[DataType];

type ArrayConstructorFor<T> = { new (length: number): T; new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

export const ARRAY_TYPES: { [D in DataType]: ArrayConstructorFor<DataTypeMap[D]> } = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export const DATA_TYPES = Object.keys(ARRAY_TYPES) as DataType[];

/**
 * The JS numbers each integer dtype holds exactly, for checking values from text (typed
 * arrays wrap silently: 300 stored in uint8 reads 44). 64-bit types stop at 2^53, where
 * numbers stop being exact.
 */
export const INTEGER_RANGES: { readonly [D in DataType]?: readonly [number, number] } = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], uint64: [0, Number.MAX_SAFE_INTEGER],
  bool: [0, 1],
};

export function isDataType(value: unknown): value is DataType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ARRAY_TYPES, value);
}

/** Product of dims, checked to stay an exact integer (see checkedElementCount). */
export function sizeOf(dims: readonly number[], name = 'dims'): number {
  return checkedElementCount(dims, name);
}

export class Tensor<D extends DataType = DataType> {
  readonly dtype: D;
  readonly data: DataTypeMap[D];
  readonly dims: readonly number[];

  /**
   * new Tensor('float32', data, [1, 3]) views `data` (a TypedArray of the dtype's kind);
   * a plain array of numbers (or bigints) is copied into a fresh TypedArray. Without dims,
   * the tensor is 1-D. Use Tensor.zeros(dtype, dims) to allocate.
   */
  constructor(dtype: D, data: DataTypeMap[D] | readonly number[] | readonly bigint[], dims?: readonly number[]) {
    if (!isDataType(dtype)) throw invalidType('dtype', `one of ${DATA_TYPES.join(', ')}`, dtype);
    const Ctor = ARRAY_TYPES[dtype];
    let array: DataTypeMap[D];
    if (ArrayBuffer.isView(data)) {
      if (!(data instanceof Ctor)) throw invalidType('data', `${Ctor.name} for dtype '${dtype}'`, data);
      array = data as DataTypeMap[D];
    } else if (Array.isArray(data)) {
      array = new Ctor(data.length) as DataTypeMap[D];
      const target = array as unknown as { [i: number]: number | bigint };
      const big = dtype === 'int64' || dtype === 'uint64';
      for (let i = 0; i < data.length; i++) target[i] = big ? BigInt(data[i]) : Number(data[i]);
    } else {
      throw invalidType('data', 'a TypedArray or an array of numbers', data);
    }
    const shape = dims ?? [array.length];
    const size = sizeOf(shape);
    if (size !== array.length) {
      throw invalidRange('data', `${size} elements for dims [${shape.join(', ')}]`, array.length);
    }
    this.dtype = dtype;
    this.data = array;
    this.dims = Object.freeze([...shape]);
  }

  /** A tensor of zeros. */
  static zeros<D extends DataType>(dtype: D, dims: readonly number[]): Tensor<D> {
    if (!isDataType(dtype)) throw invalidType('dtype', `one of ${DATA_TYPES.join(', ')}`, dtype);
    // Allocates, so the size limit applies (a view of caller's data needs no limit).
    const Ctor = ARRAY_TYPES[dtype];
    const count = checkedByteSize(dims, Ctor.BYTES_PER_ELEMENT, 'dims') / Ctor.BYTES_PER_ELEMENT;
    return new Tensor(dtype, new Ctor(count) as DataTypeMap[D], dims);
  }

  get size(): number {
    return this.data.length;
  }

  /** Same data, other dims (no copy). */
  reshape(dims: readonly number[]): Tensor<D> {
    return new Tensor(this.dtype, this.data, dims);
  }
}
