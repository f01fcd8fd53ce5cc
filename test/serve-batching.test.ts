// Dynamic batching, backpressure and graceful shutdown, made deterministic by holding the
// model's runs behind a gate the test opens; and the worker-thread pool.
import { readFileSync } from 'fs';
import { getThreads } from '../lib/cpu';
import { load } from '../lib/runtime/load';
import { Feeds, Model, Outputs, RunOptions } from '../lib/runtime/model';
import { createServer, InferenceServer } from '../lib/serve';
import { Tensor } from '../lib/tensor';
import { REAL_MODELS, relativeError, rng } from './helpers/ort-models';
import { binaryBody, bits, jsonBody, replyOutputs, request, until } from './helpers/serve-client';

const ppocr = REAL_MODELS.find((m) => m.name === 'ppocr_cls')!;
const OUT = 'softmax_0.tmp_0';

function images(seed: number, rows: number): Tensor {
  const r = rng(seed);
  return new Tensor('float32', Float32Array.from({ length: rows * 3 * 48 * 192 }, () => r() * 2 - 1), [rows, 3, 48, 192]);
}

/** Holds every run of `model` until open() is called; records the rows of each run. */
function gate(model: Model): { rows: number[]; open(): void; run: (feeds: Feeds, o?: RunOptions) => Promise<Outputs> } {
  const run = model.run.bind(model);
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  const rows: number[] = [];
  model.run = async (feeds: Feeds, o?: RunOptions) => {
    rows.push(feeds.x.dims[0]);
    await opened;
    return run(feeds, o);
  };
  return { rows, open: release, run };
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`metric ${name} not found in:\n${text}`);
  return Number(m[1]);
}

describe('dynamic batching and backpressure (ppocr_cls, dynamic batch dim)', () => {
  let model: Model;
  beforeEach(async () => {
    model = await load(readFileSync(ppocr.path));
  });
  afterEach(() => model.dispose());

  test('requests queued while a run is busy are run as one batch and split back', async () => {
    const held = gate(model);
    const server = await createServer(model, { name: 'cls', maxBatchSize: 8, maxQueueDelayMs: 0, concurrency: 1 });
    const url = `${(await server.listen(0)).url}/v2/models/cls/infer`;
    try {
      expect(server.stats().batching).toBe(true);
      const first = request(url, { body: jsonBody({ x: images(1, 1) }) });
      await until(() => server.stats().runsInFlight === 1);
      const inputs = [images(2, 1), images(3, 2), images(4, 1)];
      const rest = inputs.map((x, i) => (i === 1 ? request(url, binaryBody({ x }, { outputs: [{ name: OUT, parameters: { binary_data: true } }] })) : request(url, { body: jsonBody({ x }) })));
      await until(() => server.stats().queueDepth === 3);
      held.open();
      const replies = await Promise.all([first, ...rest]);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      // One run for the first request, then one for the three that queued behind it.
      expect(held.rows).toEqual([1, 4]);
      const text = await server.metrics();
      expect(metric(text, 'nquant_batch_requests_count')).toBe(2);
      expect(metric(text, 'nquant_batch_requests_sum')).toBe(4);
      expect(metric(text, 'nquant_batch_size_sum')).toBe(5);

      // Each reply is its rows of the batched run, bit for bit...
      const batched = (await held.run({ x: new Tensor('float32', Float32Array.from([...inputs].flatMap((t) => [...(t.data as Float32Array)])), [4, 3, 48, 192]) }))[OUT];
      let row = 0;
      replies.slice(1).forEach((reply, i) => {
        const [out] = replyOutputs(reply);
        expect(out.shape).toEqual([inputs[i].dims[0], 2]);
        expect(bits(out.values)).toEqual(bits((batched.data as Float32Array).slice(row * 2, (row + inputs[i].dims[0]) * 2)));
        row += inputs[i].dims[0];
      });
      // ...and agrees with running each request alone (to float rounding: kernels split work by batch size).
      for (let i = 0; i < inputs.length; i++) {
        const alone = (await held.run({ x: inputs[i] }))[OUT];
        const [out] = replyOutputs(replies[i + 1]);
        expect(relativeError(new Tensor('float32', out.values, out.shape), alone)).toBeLessThan(1e-5);
      }
    } finally {
      held.open();
      await server.close();
    }
  });

  test('a full queue answers 429 with a JSON error, and the queued work still completes', async () => {
    const held = gate(model);
    const server = await createServer(model, { name: 'cls', maxQueue: 1, maxBatchSize: 1, concurrency: 1 });
    const url = `${(await server.listen(0)).url}/v2/models/cls/infer`;
    try {
      const running = request(url, { body: jsonBody({ x: images(1, 1) }) });
      await until(() => server.stats().runsInFlight === 1);
      const queued = request(url, { body: jsonBody({ x: images(2, 1) }) });
      await until(() => server.stats().queueDepth === 1);
      const refused = await request(url, { body: jsonBody({ x: images(3, 1) }) });
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect((JSON.parse(refused.body.toString()) as { error: string }).error).toMatch(/request queue is full \(1 waiting\)/);
      held.open();
      expect((await running).status).toBe(200);
      expect((await queued).status).toBe(200);
      expect(metric(await server.metrics(), 'nquant_http_requests_total{route="infer",status="429"}')).toBe(1);
    } finally {
      held.open();
      await server.close();
    }
  });

  test('with concurrency 2, two runs are in flight at once, single-threaded, and close() gives the thread count back', async () => {
    const held = gate(model);
    const before = getThreads();
    const server = await createServer(model, { name: 'cls', concurrency: 2, maxBatchSize: 1 });
    expect(getThreads()).toBe(1);
    const url = `${(await server.listen(0)).url}/v2/models/cls/infer`;
    try {
      const replies = [1, 2, 3].map((seed) => request(url, { body: jsonBody({ x: images(seed, 1) }) }));
      await until(() => server.stats().runsInFlight === 2 && server.stats().queueDepth === 1);
      expect(held.rows).toEqual([1, 1]);
      held.open();
      expect((await Promise.all(replies)).map((r) => r.status)).toEqual([200, 200, 200]);
    } finally {
      held.open();
      await server.close();
    }
    expect(getThreads()).toBe(before);
  });

  test('close() stops accepting, finishes the in-flight request, then resolves', async () => {
    const held = gate(model);
    const server: InferenceServer = await createServer(model, { name: 'cls', concurrency: 1 });
    const { url } = await server.listen(0);
    const x = images(9, 1);
    const inFlight = request(`${url}/v2/models/cls/infer`, { body: jsonBody({ x }) });
    await until(() => server.stats().runsInFlight === 1);
    let closed = false;
    const closing = server.close().then(() => { closed = true; });
    await until(() => !server.http.listening);
    await expect(request(`${url}/v2/health/live`)).rejects.toThrow(/ECONNREFUSED/);
    expect(closed).toBe(false);
    held.open();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(bits(replyOutputs(reply)[0].values)).toEqual(bits((await held.run({ x }))[OUT].data as Float32Array));
    await closing;
    expect(closed).toBe(true);
  });
});

describe('worker threads', () => {
  test('two workers each holding the model serve concurrent requests with model.run results', async () => {
    const model = await load(readFileSync(ppocr.path));
    const server = await createServer(ppocr.path, { name: 'cls', workers: 2, maxBatchSize: 1 });
    const url = `${(await server.listen(0)).url}/v2/models/cls/infer`;
    try {
      const inputs = [1, 2, 3, 4].map((seed) => images(seed, seed === 4 ? 2 : 1));
      const replies = await Promise.all(inputs.map((x) => request(url, { body: jsonBody({ x }) })));
      for (let i = 0; i < inputs.length; i++) {
        expect(replies[i].status).toBe(200);
        expect(bits(replyOutputs(replies[i])[0].values)).toEqual(bits((await model.run({ x: inputs[i] }))[OUT].data as Float32Array));
      }
      const empty = await request(url, { body: jsonBody({ x: new Tensor('float32', new Float32Array(0), [1, 3, 0, 192]) }) });
      expect(empty.status).toBe(400);
      expect((JSON.parse(empty.body.toString()) as { error: string }).error).toMatch(/shape \[1, 3, 0, 192\] has a zero dim/);
      expect((await request(url, { body: jsonBody({ x: inputs[0] }) })).status).toBe(200);
    } finally {
      await server.close();
      model.dispose();
    }
  });
});
