// The server under abuse while valid traffic flows: slow and oversized requests, malformed
// and hostile bodies, clients that vanish. Each abusive request must end in a 4xx (or a
// closed socket where HTTP cannot answer) within a hang-guard budget, the valid requests
// sent meanwhile must all succeed with the model's exact output, and memory must stay bounded.
import * as http from 'http';
import * as net from 'net';
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { createServer, InferenceServer } from '../lib/serve';
import { jsonDepth } from '../lib/serve/json-guard';
import { resolveServeOptions } from '../lib/serve/options';
import { REAL_MODELS, rng } from './helpers/ort-models';
import { binaryBody, bits, jsonBody, replyOutputs, request, until } from './helpers/serve-client';
import { buildModel } from '../lib/onnx/builder';
import { Tensor } from '../lib/tensor';

const deepa = REAL_MODELS.find((m) => m.name === 'hello_deepa')!;
const INFER = '/v2/models/hello_deepa/infer';
const INPUT = 'onnx::Flatten_0';

const LIMITS = { maxBodyBytes: 8 * 1024 * 1024, maxHeaderBytes: 8 * 1024, headersTimeoutMs: 500, requestTimeoutMs: 1000 };
// A case that has not ended by then is hung: many times the longest timeout above, for
// Node's connection-check interval and a loaded machine's slack.
const HANG_GUARD_MS = 15_000;
// RSS and heap growth allowed across the whole abuse run (see the report in the test).
const MAX_RSS_GROWTH = 160 * 1024 * 1024;
const MAX_HEAP_GROWTH = 64 * 1024 * 1024;

/** What a raw connection ended with: the status line's code, or 'closed' when no HTTP reply came. */
type Outcome = number | 'closed';

interface RawClient {
  socket: net.Socket;
  /** Resolves when the server ends or resets the connection. */
  outcome: Promise<Outcome>;
}

function raw(port: number, first: string | Buffer = ''): RawClient {
  const socket = net.connect(port, '127.0.0.1');
  if (first.length > 0) socket.write(first);
  const chunks: Buffer[] = [];
  const outcome = new Promise<Outcome>((resolve) => {
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => { /* a reset is an answer too: see close */ });
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      resolve(m ? Number(m[1]) : 'closed');
    });
  });
  return { socket, outcome };
}

/** Writes `data` a few bytes at a time, every `everyMs`, until the socket closes. */
function drip(socket: net.Socket, data: Buffer, bytes: number, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= data.length) { clearInterval(timer); return; }
    socket.write(data.subarray(at, at + bytes));
    at += bytes;
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}

async function withinGuard<T>(what: string, p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: still unresolved after ${HANG_GUARD_MS} ms`)), HANG_GUARD_MS); });
  try {
    const value = await Promise.race([p, guard]);
    return { value, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

const errorOf = (reply: { body: Buffer }): string => (JSON.parse(reply.body.toString()) as { error: string }).error;

describe.each([0, 2])('abuse while valid traffic flows (hello_deepa, workers: %i)', (workers) => {
  let server: InferenceServer;
  let port: number;
  let base: string;
  const feeds = deepa.feeds(rng(3));
  const goodBody = jsonBody(feeds);
  let want: Uint32Array;

  // Valid traffic: a few keep-alive clients in a loop, each reply checked bit for bit.
  const load$ = { ok: 0, failures: [] as string[], running: false, loops: [] as Promise<void>[] };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  function post(body: string): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${base}${INFER}`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  async function validLoop(): Promise<void> {
    while (load$.running) {
      try {
        const reply = await post(goodBody);
        const json = (): { [key: string]: unknown } => JSON.parse(reply.body.toString()) as { [key: string]: unknown };
        if (reply.status !== 200) load$.failures.push(`status ${reply.status}: ${reply.body.toString()}`);
        else if (!bits(replyOutputs({ ...reply, json }).at(0)!.values).every((v, i) => v === want[i])) load$.failures.push('wrong output');
        else load$.ok++;
      } catch (e) {
        load$.failures.push(`request failed: ${String(e)}`);
      }
    }
  }

  beforeAll(async () => {
    const model = await load(readFileSync(deepa.path));
    want = bits((await model.run(feeds))[model.outputs[0].name].data as Float32Array).slice();
    model.dispose();
    server = await createServer(deepa.path, { workers, ...LIMITS });
    ({ port, url: base } = await server.listen(0));
    load$.running = true;
    load$.loops = Array.from({ length: 4 }, validLoop);
    await new Promise((r) => setTimeout(r, 200));  // warm: plans compiled, buffers pooled
  });

  afterAll(async () => {
    load$.running = false;
    await Promise.all(load$.loops);
    agent.destroy();
    await server.close();
  });

  const json = (body: string | Buffer, headers: { [name: string]: string | number } = {}): Promise<Outcome> =>
    request(`${base}${INFER}`, { body, headers }).then((r) => r.status);
  const goodInput = (JSON.parse(goodBody) as { inputs: { [key: string]: unknown }[] }).inputs[0];
  const deep = (levels: number, inner = '0'): string => '['.repeat(levels) + inner + ']'.repeat(levels);

  // [name, the abuse, the outcomes that count as handled]
  const cases: [string, () => Promise<Outcome | Outcome[]>, Outcome[]][] = [
    ['20 slowloris connections dripping headers that never end', async () => {
      const clients = Array.from({ length: 20 }, () => raw(port));
      for (const c of clients) drip(c.socket, Buffer.from(`POST ${INFER} HTTP/1.1\r\nHost: x\r\n${'X-Slow: y\r\n'.repeat(200)}`), 4, 50);
      return Promise.all(clients.map((c) => c.outcome));
    }, [408, 'closed']],
    ['slow bodies: headers complete, body dripped slower than the request timeout allows', async () => {
      const clients = Array.from({ length: 10 }, () => raw(port, `POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${goodBody.length}\r\n\r\n`));
      for (const c of clients) drip(c.socket, Buffer.from(goodBody), 16, 50);
      return Promise.all(clients.map((c) => c.outcome));
    }, [408, 'closed']],
    ['headers over maxHeaderBytes', () => raw(port, `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(LIMITS.maxHeaderBytes + 1024)}\r\n\r\n`).outcome, [431]],
    ['many headers adding up past maxHeaderBytes', () => raw(port, `GET /v2/health/live HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 600 }, (_, i) => `X-H${i}: ${'b'.repeat(16)}\r\n`).join('')}\r\n`).outcome, [431]],
    ['a Content-Length past maxBodyBytes (no body sent)', () => raw(port, `POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 ** 3}\r\n\r\n`).outcome, [413]],
    ['a chunked body growing past maxBodyBytes', () => {
      const c = raw(port, `POST ${INFER} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 136 && !c.socket.destroyed; i++) c.socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
      return c.outcome;
    }, [413, 'closed']],
    ['invalid UTF-8 inside a JSON string', () => json(Buffer.concat([Buffer.from('{"id": "'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`", "inputs": [${JSON.stringify(goodInput)}]}`)])), [400]],
    ['100k levels of [[[ as the body', () => json(deep(100_000)), [400]],
    // V8 parses nesting at ~12 µs a level: unchecked, this 6 MB body would block the event loop (and every valid request) for over 30 s.
    ['3M levels of [[[ (6 MB)', () => json(deep(3_000_000)), [400]],
    ['100k levels of nesting where the request is echoed into an error message', () => json(`{"inputs": {"a": ${deep(100_000)}}}`), [400]],
    ['deep nesting in a shape', () => json(JSON.stringify({ inputs: [{ ...goodInput, shape: 0 }] }).replace('"shape":0', `"shape":${deep(5000)}`)), [400]],
    ['deep nesting in the data', () => json(JSON.stringify({ inputs: [{ ...goodInput, data: 0 }] }).replace('"data":0', `"data":${deep(5000)}`)), [400]],
    ['8 concurrent 1 MB bodies of 150k numbers that do not fit the shape', () => {
      const big = JSON.stringify({ inputs: [{ ...goodInput, data: Array.from({ length: 150_000 }, (_, i) => (i % 97) / 8) }] });
      return Promise.all(Array.from({ length: 8 }, () => json(big)));
    }, [400]],
    ['wrong datatype', () => json(JSON.stringify({ inputs: [{ ...goodInput, datatype: 'INT8' }] })), [400]],
    ['a shape whose element count overflows', () => json(JSON.stringify({ inputs: [{ ...goodInput, shape: [2 ** 31, 2 ** 31, 2 ** 31] }] })), [400]],
    ['data shorter than the shape', () => json(JSON.stringify({ inputs: [{ ...goodInput, data: [1, 2, 3] }] })), [400]],
    ['strings, objects and nulls as tensor data', () => json(JSON.stringify({ inputs: [{ ...goodInput, data: (goodInput.data as number[]).map((v, i) => (i % 3 === 0 ? 'x' : i % 3 === 1 ? { v } : null)) }] })), [400]],
    ['binary: Inference-Header-Content-Length past the body', () => {
      const b = binaryBody(feeds);
      return json(b.body, { ...b.headers, 'Inference-Header-Content-Length': b.body.length + 1 });
    }, [400]],
    ['binary: Inference-Header-Content-Length of 2^64', () => {
      const b = binaryBody(feeds);
      return json(b.body, { ...b.headers, 'Inference-Header-Content-Length': '18446744073709551616' });
    }, [400]],
    ['binary: binary_data_size past the end of the body', () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: INPUT, shape: [1, 25, 96], datatype: 'FP32', parameters: { binary_data_size: 9600 } }] }));
      return json(Buffer.concat([header, Buffer.alloc(100)]), { 'Inference-Header-Content-Length': header.length });
    }, [400]],
    ['binary: a header length that cuts the JSON in half', () => {
      const b = binaryBody(feeds);
      return json(b.body, { ...b.headers, 'Inference-Header-Content-Length': 20 });
    }, [400]],
    ['50 clients that disconnect halfway through sending the body', async () => {
      const clients = Array.from({ length: 50 }, () => raw(port, `POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${goodBody.length}\r\n\r\n${goodBody.slice(0, goodBody.length / 2)}`));
      await new Promise((r) => setTimeout(r, 20));
      for (const c of clients) c.socket.destroy();
      return Promise.all(clients.map((c) => c.outcome));
    }, ['closed']],
    ['50 clients that send a whole request and disconnect before the reply', async () => {
      const clients = Array.from({ length: 50 }, () => raw(port, `POST ${INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${goodBody.length}\r\n\r\n${goodBody}`));
      for (const c of clients) c.socket.once('data', () => c.socket.destroy());
      setTimeout(() => clients.forEach((c) => c.socket.destroy()), 5);
      return Promise.all(clients.map((c) => c.outcome));
    }, [200, 'closed']],
  ];

  const report: string[] = [];
  let baseline: NodeJS.MemoryUsage;

  test('memory baseline, with valid traffic flowing', async () => {
    await new Promise((r) => setTimeout(r, 300));
    baseline = process.memoryUsage();
    expect(load$.ok).toBeGreaterThan(0);
  });

  test.each(cases)('%s', async (name, abuse, handled) => {
    const okBefore = load$.ok;
    const { value, ms } = await withinGuard(name, abuse());
    const outcomes = Array.isArray(value) ? value : [value];
    for (const o of outcomes) expect(handled).toContain(o);
    report.push(`${name}: ${[...new Set(outcomes)].join('/')} in ${ms.toFixed(0)} ms`);
    expect(load$.failures).toEqual([]);
    // Valid requests were answered while this case ran, or right after it.
    while (load$.ok === okBefore) await new Promise((r) => setTimeout(r, 5));
  });

  test('400s name the problem', async () => {
    expect(errorOf(await request(`${base}${INFER}`, { body: deep(100_000) }))).toMatch(/nests arrays\/objects deeper than 64 levels \(maxJsonDepth\)/);
    expect(errorOf(await request(`${base}${INFER}`, { body: Buffer.from([0x7b, 0xff, 0x7d]) }))).toMatch(/not valid UTF-8/);
  });

  test('afterwards: nothing left in flight, valid requests still succeed, memory growth bounded', async () => {
    const okBefore = load$.ok;
    await new Promise((r) => setTimeout(r, 300));
    expect(load$.ok).toBeGreaterThan(okBefore);
    expect(load$.failures).toEqual([]);
    const now = process.memoryUsage();
    const growth = { rss: now.rss - baseline.rss, heapUsed: now.heapUsed - baseline.heapUsed };
    report.push(`valid requests answered: ${load$.ok}, failed: ${load$.failures.length}`);
    report.push(`memory growth: rss ${(growth.rss / 2 ** 20).toFixed(1)} MiB, heap ${(growth.heapUsed / 2 ** 20).toFixed(1)} MiB (baseline rss ${(baseline.rss / 2 ** 20).toFixed(0)} MiB)`);
    if (process.env.NQUANT_ABUSE_REPORT) process.stdout.write(`${report.join('\n')}\n`);
    expect(growth.rss).toBeLessThan(MAX_RSS_GROWTH);
    expect(growth.heapUsed).toBeLessThan(MAX_HEAP_GROWTH);
    // Only the load generator's requests may still be active.
    expect(server.stats().activeRequests).toBeLessThanOrEqual(4);
  });
});

describe('clients that disconnect mid-response', () => {
  test('a 4 MB JSON reply abandoned after its first bytes, 8 times: each request ends and the server serves on', async () => {
    // y = relu(x) for 256k floats: each reply is ~4 MB of JSON, far more than one socket write.
    const onnx = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 1 << 18] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1, 1 << 18] }],
      nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }],
    });
    const server = await createServer(onnx, { workers: 0, name: 'relu' });
    const { port, url } = await server.listen(0);
    try {
      const x = new Float32Array(1 << 18).map((_, i) => Math.sin(i) / 3);
      const bin = binaryBody({ x: new Tensor('float32', x, [1, 1 << 18]) });
      const head = `POST /v2/models/relu/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: ${bin.headers['Inference-Header-Content-Length']}\r\nContent-Length: ${bin.body.length}\r\n\r\n`;
      for (let round = 0; round < 8; round++) {
        const c = raw(port, Buffer.concat([Buffer.from(head), bin.body]));
        // The first bytes of the reply, then gone.
        c.socket.once('data', () => c.socket.destroy());
        expect(await withinGuard('an abandoned reply', c.outcome).then((r) => r.value)).toBe(200);
      }
      await withinGuard('every abandoned request ending', until(() => server.stats().activeRequests === 0));
      const ok = await request(`${url}/v2/models/relu/infer`, { body: bin.body, headers: bin.headers });
      expect(ok.status).toBe(200);
      expect(replyOutputs(ok)[0].values.length).toBe(1 << 18);
    } finally {
      await server.close();
    }
  });
});

describe('maxConnections', () => {
  test('connections past the limit are closed on arrival; the server serves again once they go', async () => {
    const server = await createServer(deepa.path, { workers: 0, maxConnections: 2 });
    const { port, url } = await server.listen(0);
    try {
      const held = [raw(port), raw(port)];
      await Promise.all(held.map((c) => new Promise((r) => c.socket.once('connect', r))));
      await new Promise((r) => setTimeout(r, 50));  // the server has accepted both
      const extra = raw(port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await withinGuard('a connection past the limit', extra.outcome).then((r) => r.value)).toBe('closed');
      for (const c of held) c.socket.destroy();
      await Promise.all(held.map((c) => c.outcome));
      expect((await request(`${url}/v2/health/live`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('the limits themselves', () => {
  test('jsonDepth counts brackets outside strings only, escapes included', () => {
    const depth = (text: string): number => jsonDepth(Buffer.from(text), 100);
    expect(depth('0')).toBe(0);
    expect(depth('{"a": [1, [2], {"b": []}]}')).toBe(4);
    expect(depth('{"a": "[[[{{{"}')).toBe(1);
    expect(depth('{"a": "\\"[[[", "b": [[]]}')).toBe(3);
    expect(depth('["\\\\", [[]]]')).toBe(3);
    // Stops counting once past the limit: a 3M-deep body costs no more than a 101-deep one.
    expect(jsonDepth(Buffer.from('['.repeat(3_000_000)), 100)).toBe(101);
  });

  test('defaults, and bad values refused with the option named', () => {
    expect(resolveServeOptions({})).toMatchObject({ maxHeaderBytes: 16 * 1024, maxJsonDepth: 64, maxConnections: 1024 });
    expect(() => resolveServeOptions({ maxHeaderBytes: 10 })).toThrow(/options.maxHeaderBytes: expected an integer in \[1024, 16777216\], received 10/);
    expect(() => resolveServeOptions({ maxJsonDepth: 1 })).toThrow(/options.maxJsonDepth: expected an integer in \[2, 10000\], received 1/);
    expect(() => resolveServeOptions({ maxConnections: 0 })).toThrow(/options.maxConnections: expected an integer in/);
  });
});
