// NumPy's .npy format (versions 1-3), strictly: little-endian float32, uint8 and int64 in C
// order, the types calibration data and labels come in. Anything else is an error that says
// which file and what was found, rather than data silently read wrong.
import { checkedElementCount } from '../limits';
import { DataType, Tensor } from '../tensor';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The dtype each accepted descr maps to ('|' is NumPy's "byte order not applicable"). */
const DESCRS: { [descr: string]: DataType } = {
  '<f4': 'float32',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '<i8': 'int64',
};
const ITEM_BYTES: { [dtype: string]: number } = { float32: 4, uint8: 1, int64: 8 };

export class NpyError extends RangeError {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'NpyError';
  }
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

// The header is a Python dict literal written by numpy's own formatter: three known keys with
// string, bool and tuple-of-int values. A small parser for exactly that keeps odd files out.
function parseHeader(file: string, text: string): Header {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw new NpyError(file, `header is not a dict literal: ${JSON.stringify(body.slice(0, 80))}`);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(body);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(body);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(body);
  if (!descr) throw new NpyError(file, "header has no 'descr' string");
  if (!fortran) throw new NpyError(file, "header has no 'fortran_order' True/False");
  if (!shape) throw new NpyError(file, "header has no 'shape' tuple");
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const parsed = dims.map((d) => {
    if (!/^\d+$/.test(d)) throw new NpyError(file, `shape entry '${d}' is not a non-negative integer`);
    return Number(d);
  });
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: parsed };
}

/** Reads .npy bytes into a Tensor (a copy, so the data is aligned for its type). */
export function parseNpy(bytes: Uint8Array, file = '.npy data'): Tensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError(file, 'not a .npy file (it does not start with \\x93NUMPY)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw new NpyError(file, `unsupported .npy version ${major}.${bytes[7]} (expected 1.x, 2.x or 3.x)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthBytes;
  if (bytes.length < headerStart) throw new NpyError(file, 'truncated before the header length');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw new NpyError(file, `truncated header (declares ${headerLength} bytes, ${bytes.length - headerStart} present)`);
  const headerText = Buffer.from(bytes.subarray(headerStart, dataStart)).toString(major === 3 ? 'utf8' : 'latin1');
  const header = parseHeader(file, headerText);
  const dtype = DESCRS[header.descr];
  if (!dtype) throw new NpyError(file, `dtype '${header.descr}' is not supported (expected '<f4' float32, '|u1' uint8 or '<i8' int64, little-endian)`);
  if (header.fortranOrder) throw new NpyError(file, 'fortran_order is True (expected C order: save with np.ascontiguousarray)');
  let count: number;
  try {
    count = checkedElementCount(header.shape, 'shape');
  } catch (e) {
    throw new NpyError(file, (e as Error).message);
  }
  const expected = count * ITEM_BYTES[dtype];
  const present = bytes.length - dataStart;
  if (present !== expected) throw new NpyError(file, `data is ${present} bytes, shape (${header.shape.join(', ')}) of ${dtype} needs ${expected}`);
  // A copy (new Uint8Array, not slice: Buffer's slice is a view) aligned for the element type.
  const copy = new Uint8Array(bytes.subarray(dataStart, dataStart + expected));
  const data =
    dtype === 'float32' ? new Float32Array(copy.buffer, 0, count)
      : dtype === 'int64' ? new BigInt64Array(copy.buffer, 0, count)
        : new Uint8Array(copy.buffer, 0, count);
  return new Tensor(dtype, data, header.shape);
}

/** Writes a float32, uint8 or int64 tensor as version-1.0 .npy bytes. */
export function encodeNpy(t: Tensor): Uint8Array {
  const descr = t.dtype === 'float32' ? '<f4' : t.dtype === 'uint8' ? '|u1' : t.dtype === 'int64' ? '<i8' : undefined;
  if (!descr) throw new RangeError(`tensor: expected dtype float32, uint8 or int64 for .npy, received '${t.dtype}'`);
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads so the data starts on a 64-byte boundary, ending the header with '\n'.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const data = t.data as ArrayBufferView;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
