import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { checkTrainData, torchTrainThroughput } from '../bench/train-peers';

// 128 images (two batches of 64) of smooth, non-constant pixels and cycling labels.
const N = 128;
const x = Float32Array.from({ length: N * 784 }, (_, i) => (Math.sin(i * 0.01) + 1) / 2);
const y = Int32Array.from({ length: N }, (_, i) => i % 10);
const tiny = { batchSize: 64, steps: 1, warmup: 1 };

const hasPython = existsSync('/usr/bin/python3');
const torchInstalled = hasPython && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('training peers', () => {
  test('the data and schedule are checked before any work', () => {
    expect(checkTrainData(x, y, tiny)).toBe(N);
    expect(() => checkTrainData(x.subarray(1), y, tiny)).toThrow(/x: expected 128 images of 784 floats/);
    expect(() => checkTrainData(x, y, { ...tiny, batchSize: 256 })).toThrow('y: expected at least one batch of 256 examples, found 128');
    expect(() => checkTrainData(x, y, { ...tiny, steps: 0 })).toThrow('steps: expected a positive integer, found 0');
  });

  // In a child node process: inside jest's sandbox tfjs' CPU kernels run ~5x slower (48 s
  // against 10 s for these two steps), and the compiled build is what the bench runs anyway.
  test('tfjs trains without leaking tensors and reports a throughput', () => {
    const script = `
      const { tfjsTrainThroughput } = require('./dist/bench/train-peers.js');
      const x = Float32Array.from({ length: ${N} * 784 }, (_, i) => (Math.sin(i * 0.01) + 1) / 2);
      const y = Int32Array.from({ length: ${N} }, (_, i) => i % 10);
      tfjsTrainThroughput(x, y, ${JSON.stringify(tiny)}).then((r) => process.stdout.write(JSON.stringify(r)));`;
    const out = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
    expect(out.stderr).toBe('');
    const r = JSON.parse(out.stdout) as { imagesPerSecond: number; steps: number };
    expect(r.steps).toBe(1);
    expect(r.imagesPerSecond).toBeGreaterThan(0);
  });

  test('torch: a missing interpreter is "unavailable", not an error', async () => {
    const r = await torchTrainThroughput(x, y, { ...tiny, threads: 1, python: '/nonexistent/python3' });
    expect(r).toEqual({ unavailable: '/nonexistent/python3 not found (apt-get install python3 python3-torch)' });
  });

  (hasPython ? test : test.skip)('torch: a python without torch is "unavailable"', async () => {
    // -S skips site, so Debian's dist-packages (where python3-torch lives) is not on the path.
    const dir = mkdtempSync(path.join(tmpdir(), 'nopy-'));
    try {
      const fake = path.join(dir, 'python3');
      writeFileSync(fake, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
      chmodSync(fake, 0o755);
      const r = await torchTrainThroughput(x, y, { ...tiny, threads: 1, python: fake });
      expect('unavailable' in r && r.unavailable).toMatch(/torch cannot be imported/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  (torchInstalled ? test : test.skip)('torch (python3-torch installed) trains and reports its version', async () => {
    const r = await torchTrainThroughput(x, y, { ...tiny, threads: 1 });
    if ('unavailable' in r) throw new Error(r.unavailable);
    expect(r.imagesPerSecond).toBeGreaterThan(0);
    expect(r.version).toMatch(/^\d+\.\d+/);
  });
});
