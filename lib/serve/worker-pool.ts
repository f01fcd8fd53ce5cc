// N worker threads, each holding its own copy of the model. A run goes to an idle worker;
// the pool reports one slot per worker so the batcher never queues inside a worker.
import { existsSync } from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { LoadOptions } from '../runtime/load';
import { getLimits } from '../limits';
import type { Feeds, Outputs, ValueSpec } from '../runtime/model';
import { Tensor } from '../tensor';
import type { InferenceBackend } from './backend';
import type { FromWorker, ToWorker, WireTensor } from './worker-protocol';

/** The compiled worker script: beside this file, or (when lib/ runs as TypeScript, as under jest) in dist/. */
function workerScript(): string {
  const beside = path.join(__dirname, 'worker.js');
  if (existsSync(beside)) return beside;
  const built = path.join(__dirname, '..', '..', 'dist', 'lib', 'serve', 'worker.js');
  if (existsSync(built)) return built;
  throw new Error(`workers: the compiled worker script is missing (looked for ${beside} and ${built}); run \`npm run build:ts\``);
}

interface Pending {
  resolve(outputs: Outputs): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  alive: boolean;
}

function rebuildError(name: string, message: string): Error {
  if (name === 'RangeError') return new RangeError(message);
  if (name === 'TypeError') return new TypeError(message);
  return new Error(message);
}

export class WorkerPoolBackend implements InferenceBackend {
  readonly platform = 'nquant_onnx';
  private nextId = 0;
  private cursor = 0;
  private closed = false;

  private constructor(private readonly workers: PoolWorker[], readonly inputs: readonly ValueSpec[], readonly outputs: readonly ValueSpec[]) {}

  get slots(): number {
    return this.workers.length;
  }

  static async start(onnx: Uint8Array, count: number, loadOptions: LoadOptions): Promise<WorkerPoolBackend> {
    const script = workerScript();
    // setLimits() is per thread: the workers get this thread's limits unless the options say otherwise.
    const limits = getLimits();
    const options: LoadOptions = {
      ...loadOptions,
      maxTensorBytes: loadOptions.maxTensorBytes ?? loadOptions.maxBytes ?? limits.maxTensorBytes,
      maxModelBytes: loadOptions.maxModelBytes ?? limits.maxModelBytes,
    };
    const started = await Promise.allSettled(Array.from({ length: count }, () => startWorker(script, onnx, options)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failed) {
      await Promise.all(ok.map((w) => w.worker.worker.terminate()));
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    return new WorkerPoolBackend(ok.map((w) => w.worker), ok[0].inputs, ok[0].outputs);
  }

  run(feeds: Feeds): Promise<Outputs> {
    if (this.closed) return Promise.reject(new Error('workers: the pool is closed'));
    const alive = this.workers.filter((w) => w.alive);
    if (alive.length === 0) return Promise.reject(new Error('workers: every worker has exited'));
    // The least-loaded worker, ties broken round-robin.
    let best = alive[this.cursor++ % alive.length];
    for (const w of alive) if (w.pending.size < best.pending.size) best = w;
    const id = this.nextId++;
    // Copied by structured clone, not transferred: inputs may view a pooled request Buffer.
    const wire: WireTensor[] = Object.entries(feeds).map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims], data: t.data }));
    return new Promise<Outputs>((resolve, reject) => {
      best.pending.set(id, { resolve, reject });
      best.worker.postMessage({ kind: 'run', id, feeds: wire } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

function startWorker(script: string, onnx: Uint8Array, loadOptions: LoadOptions): Promise<{ worker: PoolWorker; inputs: ValueSpec[]; outputs: ValueSpec[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { onnx, load: loadOptions } });
    const entry: PoolWorker = { worker, pending: new Map(), alive: true };
    let ready = false;
    const failAll = (error: Error): void => {
      for (const p of entry.pending.values()) p.reject(error);
      entry.pending.clear();
    };
    worker.on('message', (msg: FromWorker) => {
      switch (msg.kind) {
        case 'ready':
          ready = true;
          resolve({ worker: entry, inputs: msg.inputs, outputs: msg.outputs });
          break;
        case 'failed':
          reject(new Error(`workers: a worker could not load the model: ${msg.message}`));
          void worker.terminate();
          break;
        case 'result': {
          const p = entry.pending.get(msg.id);
          entry.pending.delete(msg.id);
          const outputs: Outputs = {};
          for (const t of msg.outputs) outputs[t.name] = new Tensor(t.dtype, t.data, t.dims);
          p?.resolve(outputs);
          break;
        }
        case 'error': {
          const p = entry.pending.get(msg.id);
          entry.pending.delete(msg.id);
          p?.reject(rebuildError(msg.errorName, msg.message));
          break;
        }
      }
    });
    worker.on('error', (e) => {
      if (!ready) reject(e);
      failAll(e);
    });
    worker.on('exit', (code) => {
      entry.alive = false;
      if (!ready) reject(new Error(`workers: a worker exited with code ${code} before loading the model`));
      failAll(new Error(`workers: a worker exited (code ${code})`));
    });
  });
}
