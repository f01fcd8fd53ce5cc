// Dynamic batching with a bounded queue. Requests whose inputs agree on everything but the
// first dim are concatenated along dim 0 (up to maxBatchSize rows), run once, and the outputs
// are split back. A batch starts when a run slot is free and either it is full or its oldest
// request has waited maxQueueDelayMs; so under load, batches grow while runs are busy.
import type { Feeds, Outputs, ValueSpec } from '../runtime/model';
import { ARRAY_TYPES, Tensor, TypedArray } from '../tensor';
import type { InferenceBackend } from './backend';
import { HttpError } from './http-error';

export interface BatcherOptions {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueue: number;
}

export interface BatchObserver {
  /** A run started with this many requests totalling `rows` along dim 0. */
  onBatch(requests: number, rows: number): void;
  /** A run finished after `seconds`. */
  onRun(seconds: number): void;
}

interface Queued {
  feeds: Feeds;
  /** Rows along dim 0 (1 when the model does not batch). */
  rows: number;
  /** Requests with equal keys can share a batch; undefined: never batched. */
  key: string | undefined;
  enqueuedAt: number;
  resolve(outputs: Outputs): void;
  reject(error: unknown): void;
}

/** Batching applies when every input and output has a dynamic (non-numeric) first dim. */
export function canBatch(inputs: readonly ValueSpec[], outputs: readonly ValueSpec[]): boolean {
  const dynamicFirst = (v: ValueSpec): boolean => v.dims.length > 0 && typeof v.dims[0] !== 'number';
  return inputs.length > 0 && inputs.every(dynamicFirst) && outputs.every(dynamicFirst);
}

function concatRows(tensors: Tensor[]): Tensor {
  const first = tensors[0];
  let rows = 0, length = 0;
  for (const t of tensors) { rows += t.dims[0]; length += t.data.length; }
  const data = new ARRAY_TYPES[first.dtype](length) as TypedArray;
  let offset = 0;
  for (const t of tensors) {
    (data as unknown as { set(src: ArrayLike<number | bigint>, at: number): void }).set(t.data, offset);
    offset += t.data.length;
  }
  return new Tensor(first.dtype, data as never, [rows, ...first.dims.slice(1)]);
}

/** Row range [start, start + rows) of `t`, viewing its data (outputs are fresh per run). */
function sliceRows(t: Tensor, start: number, rows: number): Tensor {
  const per = t.dims.slice(1).reduce((p, d) => p * d, 1);
  return new Tensor(t.dtype, t.data.subarray(start * per, (start + rows) * per) as never, [rows, ...t.dims.slice(1)]);
}

export class Batcher {
  private readonly queue: Queued[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private batching: boolean;

  constructor(private readonly backend: InferenceBackend, private readonly opts: BatcherOptions, private readonly observer: BatchObserver) {
    this.batching = opts.maxBatchSize > 1 && canBatch(backend.inputs, backend.outputs);
  }

  /** Whether requests are being concatenated (the model has a dynamic first dim). */
  get batches(): boolean {
    return this.batching;
  }

  /** Requests waiting for a run. */
  get depth(): number {
    return this.queue.length;
  }

  /** Runs in flight. */
  get inFlight(): number {
    return this.running;
  }

  /** Queues `feeds` (already validated against the model); throws a 429 HttpError when every slot is busy and maxQueue requests wait. */
  submit(feeds: Feeds): Promise<Outputs> {
    if (this.queue.length >= this.opts.maxQueue && this.running >= this.backend.slots) {
      throw new HttpError(429, `the request queue is full (${this.opts.maxQueue} waiting); retry later`, { 'Retry-After': '1' });
    }
    return new Promise<Outputs>((resolve, reject) => {
      const { rows, key } = this.batchKey(feeds);
      this.queue.push({ feeds, rows, key, enqueuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  /** Starts queued work without waiting for fuller batches, and resolves when nothing is queued or running. */
  drain(): Promise<void> {
    this.flushing = true;
    this.pump();
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private batchKey(feeds: Feeds): { rows: number; key: string | undefined } {
    if (!this.batching) return { rows: 1, key: undefined };
    const specs = this.backend.inputs;
    const rows = feeds[specs[0].name].dims[0];
    const parts: string[] = [];
    for (const spec of specs) {
      const t = feeds[spec.name];
      if (t.dims.length === 0 || t.dims[0] !== rows) return { rows: 1, key: undefined };
      parts.push(`${t.dtype}:${t.dims.slice(1).join('x')}`);
    }
    // A request as large as a whole batch runs alone.
    if (rows === 0 || rows >= this.opts.maxBatchSize) return { rows, key: undefined };
    return { rows, key: parts.join(';') };
  }

  private pump(): void {
    while (this.running < this.backend.slots && this.queue.length > 0) {
      const head = this.queue[0];
      const picked = [0];
      let rows = head.rows;
      if (head.key !== undefined) {
        for (let i = 1; i < this.queue.length && rows < this.opts.maxBatchSize; i++) {
          const q = this.queue[i];
          if (q.key === head.key && rows + q.rows <= this.opts.maxBatchSize) { picked.push(i); rows += q.rows; }
        }
        const waited = performance.now() - head.enqueuedAt;
        if (rows < this.opts.maxBatchSize && waited < this.opts.maxQueueDelayMs && !this.flushing) {
          this.wakeAt(head.enqueuedAt + this.opts.maxQueueDelayMs);
          return;
        }
      }
      const batch = picked.map((i) => this.queue[i]);
      for (let i = picked.length - 1; i >= 0; i--) this.queue.splice(picked[i], 1);
      this.running++;
      this.observer.onBatch(batch.length, rows);
      void this.execute(batch).finally(() => {
        this.running--;
        this.pump();
        if (this.queue.length === 0 && this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private wakeAt(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, at - performance.now()));
  }

  private async timedRun(feeds: Feeds): Promise<Outputs> {
    const t0 = performance.now();
    try {
      return await this.backend.run(feeds);
    } finally {
      this.observer.onRun((performance.now() - t0) / 1000);
    }
  }

  private async execute(batch: Queued[]): Promise<void> {
    if (batch.length === 1) {
      await this.timedRun(batch[0].feeds).then(batch[0].resolve, batch[0].reject);
      return;
    }
    const feeds: Feeds = {};
    for (const spec of this.backend.inputs) feeds[spec.name] = concatRows(batch.map((q) => q.feeds[spec.name]));
    const total = batch.reduce((s, q) => s + q.rows, 0);
    let outputs: Outputs;
    try {
      outputs = await this.timedRun(feeds);
    } catch {
      // One bad request must not fail its batch-mates: each runs alone and gets its own answer.
      await this.runAlone(batch);
      return;
    }
    if (Object.values(outputs).some((t) => t.dims.length === 0 || t.dims[0] !== total)) {
      // The model's outputs do not follow the batch dim after all: stop batching it.
      this.batching = false;
      await this.runAlone(batch);
      return;
    }
    let start = 0;
    for (const q of batch) {
      const mine: Outputs = {};
      for (const [name, t] of Object.entries(outputs)) mine[name] = sliceRows(t, start, q.rows);
      start += q.rows;
      q.resolve(mine);
    }
  }

  private async runAlone(batch: Queued[]): Promise<void> {
    for (const q of batch) await this.timedRun(q.feeds).then(q.resolve, q.reject);
  }
}
