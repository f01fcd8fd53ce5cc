// A server the serve benchmark starts in a child process (so the load generator does not
// share its event loop): nquant's createServer, or onnxruntime-node behind the same server code.
import { createServer } from '../lib/serve';
import { resolveServeOptions, ServeOptions } from '../lib/serve/options';
import { serveBackend, InferenceServer } from '../lib/serve/server';
import { OrtBackend } from './peers/ort-backend';

export interface TargetSpec {
  runtime: 'nquant' | 'ort';
  file: string;
  name: string;
  /** Native intra-op threads (ours: setThreads; ORT: intraOpNumThreads). */
  threads: number;
  /** ORT: session.run calls in flight; ours: options.concurrency (ignored with workers). */
  concurrency: number;
  options: ServeOptions;
}

async function start(spec: TargetSpec): Promise<InferenceServer> {
  if (spec.runtime === 'nquant') return createServer(spec.file, { ...spec.options, name: spec.name, threads: spec.threads, concurrency: spec.concurrency });
  const backend = await OrtBackend.create(spec.file, { threads: spec.threads, slots: spec.concurrency });
  return serveBackend(backend, spec.name, resolveServeOptions(spec.options));
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2]) as TargetSpec;
  start(spec).then(async (server) => {
    const { port } = await server.listen(0, '127.0.0.1');
    process.on('message', (msg: string) => {
      if (msg === 'close') void server.close().then(() => process.exit(0));
      if (msg === 'metrics') void server.metrics().then((text) => process.send?.({ metrics: text }));
      // CPU time of the whole server process (every thread: event loop, workers, native pools).
      if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage() });
    });
    // A benchmark that dies must not leave its servers behind.
    process.on('disconnect', () => process.exit(0));
    process.send?.({ port });
  }, (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  });
}
