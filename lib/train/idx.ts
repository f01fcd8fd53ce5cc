// The IDX format of the MNIST family: magic (0x00 0x00 type ndims), ndims big-endian int32
// dims, then the elements in row-major order. Datasets ship it gzipped, so gzip is undone
// here too. Every length is checked against the header before anything is read: a
// truncated download must fail loudly, not yield a short dataset.
import { gunzipSync } from 'zlib';

export interface IdxArray {
  dtype: 'uint8';
  dims: number[];
  data: Uint8Array;
}

// The type codes of the IDX spec; only uint8 is read, the rest are named in the error.
const IDX_TYPES: Record<number, string> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

function gunzip(bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`IDX: expected a valid gzip stream (input starts with 0x1f 0x8b), found one that does not decompress: ${(e as Error).message}`);
  }
}

/**
 * Parses an IDX file (plain or gzip-compressed). `data` views the (decompressed) input
 * without copying, so keep the input alive and unmodified while the result is in use.
 */
export function readIdx(input: Uint8Array): IdxArray {
  const bytes = input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b ? gunzip(input) : input;
  if (bytes.length < 4) throw new Error(`IDX: expected a 4-byte header, found ${bytes.length} byte(s)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`IDX: expected magic bytes 0x00 0x00, found ${hex(bytes[0])} ${hex(bytes[1])} (not an IDX file)`);
  }
  const type = bytes[2];
  if (type !== 0x08) {
    const name = IDX_TYPES[type];
    throw new Error(`IDX: expected element type 0x08 (uint8), found ${hex(type)} (${name ?? 'not an IDX type'}); only uint8 is supported`);
  }
  const ndims = bytes[3];
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new Error(`IDX: expected ${headerBytes} header bytes for ${ndims} dims, found ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getInt32(4 + 4 * i, false);
    if (d < 0) throw new Error(`IDX: expected dim ${i} to be non-negative, found ${d}`);
    dims.push(d);
    count *= d;
  }
  const found = bytes.length - headerBytes;
  if (found !== count) {
    throw new Error(`IDX: expected ${count} data bytes for dims [${dims.join(', ')}], found ${found}${found < count ? ' (truncated)' : ' (trailing bytes)'}`);
  }
  return { dtype: 'uint8', dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, count) };
}
