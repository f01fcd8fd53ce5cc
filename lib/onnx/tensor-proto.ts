// ONNX TensorProto <-> Tensor. Raw bytes are little-endian per the ONNX spec; we copy them
// into an aligned TypedArray (a protobuf bytes field may sit at any offset).
import Long from 'long';
import { invalidRange, invalidType } from '../errors';
import { checkedByteSize } from '../limits';
import { ARRAY_TYPES, DataType, Tensor, TypedArray } from '../tensor';
import { OnnxDataType, TensorProto } from './schema';

export interface TensorProtoObject {
  dims?: (number | Long)[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: (number | Long)[];
  doubleData?: number[];
  uint64Data?: (number | Long)[];
  stringData?: Uint8Array[];
  name?: string;
  rawData?: Uint8Array;
  externalData?: { key?: string; value?: string }[];
  dataLocation?: number;
}

const FROM_ONNX: { [code: number]: DataType } = {
  [OnnxDataType.FLOAT]: 'float32',
  [OnnxDataType.UINT8]: 'uint8',
  [OnnxDataType.INT8]: 'int8',
  [OnnxDataType.UINT16]: 'uint16',
  [OnnxDataType.INT16]: 'int16',
  [OnnxDataType.INT32]: 'int32',
  [OnnxDataType.INT64]: 'int64',
  [OnnxDataType.BOOL]: 'bool',
  [OnnxDataType.FLOAT16]: 'float16',
  [OnnxDataType.DOUBLE]: 'float64',
  [OnnxDataType.UINT32]: 'uint32',
  [OnnxDataType.UINT64]: 'uint64',
};

const TO_ONNX: { [D in DataType]: number } = {
  float32: OnnxDataType.FLOAT,
  uint8: OnnxDataType.UINT8,
  int8: OnnxDataType.INT8,
  uint16: OnnxDataType.UINT16,
  int16: OnnxDataType.INT16,
  int32: OnnxDataType.INT32,
  int64: OnnxDataType.INT64,
  bool: OnnxDataType.BOOL,
  float16: OnnxDataType.FLOAT16,
  float64: OnnxDataType.DOUBLE,
  uint32: OnnxDataType.UINT32,
  uint64: OnnxDataType.UINT64,
};

export function dtypeFromOnnx(code: number, what: string): DataType {
  const dtype = FROM_ONNX[code];
  if (!dtype) throw invalidRange(what, 'a supported ONNX tensor data type', `data_type ${code}`);
  return dtype;
}

export function dtypeToOnnx(dtype: DataType): number {
  return TO_ONNX[dtype];
}

export function toNumber(v: number | Long | undefined | null, what = 'int64 value'): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) throw invalidRange(what, 'a value below 2^53', v.toString());
  return n;
}

function fillFrom(target: TypedArray, values: ArrayLike<number | Long>, dtype: DataType): void {
  const big = dtype === 'int64' || dtype === 'uint64';
  const out = target as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (big) out[i] = typeof v === 'number' ? BigInt(v) : BigInt(v.toString());
    else out[i] = typeof v === 'number' ? v : v.toNumber();
  }
}

export interface TensorDecodeOptions {
  /**
   * Returns the bytes of a tensor stored outside the model (data_location = EXTERNAL); without
   * it such tensors are refused. import.ts supplies one that resolves paths against baseDir.
   */
  readExternal?: (proto: TensorProtoObject, what: string, expectedBytes: number) => Uint8Array;
  /** Refuse tensors larger than this many bytes (guards allocations on hostile input). */
  maxBytes?: number;
  /**
   * Running total of tensor bytes decoded for one model, refused past `max` (maxModelBytes):
   * many tensors each under maxBytes must not add up to more than the model may hold.
   */
  modelBytes?: { used: number; max: number };
}

/**
 * Decodes a TensorProto (object from protobufjs) into a Tensor. Every size check happens
 * before allocating, so a corrupt dims field cannot make us allocate more than the bytes
 * actually present in the file.
 */
export function tensorFromProto(proto: TensorProtoObject, what = proto.name || 'tensor', opts: TensorDecodeOptions = {}): Tensor {
  const dtype = dtypeFromOnnx(proto.dataType ?? 0, `${what}.data_type`);
  const dims = (proto.dims ?? []).map((d, i) => toNumber(d, `${what} dim ${i}`));
  const Ctor = ARRAY_TYPES[dtype];
  const expected = checkedByteSize(dims, Ctor.BYTES_PER_ELEMENT, what, opts.maxBytes ?? Number.MAX_SAFE_INTEGER, 'maxBytes / maxTensorBytes');
  const size = expected / Ctor.BYTES_PER_ELEMENT;
  const budget = opts.modelBytes;
  if (budget) {
    if (budget.used + expected > budget.max) {
      throw new RangeError(`${what}: expected the model's tensors to total at most ${budget.max} bytes (the maxModelBytes limit), received ${budget.used + expected} bytes with this one (dims [${dims.join(', ')}])`);
    }
    budget.used += expected;
  }
  let raw = proto.rawData;
  if (proto.dataLocation === 1) {
    if (!opts.readExternal) throw invalidRange(what, 'data stored inside the model', 'external data (load the model from a path)');
    raw = opts.readExternal(proto, what, expected);
  }
  if (proto.dataLocation === 1 || (raw && raw.length > 0)) {
    if (!raw || raw.length !== expected) {
      throw invalidRange(`${what}.raw_data`, `${expected} bytes for dims [${dims.join(', ')}]`, `${raw?.length ?? 0} bytes`);
    }
    const data = new Ctor(size) as TypedArray;
    new Uint8Array(data.buffer, data.byteOffset, expected).set(raw);
    return new Tensor(dtype, data, dims);
  }
  let values: ArrayLike<number | Long> | undefined;
  switch (dtype) {
    case 'float32': values = proto.floatData; break;
    case 'float64': values = proto.doubleData; break;
    case 'int64': values = proto.int64Data; break;
    case 'uint32': case 'uint64': values = proto.uint64Data; break;
    default: values = proto.int32Data; break;  // int8/16/32, uint8/16, bool, float16 bits
  }
  const count = values?.length ?? 0;
  if (count !== size) {
    throw invalidRange(`${what} data`, `${size} values for dims [${dims.join(', ')}]`, `${count} values`);
  }
  const data = new Ctor(size) as TypedArray;
  if (values) fillFrom(data, values, dtype);
  return new Tensor(dtype, data, dims);
}

/** Encodes a Tensor as a TensorProto object with raw_data (little-endian). */
export function tensorToProto(tensor: Tensor, name: string): TensorProtoObject {
  const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return {
    name,
    dims: [...tensor.dims],
    dataType: dtypeToOnnx(tensor.dtype),
    rawData: bytes.slice(),
  };
}

/** Reads a serialized TensorProto (.pb, as in ONNX's test data sets). */
export function decodeTensorProto(bytes: Uint8Array): Tensor {
  if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'a Uint8Array', bytes);
  let msg: ReturnType<typeof TensorProto.decode>;
  try {
    msg = TensorProto.decode(bytes);
  } catch (e) {
    // protobufjs says what broke ('illegal tag', 'index out of range') but not in what.
    throw new Error(`TensorProto: malformed protobuf, not a serialized tensor or truncated (${(e as Error).message})`, { cause: e });
  }
  return tensorFromProto(TensorProto.toObject(msg, { arrays: true }) as TensorProtoObject);
}

export function encodeTensorProto(tensor: Tensor, name: string): Uint8Array {
  return TensorProto.encode(TensorProto.fromObject(tensorToProto(tensor, name))).finish();
}
