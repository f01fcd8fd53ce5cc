// createServer's options: what each one means, its default, and validation that names the
// option, what it accepts and what came.
import * as os from 'os';
import { assertInteger, invalidRange, invalidType } from '../errors';
import type { LoadOptions } from '../runtime/load';
import { DEFAULT_MAX_JSON_DEPTH } from './json-guard';

export interface ServeOptions {
  /** Model name in URLs (/v2/models/{name}); default: the file's base name, or 'model'. */
  name?: string;
  /** Largest batch the dynamic batcher forms (sum of requests' first dims); 1 turns batching off. Default 8. */
  maxBatchSize?: number;
  /** How long the oldest queued request may wait for a fuller batch, in ms. Default 0: batches form only while runs are busy. */
  maxQueueDelayMs?: number;
  /** Requests allowed to wait for a run; one more gets 429. Default 128. */
  maxQueue?: number;
  /** Largest request body in bytes; larger gets 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Largest request line plus headers in bytes; larger gets 431 (Node's maxHeaderSize). Default 16384. */
  maxHeaderBytes?: number;
  /** Deepest array/object nesting accepted in a request's JSON; deeper gets 400 before it is parsed. Default 64. */
  maxJsonDepth?: number;
  /** Open connections allowed at once; further ones are closed on arrival (Node's server.maxConnections). Default 1024. */
  maxConnections?: number;
  /** Time allowed to receive a request's headers, in ms (Node's headersTimeout). Default 10000. */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request, body included, in ms (Node's requestTimeout). Default 30000. */
  requestTimeoutMs?: number;
  /** Idle time before a keep-alive connection is closed, in ms. Default 5000. */
  keepAliveTimeoutMs?: number;
  /**
   * Worker threads that each hold a copy of the model, loaded from its ONNX (a Model you pass
   * is exported with toOnnx() and loaded with options.load), so runs go in parallel on separate
   * plans. 0 runs the Model from this thread instead (its runs still execute on native threads,
   * off the event loop). Default: the machine's logical cores (at most libuv's thread pool size,
   * UV_THREADPOOL_SIZE, default 4, which runs them), or 0 when `concurrency` is given or the
   * machine has one core. Worker threads measured the fastest way to serve; see the README.
   */
  workers?: number;
  /**
   * With workers 0: model runs in flight at once on the one Model. Default: as workers would
   * be. Concurrent runs of one model share its compiled plans, whose scratch-using steps take
   * turns, so they scale less than workers do.
   */
  concurrency?: number;
  /**
   * Native threads per kernel call; calls setThreads() for the whole process (close() restores
   * the previous value). Default: 1 when runs go in parallel (several workers, or concurrency
   * above 1), else left as is: parallel single-threaded runs measured faster for serving than
   * one run spread over the cores.
   */
  threads?: number;
  /** Options for load() when the model is given as a path or bytes. */
  load?: LoadOptions;
}

export interface ResolvedServeOptions {
  name?: string;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueue: number;
  maxBodyBytes: number;
  maxHeaderBytes: number;
  maxJsonDepth: number;
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  workers: number;
  concurrency: number;
  threads?: number;
  load: LoadOptions;
}

/** Runs execute on libuv's thread pool, which has UV_THREADPOOL_SIZE threads (4 unless set before Node starts). */
export function libuvPoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? n : 4;
}

/** Model runs worth having in flight: one per core, as many as libuv's pool can run. */
export function defaultParallelRuns(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(256, cores, libuvPoolSize()));
}

const KNOWN = ['name', 'maxBatchSize', 'maxQueueDelayMs', 'maxQueue', 'maxBodyBytes', 'maxHeaderBytes', 'maxJsonDepth', 'maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'workers', 'concurrency', 'threads', 'load'];
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function resolveServeOptions(opts: ServeOptions | undefined): ResolvedServeOptions {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidType('options', 'an object', opts);
  for (const key of Object.keys(opts)) {
    if (!KNOWN.includes(key)) throw invalidType('options', `only the options ${KNOWN.join(', ')}`, `unknown option '${key}'`);
  }
  const int = (key: keyof ServeOptions, fallback: number, min: number, max = 2 ** 31 - 1): number =>
    opts![key] === undefined ? fallback : assertInteger(`options.${key}`, opts![key], min, max);
  if (opts.name !== undefined && (typeof opts.name !== 'string' || !NAME_PATTERN.test(opts.name))) {
    throw invalidType('options.name', 'a name of letters, digits, _ . - (not starting with _ . -)', opts.name);
  }
  if (opts.load !== undefined && (typeof opts.load !== 'object' || opts.load === null)) throw invalidType('options.load', 'an object of load() options', opts.load);
  const resolved: ResolvedServeOptions = {
    name: opts.name,
    maxBatchSize: int('maxBatchSize', 8, 1, 65536),
    maxQueueDelayMs: int('maxQueueDelayMs', 0, 0, 60_000),
    maxQueue: int('maxQueue', 128, 0),
    maxBodyBytes: int('maxBodyBytes', 64 * 1024 * 1024, 1, 2 ** 32),
    maxHeaderBytes: int('maxHeaderBytes', 16 * 1024, 1024, 2 ** 24),
    maxJsonDepth: int('maxJsonDepth', DEFAULT_MAX_JSON_DEPTH, 2, 10_000),
    maxConnections: int('maxConnections', 1024, 1),
    headersTimeoutMs: int('headersTimeoutMs', 10_000, 1),
    requestTimeoutMs: int('requestTimeoutMs', 30_000, 0),
    keepAliveTimeoutMs: int('keepAliveTimeoutMs', 5_000, 0),
    workers: int('workers', opts.concurrency === undefined && defaultParallelRuns() > 1 ? defaultParallelRuns() : 0, 0, 256),
    concurrency: int('concurrency', defaultParallelRuns(), 1, 256),
    threads: opts.threads === undefined ? undefined : assertInteger('options.threads', opts.threads, 1, 1024),
    load: opts.load ?? {},
  };
  if (resolved.threads === undefined && (resolved.workers > 1 || (resolved.workers === 0 && resolved.concurrency > 1))) resolved.threads = 1;
  // Node refuses a headers timeout longer than the request timeout (0 = no request timeout).
  if (resolved.requestTimeoutMs > 0 && resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    throw invalidRange('options.headersTimeoutMs', `at most options.requestTimeoutMs (${resolved.requestTimeoutMs})`, resolved.headersTimeoutMs);
  }
  return resolved;
}
