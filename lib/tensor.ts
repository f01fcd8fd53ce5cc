// Tensor: a dtype, a TypedArray viewed (never copied) and dims. Dtype names follow
// onnxruntime-node so tensors move between the two without surprises.
import { invalidRange, invalidType } from './errors';

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

export function isDataType(value: unknown): value is DataType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ARRAY_TYPES, value);
}

/** Product of dims, checked to stay an exact integer. */
export function sizeOf(dims: readonly number[], name = 'dims'): number {
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (!Number.isInteger(d) || d < 0) throw invalidRange(`${name}[${i}]`, 'a non-negative integer', d);
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) throw invalidRange(name, 'an element count below 2^53', dims.join('x'));
  }
  return n;
}

export class Tensor<D extends DataType = DataType> {
  readonly dtype: D;
  readonly data: DataTypeMap[D];
  readonly dims: readonly number[];

  /**
   * new Tensor('float32', data, [1, 3]) views `data`; new Tensor('float32', [1, 3]) allocates
   * zeros. A plain number array is copied into a fresh TypedArray of the dtype.
   */
  constructor(dtype: D, data: DataTypeMap[D] | readonly number[] | readonly bigint[], dims?: readonly number[]);
  constructor(dtype: D, dims: readonly number[]);
  constructor(dtype: D, dataOrDims: DataTypeMap[D] | readonly number[] | readonly bigint[], dims?: readonly number[]) {
    if (!isDataType(dtype)) throw invalidType('dtype', `one of ${DATA_TYPES.join(', ')}`, dtype);
    const Ctor = ARRAY_TYPES[dtype];
    let data: DataTypeMap[D];
    if (dims === undefined && Array.isArray(dataOrDims) && !ArrayBuffer.isView(dataOrDims)) {
      const shape = dataOrDims as readonly number[];
      data = new Ctor(sizeOf(shape)) as DataTypeMap[D];
      dims = shape;
    } else if (ArrayBuffer.isView(dataOrDims)) {
      if (!(dataOrDims instanceof Ctor)) {
        throw invalidType('data', `${Ctor.name} for dtype '${dtype}'`, dataOrDims);
      }
      data = dataOrDims as DataTypeMap[D];
    } else if (Array.isArray(dataOrDims)) {
      data = new Ctor(dataOrDims.length) as DataTypeMap[D];
      const target = data as unknown as { [i: number]: number | bigint };
      const big = dtype === 'int64' || dtype === 'uint64';
      for (let i = 0; i < dataOrDims.length; i++) {
        const v = dataOrDims[i];
        target[i] = big ? BigInt(v) : Number(v);
      }
    } else {
      throw invalidType('data', 'a TypedArray or an array of numbers', dataOrDims);
    }
    const shape = dims ?? [data.length];
    const size = sizeOf(shape);
    if (size !== data.length) {
      throw invalidRange('data', `${size} elements for dims [${shape.join(', ')}]`, `${data.length} elements`);
    }
    this.dtype = dtype;
    this.data = data;
    this.dims = Object.freeze([...shape]);
  }

  get size(): number {
    return this.data.length;
  }

  /** Same data, other dims (no copy). */
  reshape(dims: readonly number[]): Tensor<D> {
    return new Tensor(this.dtype, this.data, dims);
  }
}
