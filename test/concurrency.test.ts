// Concurrent use of the runtime: many runs in flight on one model and on many models (FP32 and
// INT8), dispose() while runs are in flight, setThreads() changing under load, and worker
// threads running models beside the main thread. Every result must equal, bit for bit, the
// same run done alone: the kernels split work into tasks whose arithmetic does not depend on
// which thread runs them or how many threads there are (checked below as the premise).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { getThreads, setThreads } from '../lib/cpu';
import { load } from '../lib/runtime/load';
import { Feeds, Model, Outputs } from '../lib/runtime/model';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { quantizeStatic } from '../lib/quant/static';
import { Tensor } from '../lib/tensor';
import { miniResnet } from '../bench/models/zoo';
import { REAL_MODELS, rng } from './helpers/ort-models';

const ppocr = REAL_MODELS.find((m) => m.name === 'ppocr_cls')!;

/** Every output's bytes, base64, in output order: equal strings mean bit-identical results. */
function fingerprint(out: Outputs): string {
  return Object.entries(out).map(([name, t]) => `${name}:${t.dims.join('x')}:${Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')}`).join('|');
}

function images(r: () => number, batch: number, height: number, width: number): Tensor {
  return new Tensor('float32', Float32Array.from({ length: batch * 3 * height * width }, () => r() * 2 - 1), [batch, 3, height, width]);
}

interface Case {
  name: string;
  model: Model;
  inputs: Feeds[];
  /** fingerprint of each input's run done alone */
  expected: string[];
}

async function sequential(model: Model, inputs: Feeds[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of inputs) out.push(fingerprint(await model.run(f)));
  return out;
}

describe('concurrent runs', () => {
  const threadsBefore = getThreads();
  const cases: Case[] = [];
  const owned: Model[] = [];

  beforeAll(async () => {
    setThreads(2);
    const r = rng(8);
    const mini = await load(miniResnet());
    const cls = await load(fs.readFileSync(ppocr.path));
    const miniFeeds = (): Feeds => ({ input: images(r, 1, 32, 32) });
    const clsInputs = (): Feeds[] => Array.from({ length: 4 }, () => ppocr.feeds(r));
    const models: [string, Model, () => Feeds[]][] = [
      ['miniResnet FP32', mini, () => Array.from({ length: 4 }, miniFeeds)],
      ['miniResnet INT8 static', await quantizeStatic(mini, Array.from({ length: 4 }, miniFeeds), { reportBatches: 0 }), () => Array.from({ length: 4 }, miniFeeds)],
      ['miniResnet INT8 dynamic', await quantizeDynamic(mini), () => Array.from({ length: 4 }, miniFeeds)],
      ['ppocr_cls FP32', cls, clsInputs],
      ['ppocr_cls INT8 static', await quantizeStatic(cls, clsInputs(), { reportBatches: 0 }), clsInputs],
    ];
    for (const [name, model, makeInputs] of models) {
      owned.push(model);
      const inputs = makeInputs();
      cases.push({ name, model, inputs, expected: await sequential(model, inputs) });
    }
  });

  afterAll(() => {
    for (const m of owned) m.dispose();
    setThreads(threadsBefore);
  });

  test('the premise: results do not depend on the thread count', async () => {
    for (const c of cases) {
      for (const t of [1, 3]) {
        setThreads(t);
        expect(await sequential(c.model, c.inputs)).toEqual(c.expected);
      }
    }
    setThreads(2);
  });

  test('many runs in flight on one model each get the result of that input run alone', async () => {
    for (const c of cases) {
      const order = Array.from({ length: 96 }, (_, i) => (i * 7) % c.inputs.length);
      const got = await Promise.all(order.map((i) => c.model.run(c.inputs[i]).then(fingerprint)));
      got.forEach((g, k) => expect({ model: c.name, run: k, same: g === c.expected[order[k]] }).toEqual({ model: c.name, run: k, same: true }));
    }
  });

  test('runs in flight on every model at once, FP32 and INT8 interleaved', async () => {
    const jobs = cases.flatMap((c) => [0, 1, 2].flatMap(() => c.inputs.map((f, i) => ({ c, i, f }))));
    const got = await Promise.all(jobs.map(({ c, f }) => c.model.run(f).then(fingerprint)));
    jobs.forEach(({ c, i }, k) => expect({ model: c.name, input: i, same: got[k] === c.expected[i] }).toEqual({ model: c.name, input: i, same: true }));
  });

  test('more concurrent input shapes than the plan cache holds: plans evicted mid-run still finish', async () => {
    // ppocr_cls has a dynamic batch dim: 10 batch sizes compile 10 plans into an 8-plan cache,
    // so plans are disposed by eviction while runs on them are still in flight.
    const cls = cases.find((c) => c.name === 'ppocr_cls FP32')!.model;
    const r = rng(21);
    const inputs = Array.from({ length: 10 }, (_, b) => ({ x: images(r, b + 1, 48, 192) }));
    const got = await Promise.all(inputs.map((f) => cls.run(f).then(fingerprint)));
    const alone = await sequential(cls, inputs);
    got.forEach((g, k) => expect({ batch: k + 1, same: g === alone[k] }).toEqual({ batch: k + 1, same: true }));
  });

  test('setThreads changing while runs are in flight and between runs leaves every result bit-identical', async () => {
    const pending: Promise<{ c: Case; i: number; got: string }>[] = [];
    try {
      // Waves of runs, the thread count changed before each wave (new plans) and while the
      // previous waves still run (plans built for another count, and the pool resized under them).
      for (let wave = 0; wave < 12; wave++) {
        setThreads(1 + (wave * 5) % 4);
        for (const c of cases) c.inputs.forEach((f, i) => pending.push(c.model.run(f).then((o) => ({ c, i, got: fingerprint(o) }))));
        await new Promise((res) => setTimeout(res, 2));
      }
      for (const { c, i, got } of await Promise.all(pending)) expect({ model: c.name, input: i, same: got === c.expected[i] }).toEqual({ model: c.name, input: i, same: true });
    } finally {
      setThreads(2);
    }
  });
});

describe('dispose() while runs are in flight', () => {
  test('in-flight runs finish with correct results or reject with an Error; later runs reject clearly', async () => {
    const r = rng(5);
    const inputs = Array.from({ length: 4 }, () => ppocr.feeds(r));
    const reference = await load(fs.readFileSync(ppocr.path));
    const expected = await sequential(reference, inputs);
    reference.dispose();
    for (const q of [false, true]) {
      let model = await load(fs.readFileSync(ppocr.path));
      if (q) {
        const qm = await quantizeStatic(model, inputs, { reportBatches: 0 });
        model.dispose();
        model = qm;
      }
      const wanted = q ? await sequential(model, inputs) : expected;
      const inFlight = Array.from({ length: 16 }, (_, k) => model.run(inputs[k % 4]).then(
        (o) => ({ k, result: fingerprint(o) === wanted[k % 4] ? 'correct' : 'WRONG' }),
        (e: unknown) => ({ k, result: e instanceof Error && /disposed/.test(e.message) ? 'rejected' : `bad rejection ${String(e)}` }),
      ));
      model.dispose();
      for (const { k, result } of await Promise.all(inFlight)) expect({ k, result: result === 'rejected' ? 'correct' : result }).toEqual({ k, result: 'correct' });
      await expect(model.run(inputs[0])).rejects.toThrow('model: already disposed');
      model.dispose();  // twice is harmless
    }
  });
});

describe('worker threads', () => {
  // The workers use the compiled library (dist/, as the server's worker pool does), which
  // loads the same native addon this process has loaded.
  const dist = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
  const workerScript = `
    const { parentPort, workerData } = require('worker_threads');
    const nq = require(${JSON.stringify(dist)});
    const fingerprint = ${fingerprint.toString()};
    (async () => {
      const model = await nq.load(workerData.onnx);
      const feeds = workerData.inputs.map((x) => ({ x: new nq.Tensor('float32', x, [1, 3, 48, 192]) }));
      const out = [];
      for (let round = 0; round < workerData.rounds; round++) {
        if (workerData.flipThreads) nq.setThreads(1 + (round % 3));
        out.push(...await Promise.all(feeds.map((f) => model.run(f).then(fingerprint))));
      }
      parentPort.postMessage(out);
      if (workerData.forever) for (;;) await Promise.all(feeds.map((f) => model.run(f)));
      model.dispose();
    })();`;

  test('workers each load the addon and run a model while the main thread runs it too', async () => {
    expect(fs.existsSync(dist)).toBe(true);
    const r = rng(13);
    const inputs = Array.from({ length: 3 }, () => ppocr.feeds(r));
    const main = await load(fs.readFileSync(ppocr.path));
    const expected = await sequential(main, inputs);
    const onnx = fs.readFileSync(ppocr.path);
    const threadsBefore = getThreads();
    try {
      const workers = [true, false, false].map((flipThreads) => new Promise<string[]>((resolve, reject) => {
        const w = new Worker(workerScript, { eval: true, workerData: { onnx, inputs: inputs.map((f) => f.x.data), rounds: 3, flipThreads } });
        w.once('message', resolve);
        w.once('error', reject);
      }));
      const mainRuns = Promise.all(Array.from({ length: 9 }, (_, k) => main.run(inputs[k % 3]).then(fingerprint)));
      for (const got of [...await Promise.all(workers), await mainRuns]) got.forEach((g, k) => expect({ k, same: g === expected[k % 3] }).toEqual({ k, same: true }));
    } finally {
      setThreads(threadsBefore);
      main.dispose();
    }
  });

  test('terminating workers in the middle of model runs does not bring the process down', () => {
    // A terminated worker's environment can no longer run JS when its in-flight runs
    // complete; settling their promises then failed inside node-addon-api's completion
    // callback and aborted the process ("terminate called after throwing Napi::Error").
    // The same abort came from any native call the termination interrupted: its error could
    // not be thrown into the dying environment (fixed by NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
    // In a child process, so that an abort fails this test instead of the test runner.
    const script = `
      const { Worker } = require('worker_threads');
      const fs = require('fs');
      const onnx = fs.readFileSync(${JSON.stringify(path.resolve(ppocr.path))});
      const inputs = [1, 2, 3].map((s) => Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.sin(i * s)));
      (async () => {
        // The abort needs the termination to land inside a native call: one try in 60 hit it
        // here, so each run makes several, at spread offsets.
        for (let rep = 0; rep < 6; rep++) {
          await Promise.all([0, 1, 2].map(async (k) => {
            const w = new Worker(${JSON.stringify(workerScript)}, { eval: true, workerData: { onnx, inputs, rounds: 1, forever: true } });
            w.on('error', (e) => { console.error(e); process.exitCode = 1; });
            await new Promise((res) => w.once('message', res));
            await new Promise((res) => setTimeout(res, k * 11 + rep * 2));  // land in different parts of a run
            await w.terminate();
          }));
        }
        process.stdout.write('done');
      })();`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nq-')), 'terminate.js');
    fs.writeFileSync(file, script);
    const out = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: out.status, signal: out.signal, stderr: out.stderr, stdout: out.stdout }).toEqual({ status: 0, signal: null, stderr: '', stdout: 'done' });
  });
});
