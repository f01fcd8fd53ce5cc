// Encoding a KServe v2 infer response: JSON tensors, or (for outputs asked for with
// binary_data) a JSON header followed by the raw little-endian bytes.
import type { Outputs } from '../runtime/model';
import type { Tensor } from '../tensor';
import { fromHalfBits, kserveDatatype } from './datatypes';
import type { RequestedOutput } from './request';

export interface EncodedResponse {
  body: Buffer;
  /** Set when binary outputs follow the JSON: the value of Inference-Header-Content-Length. */
  headerLength?: number;
}

function jsonData(t: Tensor): unknown[] {
  switch (t.dtype) {
    case 'int64': case 'uint64': return Array.from(t.data as BigInt64Array | BigUint64Array, Number);
    case 'bool': return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'float16': return Array.from(t.data as Uint16Array, fromHalfBits);
    default: return Array.from(t.data as ArrayLike<number>);
  }
}

export function encodeInferResponse(modelName: string, id: string | undefined, outputs: Outputs, requested: RequestedOutput[]): EncodedResponse {
  const chunks: Buffer[] = [];
  const entries = requested.map(({ name, binary }) => {
    const t = outputs[name];
    const entry: { [key: string]: unknown } = { name, datatype: kserveDatatype(t.dtype), shape: [...t.dims] };
    if (binary) {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      chunks.push(bytes);
      entry.parameters = { binary_data_size: bytes.byteLength };
    } else {
      entry.data = jsonData(t);
    }
    return entry;
  });
  const header = Buffer.from(JSON.stringify({ model_name: modelName, model_version: '1', ...(id !== undefined ? { id } : {}), outputs: entries }));
  if (chunks.length === 0) return { body: header };
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}
