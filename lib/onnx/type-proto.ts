// Human-readable names for ONNX TypeProtos nquant carries but does not compute with
// (the ONNX spec's own spelling: 'tensor(string)', 'seq(tensor(float))', 'optional(...)').
const ELEM_NAMES: { [code: number]: string } = {
  0: 'undefined', 1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64',
  8: 'string', 9: 'bool', 10: 'float16', 11: 'double', 12: 'uint32', 13: 'uint64', 14: 'complex64',
  15: 'complex128', 16: 'bfloat16', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2',
  20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4', 23: 'float4e2m1',
};

export function elemTypeName(code: number): string {
  return ELEM_NAMES[code] ?? `data_type ${code}`;
}

export interface TypeProtoLike {
  tensorType?: { elemType?: number } | null;
  sparseTensorType?: { elemType?: number } | null;
  sequenceType?: { elemType?: TypeProtoLike | null } | null;
  optionalType?: { elemType?: TypeProtoLike | null } | null;
  mapType?: { keyType?: number; valueType?: TypeProtoLike | null } | null;
}

export function describeTypeProto(t: TypeProtoLike | null | undefined, depth = 0): string {
  if (!t || depth > 16) return 'unknown';
  if (t.tensorType) return `tensor(${elemTypeName(t.tensorType.elemType ?? 0)})`;
  if (t.sparseTensorType) return `sparse_tensor(${elemTypeName(t.sparseTensorType.elemType ?? 0)})`;
  if (t.sequenceType) return `seq(${describeTypeProto(t.sequenceType.elemType, depth + 1)})`;
  if (t.optionalType) return `optional(${describeTypeProto(t.optionalType.elemType, depth + 1)})`;
  if (t.mapType) return `map(${elemTypeName(t.mapType.keyType ?? 0)},${describeTypeProto(t.mapType.valueType, depth + 1)})`;
  return 'unknown';
}
