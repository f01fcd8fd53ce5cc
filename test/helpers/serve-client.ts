// A small HTTP client for the server tests: raw status, headers and body, no retries, and
// the KServe binary-tensor framing.
import * as http from 'http';
import * as net from 'net';
import { Tensor } from '../../lib/tensor';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): { [key: string]: unknown };
}

export function request(url: string, opts: { method?: string; body?: Buffer | string; headers?: { [name: string]: string | number } } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    const req = http.request(url, {
      method: opts.method ?? (body ? 'POST' : 'GET'),
      headers: { ...(body ? { 'Content-Length': body.length, 'Content-Type': 'application/json' } : {}), ...opts.headers },
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: () => JSON.parse(data.toString('utf8', 0, Number(res.headers['inference-header-content-length'] ?? data.length))) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const KSERVE: { [dtype: string]: string } = { float32: 'FP32', int64: 'INT64', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL', float16: 'FP16' };

/** A JSON infer body for these feeds. */
export function jsonBody(feeds: { [name: string]: Tensor }, extra: { [key: string]: unknown } = {}): string {
  return JSON.stringify({
    ...extra,
    inputs: Object.entries(feeds).map(([name, t]) => ({
      name, shape: [...t.dims], datatype: KSERVE[t.dtype],
      data: Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
    })),
  });
}

/** A binary-extension infer body: JSON header, then each input's raw bytes. */
export function binaryBody(feeds: { [name: string]: Tensor }, extra: { [key: string]: unknown } = {}): { body: Buffer; headers: { [name: string]: string | number } } {
  const header = Buffer.from(JSON.stringify({
    ...extra,
    inputs: Object.entries(feeds).map(([name, t]) => ({ name, shape: [...t.dims], datatype: KSERVE[t.dtype], parameters: { binary_data_size: t.data.byteLength } })),
  }));
  const body = Buffer.concat([header, ...Object.values(feeds).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
  return { body, headers: { 'Inference-Header-Content-Length': header.length, 'Content-Type': 'application/octet-stream' } };
}

export interface ReplyTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** JSON data as a Float32Array (for FP32 outputs), or the binary bytes viewed as one. */
  values: Float32Array;
}

/** The outputs of an infer reply, JSON or binary, as Float32Arrays (the tests' models output FP32). */
export function replyOutputs(reply: Reply): ReplyTensor[] {
  const header = reply.json() as { outputs: { name: string; datatype: string; shape: number[]; data?: number[]; parameters?: { binary_data_size?: number } }[] };
  let cursor = Number(reply.headers['inference-header-content-length'] ?? reply.body.length);
  return header.outputs.map((o) => {
    let values: Float32Array;
    if (o.parameters?.binary_data_size !== undefined) {
      const bytes = Uint8Array.prototype.slice.call(reply.body, cursor, cursor + o.parameters.binary_data_size);
      cursor += o.parameters.binary_data_size;
      values = new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
    } else {
      values = Float32Array.from(o.data ?? []);
    }
    return { name: o.name, datatype: o.datatype, shape: o.shape, values };
  });
}

/** Bytes of a float array, for bit-exact comparison. */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Writes raw bytes on a fresh connection and returns whatever comes back before it closes. */
export function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

/** Resolves once `condition` holds, checking on each turn of the event loop. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 2));
}
