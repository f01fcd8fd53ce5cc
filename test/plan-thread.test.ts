// Model.run executes on one native thread per JS environment (native/napi/plan_runner.cc),
// with a second run in flight going to a libuv worker, and settles through a thread-safe
// function that may wake the JS thread shortly before the run ends. These tests pin what that
// must not change: results, rejections, and the process's lifetime around runs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getThreads, load, setThreads, Tensor } from '../lib';
import { buildModel } from '../lib/onnx/builder';
import { miniResnet } from '../bench/models/zoo';

function gatherModel(): Uint8Array {
  const table = new Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => i / 2), [4, 3]);
  return buildModel({
    inputs: [{ name: 'idx', dtype: 'int64', dims: [2] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [2, 3] }],
    initializers: { table },
    nodes: [{ opType: 'Gather', inputs: ['table', 'idx'], outputs: ['y'], attributes: { axis: 0 } }],
    opset: 13,
  });
}

const image = (seed: number): Tensor =>
  new Tensor('float32', Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37 + seed)), [1, 3, 32, 32]);

describe('runs on the plan thread', () => {
  const threadsBefore = getThreads();
  afterEach(() => setThreads(threadsBefore));

  test('back-to-back, overlapping and one-thread runs all equal the synchronous result', async () => {
    const m = await load(miniResnet());
    const inputs = [1, 2, 3].map(image);
    setThreads(1);
    // The first runs time the plan; later ones ask for the early wake-up near their end.
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await m.run({ input: x })).logits.data as Float32Array);
    for (let round = 0; round < 20; round++) {
      const k = round % 3;
      const got = (await m.run({ input: inputs[k] })).logits.data as Float32Array;
      expect({ round, same: Buffer.compare(Buffer.from(got.buffer), Buffer.from(expected[k].buffer)) === 0 }).toEqual({ round, same: true });
    }
    // Several in flight: one takes the plan thread, the others libuv workers.
    for (const threads of [1, 2]) {
      setThreads(threads);
      const all = await Promise.all(Array.from({ length: 9 }, (_, i) => m.run({ input: inputs[i % 3] })));
      all.forEach((o, i) => expect({ i, threads, data: Array.from(o.logits.data as Float32Array) }).toEqual({ i, threads, data: Array.from(expected[i % 3]) }));
    }
    m.dispose();
  });

  test('a run that fails in a kernel rejects with the kernel error, and the next run still works', async () => {
    const m = await load(gatherModel());
    const ok = await m.run({ idx: new Tensor('int64', BigInt64Array.from([3n, 0n]), [2]) });
    expect(Array.from(ok.y.data as Float32Array)).toEqual([4.5, 5, 5.5, 0, 0.5, 1]);
    for (let i = 0; i < 3; i++) {
      await expect(m.run({ idx: new Tensor('int64', BigInt64Array.from([1n, 9n]), [2]) })).rejects.toThrow(/out of range for axis size 4/);
      const again = await m.run({ idx: new Tensor('int64', BigInt64Array.from([0n, 1n]), [2]) });
      expect(Array.from(again.y.data as Float32Array)).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    }
    m.dispose();
  });

  test('a pending run keeps the process alive until it settles, and an idle model lets it exit', () => {
    // In a child process: the thread-safe function must be referenced while a run is in
    // flight (or the process could exit with the promise pending) and unreferenced after
    // (or it would never exit). The timeout turns a hang into a failure.
    const dist = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
    const zoo = path.join(__dirname, '..', 'dist', 'bench', 'models', 'zoo.js');
    expect(fs.existsSync(dist)).toBe(true);
    const script = `
      const nq = require(${JSON.stringify(dist)});
      const { miniResnet } = require(${JSON.stringify(zoo)});
      nq.setThreads(1);
      nq.load(miniResnet()).then((m) => {
        const x = new nq.Tensor('float32', new Float32Array(3 * 32 * 32).fill(0.25), [1, 3, 32, 32]);
        const next = (k) => m.run({ input: x }).then((o) => {
          if (k < 5) return next(k + 1);
          process.stdout.write('settled ' + o.logits.dims.join('x'));
        });
        next(0);
      });`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nq-')), 'lifetime.js');
    fs.writeFileSync(file, script);
    const out = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: out.status, signal: out.signal, stderr: out.stderr, stdout: out.stdout }).toEqual({ status: 0, signal: null, stderr: '', stdout: 'settled 1x10' });
  });
});
