// The native binding as JS sees it: zero-copy views that honour byteOffset, errors that
// name the argument, async work off the event loop, dispose() during work, forced ISAs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { monitorEventLoopDelay } from 'perf_hooks';
import * as os from 'os';
import * as path from 'path';
import { cpu, setThreads, getThreads } from '../lib';
import { native } from '../lib/native';

// The file lib/native loaded (NQUANT_ADDON: the sanitizer run's), for the child processes here.
const ADDON = process.env.NQUANT_ADDON ?? path.join(__dirname, '..', 'build', 'Release', 'nquant.node');

function refQGemm(a: ArrayLike<number>, za: number, b: ArrayLike<number>, zb: number, m: number, n: number, k: number): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += (a[i * k + t] - za) * (b[t * n + j] - zb);
    c[i * n + j] = s;
  }
  return c;
}

// Errors made by the addon come from Node's main realm, not jest's sandbox, so instanceof
// RangeError fails there: check the name and message instead.
function expectError(fn: () => unknown, name: 'TypeError' | 'RangeError' | 'Error', message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  const err = caught as Error;
  expect(err.name).toBe(name);
  if (message) expect(err.message).toMatch(message);
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('cpu()', () => {
  test('reports the arch, the active ISA among the supported ones, and one kernel per family', () => {
    const info = cpu();
    expect(info.arch).toBe(process.arch);
    expect(info.supportedIsas).toContain(info.isa);
    expect(info.supportedIsas[info.supportedIsas.length - 1]).toBe('scalar');
    for (const family of ['qgemm', 'sgemm', 'quant', 'int4'] as const) expect(info.kernels[family]).toMatch(/__/);
  });

  test('NQUANT_ISA forces each supported level, and an unsupported request is explained', () => {
    const probe = (env: string) => spawnSync(process.execPath, ['-e', `const b=require(${JSON.stringify(ADDON)}); process.stdout.write(JSON.stringify(b.cpuInfo()))`], {
      env: { ...process.env, NQUANT_ISA: env }, encoding: 'utf8',
    });
    for (const isa of cpu().supportedIsas) {
      const out = JSON.parse(probe(isa).stdout);
      expect(out.isa).toBe(isa);
      expect(out.kernels.qgemm.endsWith(isa === 'scalar' ? '__ref' : '')).toBe(true);
      expect(out.note).toBe('');
    }
    const bogus = JSON.parse(probe('sse9').stdout);
    expect(bogus.isa).toBe(cpu().supportedIsas[0]);
    expect(bogus.note).toMatch(/NQUANT_ISA='sse9' is not one of/);
  });

  test('setThreads changes the pool and rejects nonsense', () => {
    const before = getThreads();
    setThreads(1);
    expect(getThreads()).toBe(1);
    setThreads(before);
    expect(() => setThreads(0)).toThrow(RangeError);
    expect(() => setThreads(1.5 as number)).toThrow(/threads: expected an integer/);
  });

  test('setAsyncInlineBudget returns the previous budget and rejects nonsense', () => {
    const before = native.setAsyncInlineBudget(500);
    expect(native.setAsyncInlineBudget(before)).toBe(500);
    expect(() => native.setAsyncInlineBudget(-1)).toThrow(/microseconds: expected a number of microseconds from 0 to 1e9, received -1/);
    expect(() => native.setAsyncInlineBudget(NaN)).toThrow(RangeError);
    expect(native.setAsyncInlineBudget(before)).toBe(before);
  });
});

describe('qgemm binding', () => {
  const m = 5, k = 37, n = 19;
  const rnd = seeded(7);
  const a = Uint8Array.from({ length: m * k }, () => Math.floor(rnd() * 256));
  const b = Int8Array.from({ length: k * n }, () => Math.floor(rnd() * 256) - 128);

  test.each(cpu().supportedIsas)('matches the JS reference at %s, with inputs at a byteOffset', (isa) => {
    const bufA = new Uint8Array(m * k + 3);
    bufA.set(a, 3);
    const aView = bufA.subarray(3);
    const bufB = new Int8Array(k * n + 5);
    bufB.set(b, 5);
    const w = native.qgemmPackB(bufB.subarray(5), k, n, false, new Int32Array([3]), isa);
    const out = new Int32Array(m * n + 2).subarray(2);
    native.qgemm(aView, m, 100, w, out, {}, false);
    expect(Array.from(out)).toEqual(Array.from(refQGemm(a, 100, b, 3, m, n, k)));
    w.dispose();
  });

  test('errors name the argument, the expectation and the value', () => {
    const w = native.qgemmPackB(b, k, n, false, null);
    expectError(() => native.qgemm(a.subarray(1), m, 0, w, new Int32Array(m * n), {}, false), 'RangeError', /^a: expected at least 185 elements, received 184 elements$/);
    expectError(() => native.qgemm(a, m, 256, w, new Int32Array(m * n), {}, false), 'RangeError', /aZeroPoint: expected an integer in \[0, 255\], received 256/);
    expectError(() => native.qgemm(a, m, 0, {} as never, new Int32Array(m * n), {}, false), 'TypeError', /weights: expected packed weights from qgemmPackB, received object/);
    expectError(() => native.qgemm(a, m, 0, w, new Float64Array(m * n) as never, {}, false), 'TypeError', /out: expected an Int32Array, Float32Array, Uint8Array or Int8Array, received Float64Array\(95\)/);
    expectError(() => native.qgemmPackB(b, k, n + 1, false, null), 'RangeError', /b: expected at least 740 elements, received 703 elements/);
    expectError(() => native.qgemmPackB(b, k, n, false, new Int32Array(2)), 'RangeError', /zeroPoints: expected 1 or n=19 values, received 2 values/);
    expectError(() => native.qgemm(a, m, 0, w, new Int32Array(m * n), { ldc: 3 }, false), 'RangeError', /options.ldc: expected >= n=19, received 3/);
    w.dispose();
    expect(w.disposed).toBe(true);
    expectError(() => native.qgemm(a, m, 0, w, new Int32Array(m * n), {}, false), 'Error', /weights: weights already disposed/);
  });

  test('async work keeps its weights alive across dispose() and resolves with the right result', async () => {
    const w = native.qgemmPackB(b, k, n, false, null);
    const out = new Int32Array(m * n);
    const done = native.qgemm(a, m, 0, w, out, {}, true);
    w.dispose();
    await done;
    expect(Array.from(out)).toEqual(Array.from(refQGemm(a, 0, b, 0, m, n, k)));
  });

  test('a long async GEMM leaves the event loop free', async () => {
    const M = 4096, K = 2048, N = 2048;  // tens of ms per call even on VNNI
    const w = native.qgemmPackB(new Int8Array(K * N).fill(1), K, N, false, null);
    const A = new Uint8Array(M * K).fill(1);
    const out = new Int32Array(M * N);
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    let shortestCall = Infinity;
    const t0 = performance.now();
    while (performance.now() - t0 < 150) {
      const c0 = performance.now();
      await native.qgemm(A, M, 0, w, out, {}, true);
      shortestCall = Math.min(shortestCall, performance.now() - c0);
    }
    h.disable();
    expect(out[0]).toBe(K);
    // A loop blocked by the GEMM samples its delay about once per call, each sample as long as
    // a call, so the median delay would be a whole call. A free loop samples every millisecond;
    // the median (not the max, which one preemption on a loaded machine can inflate) stays small.
    expect(h.percentile(50) / 1e6).toBeLessThan(Math.max(2, shortestCall / 2));
    w.dispose();
  });

  test('short async calls run on the main thread in a setImmediate (two queued at most), long ones and budget 0 on a worker', () => {
    // The addon calls the main realm's setImmediate (not jest's sandbox), so count it in a child.
    const script = `
      const b = require(${JSON.stringify(ADDON)});
      let immediates = 0;
      const orig = setImmediate;
      globalThis.setImmediate = (...args) => { immediates++; return orig(...args); };
      const k = 64, n = 48, m = 3;
      const w = b.qgemmPackB(new Int8Array(k * n).fill(2), k, n, false, null);
      const big = b.qgemmPackB(new Int8Array(4096 * 4096).fill(1), 4096, 4096, false, null);
      const sw = b.sgemmPackB(new Float32Array(k * n).fill(0.5), k, n, false);
      const a = new Uint8Array(4096 * 256).fill(1), af = new Float32Array(m * k).fill(2);
      const log = [];
      const step = async (name, start) => {
        const before = immediates;
        const p = start();
        log.push([name, immediates - before]);
        await p;
      };
      (async () => {
        const c = new Int32Array(m * n), cf = new Float32Array(m * n);
        await step('qgemm small', () => b.qgemm(a, m, 0, w, c, {}, true));
        log.push(['qgemm value', c[0], c[m * n - 1]]);
        await step('sgemm small', () => b.sgemm(af, m, sw, cf, {}, true));
        log.push(['sgemm value', cf[0]]);
        // 2^32 multiply-adds: several ms by any kernel's estimate, past the 2 ms budget.
        await step('qgemm 256x4096x4096', () => b.qgemm(a, 256, 0, big, new Int32Array(256 * 4096), {}, true));
        const outs = Array.from({ length: 5 }, () => new Int32Array(m * n));
        await step('burst of 5 small', () => Promise.all(outs.map((o) => b.qgemm(a, m, 0, w, o, {}, true))));
        log.push(['burst values', outs.every((o) => o.every((v) => v === 128))]);
        log.push(['previous budget', b.setAsyncInlineBudget(0)]);
        c.fill(0);
        await step('qgemm small, budget 0', () => b.qgemm(a, m, 0, w, c, {}, true));
        log.push(['qgemm value', c[0], c[m * n - 1]]);
        b.setAsyncInlineBudget(2000);
        process.stdout.write(JSON.stringify(log));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([
      ['qgemm small', 1], ['qgemm value', 128, 128],
      ['sgemm small', 1], ['sgemm value', 64],
      ['qgemm 256x4096x4096', 0],
      ['burst of 5 small', 2], ['burst values', true],  // two queued at most, the rest hop
      ['previous budget', 2000],
      ['qgemm small, budget 0', 0], ['qgemm value', 128, 128],
    ]);
  });

  test.each([0, 2000])('with the inline budget at %d us, async results match sync ones, run after the call returns, and kernel errors reject', async (limit) => {
    const previous = native.setAsyncInlineBudget(limit);
    try {
      const w = native.qgemmPackB(b, k, n, false, null);
      const out = new Int32Array(m * n).fill(-7);
      const done = native.qgemm(a, m, 0, w, out, {}, true);
      if (limit > 0) expect(out.every((v) => v === -7)).toBe(true);  // not run inside the call
      await done;
      expect(Array.from(out)).toEqual(Array.from(refQGemm(a, 0, b, 0, m, n, k)));
      // qmin > qmax is caught by the kernel, not the binding: it must reject, never throw.
      const bad = native.qgemm(a, m, 0, w, new Uint8Array(m * n),
        { multipliers: new Int32Array([1 << 30]), shifts: new Int32Array([1]), qmin: 10, qmax: 5 }, true);
      await expect(bad).rejects.toThrow(/qmin\/qmax/);
      w.dispose();

      const kf = 33, nf = 21, mf = 2;
      const bf = Float32Array.from({ length: kf * nf }, (_, i) => ((i * 7) % 11) - 5);
      const af = Float32Array.from({ length: mf * kf }, (_, i) => ((i * 5) % 9) - 4);
      const sw = native.sgemmPackB(bf, kf, nf, false);
      const ys = new Float32Array(mf * nf), ya = new Float32Array(mf * nf);
      native.sgemm(af, mf, sw, ys, {}, false);
      await native.sgemm(af, mf, sw, ya, {}, true);
      expect(Array.from(ya)).toEqual(Array.from(ys));
      const ym = new Float32Array(mf * nf);
      await native.matmul(af, bf, mf, kf, nf, false, ym, {}, true);
      expect(Array.from(ym)).toEqual(Array.from(ys));
      sw.dispose();

      const q = native.int4QuantizeBlockwise(bf, nf, kf, 16, true);
      const w4 = native.int4Pack(q.packed, q.scales, null, nf, kf, 16);
      const y4s = new Float32Array(mf * nf), y4a = new Float32Array(mf * nf);
      native.int4Gemm(af, mf, w4, null, true, y4s, false);
      await native.int4Gemm(af, mf, w4, null, true, y4a, true);
      expect(Array.from(y4a)).toEqual(Array.from(y4s));
      w4.dispose();
    } finally {
      native.setAsyncInlineBudget(previous);
    }
  });

  test('worker threads each load the addon and run alongside the main thread', () => {
    const addon = JSON.stringify(ADDON);
    const script = `
      const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
      const b = require(${addon});
      const run = (v) => {
        const w = b.qgemmPackB(new Int8Array(64).fill(1), 8, 8, false, null);
        const c = new Int32Array(8);
        return b.qgemm(new Uint8Array(8).fill(v), 1, 0, w, c, {}, true).then(() => c[0]);
      };
      if (isMainThread) {
        const workers = [1, 2, 3].map((v) => new Promise((resolve, reject) => {
          const wk = new Worker(__filename, { workerData: v });
          wk.on('message', resolve);
          wk.on('error', reject);
        }));
        Promise.all([...workers, run(5)]).then((r) => process.stdout.write(JSON.stringify(r)));
      } else {
        run(workerData).then((x) => parentPort.postMessage(x));
      }`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nq-')), 'workers.js');
    fs.writeFileSync(file, script);
    const out = spawnSync(process.execPath, [file], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual([8, 16, 24, 40]);
  });
});
