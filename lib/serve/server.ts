// createServer(): the KServe v2 / Triton HTTP protocol in front of a model. Node's http
// module does the HTTP; this file routes, enforces limits, and shuts down gracefully.
import { readFile } from 'fs/promises';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { getThreads, setThreads } from '../cpu';
import { invalidType } from '../errors';
import { load } from '../runtime/load';
import { Model } from '../runtime/model';
import { InferenceBackend, ModelBackend } from './backend';
import { Batcher } from './batcher';
import { HttpError } from './http-error';
import { ServerMetrics, Route } from './metrics';
import { libuvPoolSize, resolveServeOptions, ResolvedServeOptions, ServeOptions } from './options';
import { formatDims, parseInferRequest } from './request';
import { encodeInferResponse } from './response';
import { kserveDatatype } from './datatypes';
import { WorkerPoolBackend } from './worker-pool';

export interface ListenAddress {
  host: string;
  port: number;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
}

export interface ServerStats {
  /** Requests waiting for a model run. */
  queueDepth: number;
  /** Model runs executing now. */
  runsInFlight: number;
  /** HTTP requests being handled now. */
  activeRequests: number;
  /** Whether concurrent requests are concatenated into batches (the model's first dim is dynamic). */
  batching: boolean;
}

export interface InferenceServer {
  /** The name in /v2/models/{name}. */
  readonly modelName: string;
  /** The underlying Node server (for tests and embedding; do not call its close()). */
  readonly http: http.Server;
  /** Starts listening (default port 8080, host 127.0.0.1; port 0 picks a free port). */
  listen(port?: number, host?: string): Promise<ListenAddress>;
  /** Stops accepting connections, finishes in-flight requests, then releases the models it loaded. */
  close(): Promise<void>;
  /** The Prometheus text /metrics serves. */
  metrics(): Promise<string>;
  stats(): ServerStats;
}

/** The model name a file path gives: its base name without the extension. */
function nameFromPath(file: string): string {
  return path.basename(file).replace(/\.[^.]*$/, '') || 'model';
}

/**
 * Serves `modelOrPath` (a loaded Model, an ONNX file path, or ONNX bytes) over KServe v2.
 * A Model you pass stays yours (close() does not dispose it); one the server loads, it releases.
 */
export async function createServer(modelOrPath: Model | string | Uint8Array, opts: ServeOptions = {}): Promise<InferenceServer> {
  const options = resolveServeOptions(opts);
  if (!(modelOrPath instanceof Model) && typeof modelOrPath !== 'string' && !(modelOrPath instanceof Uint8Array)) {
    throw invalidType('modelOrPath', 'a Model, an ONNX file path or a Uint8Array of ONNX bytes', modelOrPath);
  }
  const name = options.name ?? (typeof modelOrPath === 'string' ? nameFromPath(modelOrPath) : 'model');
  const pool = libuvPoolSize();
  const parallelRuns = options.workers > 0 ? options.workers : options.concurrency;
  if (parallelRuns > pool) {
    process.emitWarning(`createServer: ${options.workers > 0 ? `workers ${options.workers}` : `concurrency ${options.concurrency}`} exceeds libuv's thread pool (${pool} threads), which runs the model; set UV_THREADPOOL_SIZE before Node starts to run that many at once`);
  }
  let backend: InferenceBackend;
  if (options.workers > 0) {
    const onnx = modelOrPath instanceof Model ? modelOrPath.toOnnx() : modelOrPath instanceof Uint8Array ? modelOrPath : await readFile(modelOrPath);
    backend = await WorkerPoolBackend.start(onnx, options.workers, options.load);
  } else if (modelOrPath instanceof Model) {
    backend = new ModelBackend(modelOrPath, options.concurrency, false);
  } else {
    backend = new ModelBackend(await load(modelOrPath, options.load), options.concurrency, true);
  }
  const server = serveBackend(backend, name, options);
  if (options.threads !== undefined && options.threads !== getThreads()) {
    // The thread count is process-wide: set it for the server's runs, give it back on close.
    const previous = getThreads();
    setThreads(options.threads);
    const close = server.close;
    let restored: Promise<void> | undefined;
    return { ...server, close: () => (restored ??= close().then(() => setThreads(previous))) };
  }
  return server;
}

interface RouteMatch {
  route: Route;
  allow: string;
  model?: string;
}

const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

function matchRoute(pathname: string): RouteMatch | undefined {
  switch (pathname) {
    case '/v2/health/live': return { route: 'live', allow: 'GET, HEAD' };
    case '/v2/health/ready': return { route: 'ready', allow: 'GET, HEAD' };
    case '/v2': return { route: 'server_metadata', allow: 'GET' };
    case '/metrics': return { route: 'metrics', allow: 'GET' };
  }
  const m = MODEL_PATH.exec(pathname);
  if (!m) return undefined;
  let model: string;
  try {
    model = decodeURIComponent(m[1]);
  } catch {
    throw new HttpError(400, `the model name in ${JSON.stringify(pathname)} is not valid percent-encoding`);
  }
  // One version is served, '1'; naming another is asking for a model that is not here.
  if (m[2] !== undefined && m[2] !== '1') model = `${model}/versions/${m[2]}`;
  if (m[3] === '/infer') return { route: 'infer', allow: 'POST', model };
  if (m[3] === '/ready') return { route: 'model_ready', allow: 'GET, HEAD', model };
  return { route: 'model_metadata', allow: 'GET', model };
}

/**
 * The server around any backend. Not part of the public API: the benchmark uses it to put
 * onnxruntime-node behind the identical protocol, batching and limits.
 */
export function serveBackend(backend: InferenceBackend, modelName: string, options: ResolvedServeOptions): InferenceServer {
  let closing: Promise<void> | undefined;
  let activeRequests = 0;
  const idleWaiters: (() => void)[] = [];
  const batcher = new Batcher(backend, options, {
    onBatch: (requests, rows) => metrics.batch(requests, rows),
    onRun: (seconds) => metrics.run(seconds),
  });
  const metrics = new ServerMetrics({ queueDepth: () => batcher.depth, inFlight: () => batcher.inFlight });

  const metadata = JSON.stringify({
    name: modelName,
    versions: ['1'],
    platform: backend.platform,
    inputs: backend.inputs.map((v) => ({ name: v.name, datatype: kserveDatatype(v.dtype), shape: JSON.parse(formatDims(v.dims)) as number[] })),
    outputs: backend.outputs.map((v) => ({ name: v.name, datatype: kserveDatatype(v.dtype), shape: JSON.parse(formatDims(v.dims)) as number[] })),
  });
  const serverMetadata = JSON.stringify({ name: 'nquant', version: '0.1.0', extensions: ['binary_tensor_data'] });

  // Node checks the header and request timeouts on this interval (30 s by default): short
  // timeouts need a shorter one to be enforced near their value.
  const shortestTimeout = Math.min(options.headersTimeoutMs, options.requestTimeoutMs || Infinity);
  const server = http.createServer({
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(shortestTimeout / 4))),
    maxHeaderSize: options.maxHeaderBytes,
  });
  server.maxConnections = options.maxConnections;

  function send(res: http.ServerResponse, status: number, body: string | Buffer, headers: { [name: string]: string | number } = {}): void {
    if (res.headersSent || res.destroyed) return;
    const buffer = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': buffer.length,
      ...(closing ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(buffer);
  }

  function sendError(res: http.ServerResponse, error: unknown): number {
    const status = error instanceof HttpError ? error.status : 500;
    const message = error instanceof Error ? error.message : String(error);
    send(res, status, JSON.stringify({ error: message }), error instanceof HttpError ? error.headers : {});
    return status;
  }

  function readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const declared = req.headers['content-length'];
      const limit = options.maxBodyBytes;
      const tooLarge = (): HttpError => new HttpError(413, `the request body is larger than the ${limit}-byte limit (maxBodyBytes)`, { Connection: 'close' });
      if (declared !== undefined && Number(declared) > limit) {
        reject(tooLarge());
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limit) {
          req.removeAllListeners('data');
          req.pause();
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received)));
      req.on('error', reject);
      req.on('aborted', () => reject(new HttpError(400, 'the client aborted the request')));
    });
  }

  async function infer(req: http.IncomingMessage, res: http.ServerResponse): Promise<number> {
    if (closing) throw new HttpError(503, 'the server is shutting down');
    const body = await readBody(req);
    const header = req.headers['inference-header-content-length'];
    const parsed = parseInferRequest(body, Array.isArray(header) ? header[0] : header, backend, options.maxJsonDepth);
    let outputs;
    try {
      outputs = await batcher.submit(parsed.feeds);
    } catch (e) {
      // The model rejected what passed the protocol checks (say, a spatial size its convs cannot take).
      if (e instanceof RangeError || e instanceof TypeError) throw new HttpError(400, `the model could not run these inputs: ${e.message}`);
      throw e;
    }
    const encoded = encodeInferResponse(modelName, parsed.id, outputs, parsed.outputs);
    const headers: { [name: string]: string | number } = {};
    if (encoded.headerLength !== undefined) {
      headers['Content-Type'] = 'application/octet-stream';
      headers['Inference-Header-Content-Length'] = encoded.headerLength;
    }
    send(res, 200, encoded.body, headers);
    return 200;
  }

  function checkModel(name: string | undefined): void {
    if (name !== modelName) throw new HttpError(400, `unknown model ${JSON.stringify(name)}; this server serves ${JSON.stringify(modelName)}`);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<{ route: Route; status: number }> {
    let route: Route = 'unknown';
    try {
      const pathname = (req.url ?? '/').split('?')[0];
      const match = matchRoute(pathname);
      if (!match) throw new HttpError(404, `no such endpoint: ${req.method} ${pathname}`);
      route = match.route;
      const method = req.method === 'HEAD' && match.allow.includes('HEAD') ? 'GET' : req.method;
      if (!match.allow.split(', ').includes(method ?? '')) throw new HttpError(405, `${pathname} accepts ${match.allow}, not ${req.method}`, { Allow: match.allow });
      switch (match.route) {
        case 'live':
          send(res, 200, '{"live":true}');
          return { route, status: 200 };
        case 'ready':
          if (closing) throw new HttpError(503, 'the server is shutting down');
          send(res, 200, '{"ready":true}');
          return { route, status: 200 };
        case 'server_metadata':
          send(res, 200, serverMetadata);
          return { route, status: 200 };
        case 'metrics':
          send(res, 200, await metrics.text(), { 'Content-Type': metrics.contentType });
          return { route, status: 200 };
        case 'model_metadata':
          checkModel(match.model);
          send(res, 200, metadata);
          return { route, status: 200 };
        case 'model_ready':
          checkModel(match.model);
          if (closing) throw new HttpError(503, 'the server is shutting down');
          send(res, 200, JSON.stringify({ name: modelName, ready: true }));
          return { route, status: 200 };
        case 'infer':
          checkModel(match.model);
          return { route, status: await infer(req, res) };
        default:
          throw new HttpError(404, `no such endpoint: ${pathname}`);
      }
    } catch (e) {
      return { route, status: sendError(res, e) };
    }
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    activeRequests++;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      activeRequests--;
      if (activeRequests === 0) for (const w of idleWaiters.splice(0)) w();
    };
    res.on('finish', done);
    res.on('close', done);
    handle(req, res).then(
      ({ route, status }) => metrics.request(route, status, (performance.now() - started) / 1000),
      // handle() catches its own errors; this is a last guard so nothing escapes as a crash.
      (e: unknown) => { sendError(res, e); },
    );
  });
  // A request too slow to arrive, headers too large, or a malformed request line or headers:
  // answer and drop the connection.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const [status, reason, message] =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'the request did not arrive within the header/request timeout']
          : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
            : [400, 'Bad Request', `bad HTTP request: ${err.code ?? err.message}`];
      const body = JSON.stringify({ error: message });
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  });

  async function shutDown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (activeRequests > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    await batcher.drain();
    // Responses written while closing carry Connection: close; anything left is idle or half-sent headers.
    server.closeAllConnections();
    if (server.listening) await stopped;
    await backend.close();
  }

  return {
    modelName,
    http: server,
    listen(port = 8080, host = '127.0.0.1'): Promise<ListenAddress> {
      if (closing) return Promise.reject(new Error('listen: the server has been closed'));
      return new Promise((resolve, reject) => {
        const onError = (e: Error): void => reject(e);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ host: address.address, port: address.port, url: `http://${shown}:${address.port}` });
        });
      });
    },
    close(): Promise<void> {
      closing ??= shutDown();
      return closing;
    },
    metrics: () => metrics.text(),
    stats: () => ({ queueDepth: batcher.depth, runsInFlight: batcher.inFlight, activeRequests, batching: batcher.batches }),
  };
}
