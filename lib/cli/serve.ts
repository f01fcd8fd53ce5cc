// nquant serve model.onnx: the KServe v2 HTTP server (lib/serve) until SIGINT or SIGTERM, which
// finish the requests in flight before the process exits.
import { existsSync } from 'fs';
import { createServer } from '../serve/index';
import type { ServeOptions } from '../serve/index';
import { CliError } from './errors';

// The CLI's server flags map one to one onto createServer's options, which validate them.
const PASSED_THROUGH = [
  'name', 'workers', 'maxBatchSize', 'maxQueueDelayMs', 'maxQueue', 'maxBodyBytes', 'maxHeaderBytes', 'maxJsonDepth',
  'maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'threads', 'concurrency',
] as const satisfies readonly (keyof ServeOptions)[];

/** `nquant serve`'s flags: where to listen, and the createServer options it passes on. */
export type ServeCliOptions = Pick<ServeOptions, (typeof PASSED_THROUGH)[number]> & { port?: number; host?: string };

export interface Serving {
  url: string;
  modelName: string;
  /** Resolves once the server has closed (after a signal or close()). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export async function runServe(model: string, o: ServeCliOptions, onSignal = true): Promise<Serving> {
  if (!existsSync(model)) throw new CliError(`model: '${model}' does not exist`);
  const opts: ServeOptions = {};
  for (const key of PASSED_THROUGH) if (o[key] !== undefined) Object.assign(opts, { [key]: o[key] });
  const server = await createServer(model, opts);
  const { url } = await server.listen(o.port ?? 8080, o.host ?? '127.0.0.1');
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => { resolveClosed = r; });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= server.close().then(resolveClosed);
    return closing;
  };
  if (onSignal) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void close());
  return { url, modelName: server.modelName, closed, close };
}
