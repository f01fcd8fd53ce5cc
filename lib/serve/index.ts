// The inference server's public surface. The server's modules (HTTP, prom-client) are loaded
// on first use: they take ~0.1 s to load, which `require('nquant')` should not pay.
import type { Model } from '../runtime/model';
import type { ServeOptions } from './options';
import type { InferenceServer } from './server';

export type { InferenceServer, ListenAddress, ServerStats } from './server';
export type { ServeOptions } from './options';

/**
 * Serves a model over HTTP with the KServe v2 / Triton inference protocol: `modelOrPath` is a
 * loaded Model, an ONNX file path or ONNX bytes. Call listen() on the result to start serving.
 */
export async function createServer(modelOrPath: Model | string | Uint8Array, opts: ServeOptions = {}): Promise<InferenceServer> {
  const server = await import('./server');
  return server.createServer(modelOrPath, opts);
}
