// Each kind of bad request gets the right 4xx with a message naming the problem, and the
// server keeps serving afterwards; bad options are refused with clear errors.
import * as http from 'http';
import * as os from 'os';
import { defaultParallelRuns, libuvPoolSize, resolveServeOptions } from '../lib/serve/options';
import { createServer, InferenceServer } from '../lib/serve';
import { REAL_MODELS, rng } from './helpers/ort-models';
import { binaryBody, jsonBody, rawExchange, request } from './helpers/serve-client';

const deepa = REAL_MODELS.find((m) => m.name === 'hello_deepa')!;
const INPUT = 'onnx::Flatten_0';

describe('bad requests', () => {
  let server: InferenceServer;
  let base: string;
  let port: number;
  const good = deepa.feeds(rng(1));
  const goodJson = JSON.parse(jsonBody(good)) as { inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] };
  const withInput = (patch: { [key: string]: unknown }): string => JSON.stringify({ inputs: [{ ...goodJson.inputs[0], ...patch }] });

  beforeAll(async () => {
    server = await createServer(deepa.path, { maxBodyBytes: 128 * 1024, workers: 0 });
    ({ url: base, port } = await server.listen(0));
  });
  afterAll(() => server.close());

  const infer = `/v2/models/hello_deepa/infer`;
  const cases: [string, () => Promise<{ status: number; body: Buffer }>, number, RegExp][] = [
    ['malformed JSON', () => request(base + infer, { body: '{"inputs": [' }), 400, /malformed JSON/],
    ['a body that is not an object', () => request(base + infer, { body: '[1, 2]' }), 400, /JSON object with an "inputs" array/],
    ['no inputs', () => request(base + infer, { body: '{"inputs": []}' }), 400, /'inputs' must be a non-empty array/],
    ['unknown model', () => request(`${base}/v2/models/nope/infer`, { body: jsonBody(good) }), 400, /unknown model "nope"/],
    ['unknown model metadata', () => request(`${base}/v2/models/nope`), 400, /unknown model "nope"/],
    ['wrong input name', () => request(base + infer, { body: withInput({ name: 'x' }) }), 400, /input 'x': the model has no such input \(inputs: onnx::Flatten_0\)/],
    ['an input without datatype', () => request(base + infer, { body: JSON.stringify({ inputs: [{ name: INPUT, shape: [1, 25, 96] }] }) }), 400, /'datatype' must be a string such as "FP32"/],
    ['input given twice', () => request(base + infer, { body: JSON.stringify({ inputs: [goodJson.inputs[0], goodJson.inputs[0]] }) }), 400, /given more than once/],
    ['shape not matching the model', () => request(base + infer, { body: withInput({ shape: [1, 24, 100] }) }), 400, /shape \[1, 24, 100\] does not match the model's \[1, 25, 96\]/],
    ['wrong rank', () => request(base + infer, { body: withInput({ shape: [2400] }) }), 400, /does not match the model's/],
    ['data length not matching the shape', () => request(base + infer, { body: withInput({ data: goodJson.inputs[0].data.slice(1) }) }), 400, /needs 2400 values, 'data' has 2399/],
    ['wrong datatype', () => request(base + infer, { body: withInput({ datatype: 'INT64' }) }), 400, /datatype INT64 does not match the model's FP32/],
    ['unsupported datatype', () => request(base + infer, { body: withInput({ datatype: 'BYTES' }) }), 400, /unsupported datatype "BYTES"/],
    ['non-numeric data', () => request(base + infer, { body: withInput({ data: ['a', ...goodJson.inputs[0].data.slice(1)] }) }), 400, /FP32 data must be numbers, got "a" at index 0/],
    ['negative shape', () => request(base + infer, { body: withInput({ shape: [1, -25, 96] }) }), 400, /'shape' must be an array of non-negative integers/],
    ['an empty tensor', () => request(base + infer, { body: withInput({ shape: [1, 0, 96], data: [] }) }), 400, /shape \[1, 0, 96\] has a zero dim/],
    ['missing data', () => request(base + infer, { body: withInput({ data: undefined }) }), 400, /'data' is missing/],
    ['unknown output', () => request(base + infer, { body: JSON.stringify({ ...goodJson, outputs: [{ name: 'nope' }] }) }), 400, /output 'nope': the model has no such output/],
    ['binary size not matching the shape', () => {
      const b = binaryBody(good);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: INPUT, shape: [1, 25, 96], datatype: 'FP32', parameters: { binary_data_size: 9596 } }] }));
      return request(base + infer, { body: Buffer.concat([header, b.body.subarray(b.body.length - 9596)]), headers: { 'Inference-Header-Content-Length': header.length } });
    }, 400, /needs 9600 bytes, binary_data_size says 9596/],
    ['binary body shorter than declared', () => {
      const b = binaryBody(good);
      return request(base + infer, { body: b.body.subarray(0, b.body.length - 4), headers: b.headers });
    }, 400, /ends 4 bytes before its binary data does/],
    ['extra bytes after the binary data', () => {
      const b = binaryBody(good);
      return request(base + infer, { body: Buffer.concat([b.body, Buffer.alloc(8)]), headers: b.headers });
    }, 400, /8 bytes after the JSON header/],
    ['a bad Inference-Header-Content-Length', () => request(base + infer, { body: jsonBody(good), headers: { 'Inference-Header-Content-Length': 'ten' } }), 400, /Inference-Header-Content-Length: expected an integer/],
    ['binary_data_size without the header', () => request(base + infer, { body: withInput({ data: undefined, parameters: { binary_data_size: 9600 } }) }), 400, /without the Inference-Header-Content-Length header/],
    ['a body over maxBodyBytes', () => request(base + infer, { body: Buffer.alloc(160 * 1024, 32) }), 413, /larger than the 131072-byte limit/],
    ['an unknown path', () => request(`${base}/v2/nothing`), 404, /no such endpoint: GET \/v2\/nothing/],
    ['GET on infer', () => request(base + infer), 405, /accepts POST, not GET/],
    ['POST on metadata', () => request(`${base}/v2/models/hello_deepa`, { body: '{}' }), 405, /accepts GET, not POST/],
  ];

  test.each(cases)('%s', async (_, send, status, message) => {
    const reply = await send();
    expect(reply.status).toBe(status);
    const parsed = JSON.parse(reply.body.toString()) as { error: string };
    expect(parsed.error).toMatch(message);
    // Still serving.
    const ok = await request(base + infer, { body: jsonBody(good) });
    expect(ok.status).toBe(200);
  });

  test('a body over the limit sent chunked, without Content-Length', async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}${infer}`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(Buffer.alloc(8 * 1024, 32));
      req.end();
    });
    expect(reply.status).toBe(413);
    expect((await request(base + infer, { body: jsonBody(good) })).status).toBe(200);
  });

  test('a malformed HTTP request gets a 400 and the connection is dropped', async () => {
    const text = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1.1 400 Bad Request/);
    expect(text).toMatch(/bad HTTP request/);
    expect((await request(base + infer, { body: jsonBody(good) })).status).toBe(200);
  });

  test('errors are counted by status in /metrics', async () => {
    const text = (await request(`${base}/metrics`)).body.toString();
    expect(text).toMatch(/nquant_http_requests_total\{route="infer",status="400"\} \d+/);
    expect(text).toMatch(/nquant_http_requests_total\{route="infer",status="413"\} \d+/);
    expect(text).toMatch(/nquant_http_requests_total\{route="unknown",status="404"\} 1/);
  });
});

describe('a model with several inputs (silero_vad: FP32 audio, INT64 sample rate, FP32 state)', () => {
  const silero = REAL_MODELS.find((m) => m.name === 'silero_vad')!;
  let server: InferenceServer;
  let base: string;
  beforeAll(async () => {
    server = await createServer(silero.path);
    base = `${(await server.listen(0)).url}/v2/models/silero_vad_op18_ifless`;
  });
  afterAll(() => server.close());

  test('a missing input is named, and a complete request still runs', async () => {
    const feeds = silero.feeds(rng(4));
    const { state: _state, ...partial } = feeds;
    const reply = await request(`${base}/infer`, { body: jsonBody(partial) });
    expect(reply.status).toBe(400);
    expect((JSON.parse(reply.body.toString()) as { error: string }).error).toMatch(/missing input 'state' \(the model needs input, sr, state\)/);
    const meta = (await request(base)).json() as { inputs: { name: string; datatype: string; shape: number[] }[] };
    expect(meta.inputs.find((i) => i.name === 'sr')).toEqual({ name: 'sr', datatype: 'INT64', shape: [] });
    expect((await request(`${base}/infer`, { body: jsonBody(feeds) })).status).toBe(200);
  });
});

describe('timeouts', () => {
  test('a client that stops sending mid-request gets 408 and the connection is closed', async () => {
    const server = await createServer(deepa.path, { headersTimeoutMs: 200, requestTimeoutMs: 300, workers: 0 });
    const { port, url } = await server.listen(0);
    try {
      // Headers promise a body that never comes: the request timeout ends it.
      const slowBody = await rawExchange(port, 'POST /v2/models/hello_deepa/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inp');
      expect(slowBody).toMatch(/^HTTP\/1.1 408/);
      // Headers that never finish: the headers timeout ends it.
      const slowHeaders = await rawExchange(port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n');
      expect(slowHeaders).toMatch(/^HTTP\/1.1 408/);
      expect((await request(`${url}/v2/health/live`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('options', () => {
  test.each([
    [{ maxBatchSize: 0 }, /options.maxBatchSize: expected an integer in \[1, 65536\], received 0/],
    [{ maxQueueDelayMs: 1.5 }, /options.maxQueueDelayMs: expected an integer, received 1.5/],
    [{ maxQueue: -1 }, /options.maxQueue: expected an integer in/],
    [{ workers: 'two' }, /options.workers: expected an integer, received "two"/],
    [{ name: '../x' }, /options.name: expected a name of letters/],
    [{ maxBatchsize: 4 }, /unknown option 'maxBatchsize'/],
    [{ headersTimeoutMs: 5000, requestTimeoutMs: 1000 }, /options.headersTimeoutMs: expected at most options.requestTimeoutMs \(1000\), received 5000/],
  ])('%j is refused', async (opts, message) => {
    await expect(createServer(deepa.path, opts as never)).rejects.toThrow(message);
  });

  test('defaults: one single-threaded worker per core (up to libuv\'s pool), or one model run from this thread', () => {
    const parallel = defaultParallelRuns();
    expect(parallel).toBe(Math.min(os.availableParallelism(), libuvPoolSize()));
    const d = resolveServeOptions({});
    expect(d).toMatchObject({ workers: parallel > 1 ? parallel : 0, maxBatchSize: 8, maxQueueDelayMs: 0, maxQueue: 128, maxBodyBytes: 64 * 1024 * 1024 });
    expect(d.threads).toBe(parallel > 1 ? 1 : undefined);
    expect(resolveServeOptions({ concurrency: 3 })).toMatchObject({ workers: 0, concurrency: 3, threads: 1 });
    expect(resolveServeOptions({ workers: 1 }).threads).toBeUndefined();
    expect(resolveServeOptions({ workers: 0, concurrency: 1 }).threads).toBeUndefined();
    expect(resolveServeOptions({ workers: 2, threads: 2 }).threads).toBe(2);
  });

  test('a model that is neither a Model, a path nor bytes is refused', async () => {
    await expect(createServer(42 as never)).rejects.toThrow(/modelOrPath: expected a Model, an ONNX file path or a Uint8Array of ONNX bytes, received 42/);
  });
});
