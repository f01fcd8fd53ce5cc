// The nquant commands on real npm models: their functions called directly (results checked
// against independent computations and onnxruntime-node), and the built binary spawned for
// exit codes, messages and --json output.
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { formatBench, runBench } from '../lib/cli/bench';
import { formatCompare, runCompare } from '../lib/cli/compare';
import { readFeeds } from '../lib/cli/inputs';
import { argmaxRows } from '../lib/report/compare';
import { formatInspect, runInspect } from '../lib/cli/inspect';
import { main } from '../lib/cli/main';
import { encodeNpy } from '../lib/cli/npy';
import { formatQuantize, runQuantize } from '../lib/cli/quantize';
import { getThreads } from '../lib/cpu';
import { sqnr } from '../lib/quant/qparams';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { REAL_MODELS, rng, runOrt } from './helpers/ort-models';

const root = resolve(__dirname, '..');
const BIN = join(root, 'dist/lib/cli/main.js');
const deepa = REAL_MODELS.find((m) => m.name === 'hello_deepa')!;
const ppocr = REAL_MODELS.find((m) => m.name === 'ppocr_cls')!;
const DEEPA = join(root, deepa.path);
const PPOCR = join(root, ppocr.path);
const dir = mkdtempSync(join(tmpdir(), 'nquant-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** n samples of a model's single input, stacked along a new first axis, as a .npy file. */
function stackNpy(name: string, spec: typeof deepa, n: number, seed: number): string {
  const r = rng(seed);
  const samples = Array.from({ length: n }, () => Object.values(spec.feeds(r))[0]);
  const per = samples[0].size;
  const data = new Float32Array(n * per);
  samples.forEach((t, i) => data.set(t.data as Float32Array, i * per));
  const path = join(dir, name);
  writeFileSync(path, encodeNpy(new Tensor('float32', data, [n, ...samples[0].dims])));
  return path;
}

const deepaCalib = stackNpy('deepa-calib.npy', deepa, 8, 21);

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('inspect', () => {
  test('ops, parameters by dtype and I/O of hello_deepa', async () => {
    const r = await runInspect(DEEPA);
    const model = await load(DEEPA);
    const inits = [...model.ir.graph.initializers.values()];
    expect(r.parameters.count).toBe(inits.reduce((n, t) => n + t.size, 0));
    expect(r.parameters.byDtype.float32.bytes).toBe(inits.filter((t) => t.dtype === 'float32').reduce((n, t) => n + t.size * 4, 0));
    expect(r.ops.Gemm).toBe(model.ir.graph.nodes.filter((n) => n.opType === 'Gemm').length);
    expect(Object.values(r.ops).reduce((a, b) => a + b, 0)).toBe(r.nodeCount);
    expect(r.inputs).toEqual([{ name: 'onnx::Flatten_0', dtype: 'float32', dims: [1, 25, 96] }]);
    expect(r.fileBytes).toBe(statSync(DEEPA).size);
    expect(r.nodes).toBeUndefined();
    const text = formatInspect(r);
    expect(text).toMatch(/Gemm\s+3/);
    expect(text).toContain(r.parameters.count.toLocaleString('en-US'));
  });
});

describe('quantize', () => {
  test('dynamic: the file onnxruntime-node loads agrees with ours and stays close to float', async () => {
    const out = join(dir, 'deepa-dyn.onnx');
    const r = await runQuantize(DEEPA, { output: out, mode: 'dynamic' });
    expect(r.nodes.quantized).toBe(3);
    expect(r.perChannel).toBe(true);
    expect((await runQuantize(DEEPA, { output: join(dir, 'deepa-dyn-pt.onnx'), mode: 'dynamic', perChannel: false })).perChannel).toBe(false);
    expect(r.outputBytes).toBe(statSync(out).size);
    expect(r.outputBytes).toBeLessThan(statSync(DEEPA).size / 3);
    const feeds = deepa.feeds(rng(3));
    const ours = await (await load(out)).run(feeds);
    const theirs = await runOrt(readFileSync(out), feeds);
    const fp = await (await load(DEEPA)).run(feeds);
    const name = Object.keys(fp)[0];
    const vsOrt = sqnr(theirs[name].data as Float32Array, ours[name].data as Float32Array);
    const vsFloat = sqnr(fp[name].data as Float32Array, ours[name].data as Float32Array);
    console.log(`quantize dynamic hello_deepa: SQNR vs ORT ${vsOrt.toFixed(1)} dB, vs float ${vsFloat.toFixed(1)} dB`);
    expect(vsOrt).toBeGreaterThan(30);
    expect(vsFloat).toBeGreaterThan(15);
    expect(formatQuantize(r)).toMatch(/3 of \d+ candidate nodes quantized/);
  });

  test('qat: fine-tunes on labelled data, then the INT8 file agrees with onnxruntime-node', async () => {
    const data = stackNpy('ppocr-train.npy', ppocr, 6, 31);
    const fp = await load(PPOCR);
    const labels = [];
    for (const feeds of readFeeds(data, fp.inputs, '--data')) labels.push(...argmaxRows((await fp.run(feeds))[fp.outputs[0].name]));
    writeFileSync(join(dir, 'ppocr-train-labels.json'), JSON.stringify(labels));
    const out = join(dir, 'ppocr-qat.onnx');
    const r = await runQuantize(PPOCR, { output: out, mode: 'qat', data, labels: join(dir, 'ppocr-train-labels.json'), batchSize: 3, epochs: 1, lr: 1e-5 });
    expect(r.qat).toMatchObject({ epochs: 1, samples: 6, batchSize: 3 });
    expect(r.qat!.loss).toHaveLength(1);
    expect(Number.isFinite(r.qat!.loss[0])).toBe(true);
    expect(r.nodes.quantized).toBeGreaterThan(10);
    const feeds = ppocr.feeds(rng(8));
    const ours = await (await load(out)).run(feeds);
    const theirs = await runOrt(readFileSync(out), feeds);
    const name = fp.outputs[0].name;
    expect(sqnr(theirs[name].data as Float32Array, ours[name].data as Float32Array)).toBeGreaterThan(25);
    await expect(runQuantize(PPOCR, { output: out, mode: 'qat', data, labels: join(dir, 'labels-short.json') })).rejects.toThrow(/--labels: '.*labels-short\.json' does not exist/);
    writeFileSync(join(dir, 'labels-short.json'), '[0, 1]');
    await expect(runQuantize(PPOCR, { output: out, mode: 'qat', data, labels: join(dir, 'labels-short.json') })).rejects.toThrow(/--labels: expected 6 class ids \(one per sample row of --data .*\), received 2/);
  });

  test('static from a .npy stack, QOperator: calibration count, report and ORT agreement', async () => {
    const out = join(dir, 'deepa-static.onnx');
    const r = await runQuantize(DEEPA, { output: out, mode: 'static', calib: deepaCalib, method: 'entropy', format: 'qoperator', calibCount: 6, exclude: ['/blocks.0/fcn_layer/Gemm'] });
    expect(r.calibrationSamples).toBe(6);
    expect(r.method).toBe('entropy');
    expect(r.format).toBe('qoperator');
    expect(r.float.map((f) => f.name)).toContain('/blocks.0/fcn_layer/Gemm');
    const feeds = deepa.feeds(rng(4));
    const ours = await (await load(out)).run(feeds);
    const theirs = await runOrt(readFileSync(out), feeds);
    const name = Object.keys(ours)[0];
    const vsOrt = sqnr(theirs[name].data as Float32Array, ours[name].data as Float32Array);
    expect(vsOrt).toBeGreaterThan(25);
    expect(Object.values(r.outputSqnr)[0]).toBeGreaterThan(15);
  });
});

describe('compare', () => {
  test('accuracy against labels, agreement and SQNR against the first model, HTML report', async () => {
    const quantized = join(dir, 'ppocr-dyn.onnx');
    await runQuantize(PPOCR, { output: quantized, mode: 'dynamic' });
    const data = stackNpy('ppocr-data.npy', ppocr, 6, 9);
    // Labels: the float model's own top-1 classes, so its accuracy must be exactly 100% and the
    // quantized model's accuracy must equal its agreement.
    const fp = await load(PPOCR);
    const labels = [];
    for (const feeds of readFeeds(data, fp.inputs, '--data')) {
      const p = (await fp.run(feeds))[fp.outputs[0].name].data as Float32Array;
      expect(p).toHaveLength(2);
      labels.push(p[1] > p[0] ? 1 : 0);
    }
    writeFileSync(join(dir, 'labels.json'), JSON.stringify(labels));
    const html = join(dir, 'compare.html');
    const r = await runCompare([PPOCR, quantized], { data, labels: join(dir, 'labels.json'), runs: 3, html });
    expect(r.metric).toBe('accuracy');
    expect(r.feeds).toBe(6);
    expect(r.inputDims).toEqual({ x: [1, 3, 48, 192] });
    expect(r.rows.map((row) => row.name)).toEqual(['ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ppocr-dyn.onnx']);
    expect(r.rows[0].accuracy).toBe(1);
    expect(r.rows[1].accuracy).toBe(r.rows[1].top1Agreement);
    expect(r.rows[1].sizeBytes).toBe(statSync(quantized).size);
    expect(r.rows[1].sqnrDb).toBeGreaterThan(10);
    expect(r.rows.every((row) => row.samples === 6 && row.latencyMs.runs === 3 && row.latencyMs.median > 0)).toBe(true);
    expect(readFileSync(html, 'utf8')).toContain('<svg');
    // --count keeps the first samples and their labels.
    const few = await runCompare([PPOCR, quantized], { data, labels: join(dir, 'labels.json'), runs: 1, count: 2 });
    expect(few.feeds).toBe(2);
    expect(few.rows[0]).toMatchObject({ accuracy: 1, samples: 2 });
    expect(formatCompare(r)).toMatch(/accuracy[\s\S]*100\.00%/);
  });

  test('labels that do not match the rows are an error naming --labels', async () => {
    writeFileSync(join(dir, 'short.json'), '[0, 1]');
    await expect(runCompare([DEEPA], { data: deepaCalib, labels: join(dir, 'short.json'), runs: 1 }))
      .rejects.toThrow(/--labels .*short\.json: expected 8 class ids.*received 2$/);
  });
});

describe('bench', () => {
  test('latency of ours and of onnxruntime-node on the same inputs; threads restored', async () => {
    const before = getThreads();
    const r = await runBench(DEEPA, { runs: 5, threads: 1, vsOrt: true });
    expect(getThreads()).toBe(before);
    expect(r.threads).toBe(1);
    expect(r.inputs).toEqual([{ name: 'onnx::Flatten_0', dtype: 'float32', dims: [1, 25, 96] }]);
    expect(r.nquant.runs).toBe(5);
    expect(r.ort!.runs).toBe(5);
    expect(r.speedupVsOrt).toBeCloseTo(r.ort!.median / r.nquant.median, 10);
    expect(formatBench(r)).toContain('onnxruntime-node');
    expect(r.inputSource).toBe('random');
    expect(r.notes).toEqual([]);
    await expect(runBench(DEEPA, { runs: 1, batch: 4 })).rejects.toThrow(/--batch: input 'onnx::Flatten_0' .* fixed first dim 1/);
  });

  test('dynamic dims: --batch sizes the first, a note says the others are 1; --data gives real shapes', async () => {
    const random = await runBench(PPOCR, { runs: 1, batch: 2 });
    expect(random.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [2, 3, 1, 1] }]);
    expect(random.notes.join('\n')).toMatch(/input 'x' .*dynamic dims after the first were set to 1/);
    const real = await runBench(PPOCR, { runs: 1, data: stackNpy('ppocr-bench.npy', ppocr, 2, 5) });
    expect(real).toMatchObject({ inputSource: 'data', batch: 1, inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3, 48, 192] }], notes: [] });
  });
});

// [arguments, exit code, stderr pattern, also run through the spawned binary]
const ERROR_CASES: [string[], number, RegExp, boolean][] = [
  [['inspect', 'missing.onnx'], 1, /model: 'missing\.onnx' does not exist/, true],
  [['inspect', 'garbage.npy'], 1, /could not be loaded as ONNX/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'int4', '--calib', 'deepa-calib.npy'], 2, /--calib: --mode int4 converts weights only and needs no calibration data/, true],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'fp16', '--format', 'qdq'], 2, /--format: --mode fp16 writes its own format/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'qat', '--labels', 'l.json'], 2, /--data: required with --mode qat/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static', '--calib', 'deepa-calib.npy', '--epochs', '2'], 2, /--epochs: only --mode qat trains \(received --mode static\)/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'fast'], 2, /--mode: expected one of dynamic, static, qat, int4, fp16, received 'fast'/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static'], 2, /--calib: required with --mode static/, true],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static', '--calib', 'garbage.npy'], 1, /garbage\.npy: not a \.npy file/, true],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static', '--calib', 'wrong-name.json'], 1, /wrong-name\.json \[sample 0\]: 'wrong' is not an input of the model \(inputs: 'onnx::Flatten_0'\)/, true],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static', '--calib', 'missing-dir'], 1, /--calib: 'missing-dir' does not exist/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--mode', 'static', '--calib', 'deepa-calib.npy', '--method', 'best'], 2, /--method: expected one of minmax, movingAverage, percentile, entropy, mse, received 'best'/, false],
  [['quantize', DEEPA, '-o', 'o.onnx', '--exclude', '/layer1/Gemm,/layer9/Gemm'], 1, /--exclude: no node named '\/layer9\/Gemm' in .*hello_deepa\.onnx/, false],
  [['quantize', DEEPA, '-o', 'no-such-dir/o.onnx'], 1, /--output: directory 'no-such-dir' does not exist/, false],
  [['quantize', DEEPA, '--mode', 'dynamic'], 2, /required option '-o, --output <file>' not specified/, true],
  [['compare', DEEPA, '--runs', 'many'], 2, /--runs <n>' argument 'many' is invalid/, false],
  [['compare', DEEPA, '--labels', 'x.json'], 2, /--labels: needs --data/, false],
  [['compare', DEEPA, '--html', 'no-such-dir/r.html'], 1, /--html: directory 'no-such-dir' does not exist/, false],
  [['compare', DEEPA, 'missing.onnx'], 1, /models\[1\]: 'missing\.onnx' does not exist/, false],
  [['bench', DEEPA, '--threads', '0'], 2, /--threads <n>' argument '0' is invalid/, false],
  [['frobnicate', DEEPA], 2, /unknown command 'frobnicate'/, false],
  [['serve', DEEPA, '--max-json-depth', '0'], 2, /--max-json-depth <n>' argument '0' is invalid. expected a nesting depth \(an integer >= 1\)/, false],
  [['serve', DEEPA, '--workers', '-1'], 2, /--workers <n>' argument '-1' is invalid. expected a worker count \(an integer >= 0\)/, false],
];

describe('in process', () => {
  test('without a terminal no progress bar is drawn; errors go to stderr with the exit code', async () => {
    let stdout = '', stderr = '';
    const streams = { stdout: { write: (s: string) => { stdout += s; return true; } }, stderr: { isTTY: false, write: (s: string) => { stderr += s; return true; } } };
    const code = await main(['quantize', DEEPA, '-o', join(dir, 'inproc.onnx'), '--mode', 'static', '--calib', deepaCalib, '--json'], streams as never);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout).calibrationSamples).toBe(8);
    stdout = '';
    expect(await main(['quantize', DEEPA, '-o', join(dir, 'x.onnx'), '--mode', 'fast'], streams as never)).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/--mode: expected one of/);
  });

  test('--mode int4 and --mode fp16 write files onnxruntime runs, close to the float model', async () => {
    const x = { 'onnx::Flatten_0': new Tensor('float32', Float32Array.from({ length: 2400 }, (_, i) => Math.sin(i * 0.3)), [1, 25, 96]) };
    const fp = (await runOrt(readFileSync(DEEPA), x))['39'].data as Float32Array;
    for (const mode of ['int4', 'fp16'] as const) {
      const out = join(dir, `deepa.${mode}.onnx`);
      const r = await runQuantize(DEEPA, { output: out, mode });
      expect(r.format).toBe(mode === 'int4' ? 'matmulnbits' : 'float16');
      expect(r.nodes.quantized).toBeGreaterThan(0);
      expect(r.outputBytes).toBeLessThan(statSync(DEEPA).size / (mode === 'int4' ? 4 : 1.8));
      expect(formatQuantize(r)).toMatch(mode === 'int4' ? /block-wise INT4/ : /stored as float16/);
      const theirs = (await runOrt(readFileSync(out), x))['39'].data as Float32Array;
      const ours = (await (await load(out)).run(x))['39'].data as Float32Array;
      expect(sqnr(theirs, ours)).toBeGreaterThan(60);
      expect(sqnr(fp, ours)).toBeGreaterThan(mode === 'int4' ? 15 : 40);
    }
  });

  test.each(ERROR_CASES.map((c) => [c[0].map((a) => (a === DEEPA ? 'hello_deepa.onnx' : a)).join(' '), ...c] as const))('nquant %s fails with its exit code and a message', async (_, args, code, message) => {
    writeFileSync(join(dir, 'garbage.npy'), 'this is not numpy');
    writeFileSync(join(dir, 'wrong-name.json'), JSON.stringify([{ wrong: [[0]] }]));
    let stdout = '', stderr = '';
    const streams = { stdout: { write: (s: string) => { stdout += s; return true; } }, stderr: { isTTY: false, write: (s: string) => { stderr += s; return true; } } };
    // Relative paths in the cases are relative to the test directory, as for the binary.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(await main(args, streams as never)).toBe(code);
    } finally {
      process.chdir(cwd);
    }
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
  });
});

// The built binary (dist/, made by npm install / npm run build).
const describeBin = existsSync(BIN) ? describe : describe.skip;
describeBin('the nquant binary', () => {
  test('--json output of each command parses', () => {
    const inspect = cli(['inspect', DEEPA, '--json']);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout).ops.Gemm).toBe(3);
    const quant = cli(['quantize', DEEPA, '-o', 'bin-dyn.onnx', '--no-per-channel', '--json']);
    expect(quant.code).toBe(0);
    expect(JSON.parse(quant.stdout)).toMatchObject({ mode: 'dynamic', perChannel: false });
    const cmp = cli(['compare', DEEPA, 'bin-dyn.onnx', '--runs', '2', '--json']);
    expect(cmp.code).toBe(0);
    const rows = JSON.parse(cmp.stdout).rows;
    expect(rows).toHaveLength(2);
    expect(typeof rows[1].sqnrDb).toBe('number');
    const bench = cli(['bench', DEEPA, '--runs', '2', '--json']);
    expect(bench.code).toBe(0);
    expect(JSON.parse(bench.stdout).nquant.runs).toBe(2);
    for (const r of [inspect, quant, cmp, bench]) expect(r.stderr).toBe('');
    const version = cli(['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  });

  test('errors: exit code 1 for files and data, 2 for usage, the problem named on stderr', () => {
    writeFileSync(join(dir, 'garbage.npy'), 'this is not numpy');
    writeFileSync(join(dir, 'wrong-name.json'), JSON.stringify([{ wrong: [[0]] }]));
    for (const [args, code, message] of ERROR_CASES.filter(([, , , spawn]) => spawn)) {
      const r = cli(args);
      if (r.code !== code || !message.test(r.stderr)) throw new Error(`nquant ${args.join(' ')}: exit ${r.code} (expected ${code}), stderr: ${r.stderr}`);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(join(dir, 'o.onnx'))).toBe(false);
  });
});

test('nquant serve passes its limit flags to the server', async () => {
  const { runServe } = await import('../lib/cli/serve');
  const s = await runServe(DEEPA, { port: 0, workers: 0, maxJsonDepth: 4, maxBodyBytes: 20_000, threads: 1 }, false);
  try {
    const url = `${s.url}/v2/models/${s.modelName}/infer`;
    const deep = await fetch(url, { method: 'POST', body: '{"inputs":[{"data":[[[1]]]}]}' });
    expect(deep.status).toBe(400);
    expect(await deep.text()).toMatch(/nest/i);
    const big = await fetch(url, { method: 'POST', body: 'x'.repeat(20_001) });
    expect(big.status).toBe(413);
    const ok = { inputs: [{ name: 'onnx::Flatten_0', shape: [1, 25, 96], datatype: 'FP32', data: Array.from({ length: 2400 }, (_, i) => i % 7) }] };
    expect((await fetch(url, { method: 'POST', body: JSON.stringify(ok) })).status).toBe(200);
  } finally {
    await s.close();
  }
});

test('nquant serve answers KServe v2 requests and exits cleanly on SIGTERM', async () => {
  const bin = resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build:ts first`);
  const { spawn } = await import('child_process');
  const child = spawn(process.execPath, [bin, 'serve', DEEPA, '--port', '0', '--workers', '1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const line = await new Promise<string>((resolveLine, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes('\n')) resolveLine(buf.split('\n')[0]); });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${stderr}`)));
  });
  const { url, model } = JSON.parse(line) as { url: string; model: string };
  expect(model).toBe('hello_deepa');
  expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
  const body = { inputs: [{ name: 'onnx::Flatten_0', shape: [1, 25, 96], datatype: 'FP32', data: Array.from({ length: 2400 }, (_, i) => Math.sin(i * 0.3)) }] };
  const reply = (await (await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body) })).json()) as { outputs: { name: string; data: number[] }[] };
  const x = { 'onnx::Flatten_0': new Tensor('float32', Float32Array.from(body.inputs[0].data), [1, 25, 96]) };
  const want = (await (await load(DEEPA)).run(x))['39'].data as Float32Array;
  expect(Float32Array.from(reply.outputs[0].data)).toEqual(want);
  const code = await new Promise<number | null>((done) => { child.once('exit', done); child.kill('SIGTERM'); });
  expect(code).toBe(0);
  expect(stderr).toBe('');
});
