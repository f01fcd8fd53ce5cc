// Prometheus metrics of one server, in a registry of its own (two servers in a process do
// not mix counts): requests by route and status, latency, batch sizes, queue depth.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Route = 'live' | 'ready' | 'server_metadata' | 'model_metadata' | 'model_ready' | 'infer' | 'metrics' | 'unknown';

export interface MetricsSources {
  queueDepth(): number;
  inFlight(): number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly latency: Histogram<'route'>;
  private readonly batchRows: Histogram;
  private readonly batchRequests: Histogram;
  private readonly runSeconds: Histogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'nquant_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'status'], registers });
    this.latency = new Histogram({
      name: 'nquant_http_request_duration_seconds',
      help: 'Time from a request arriving to its response being written, by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.batchRows = new Histogram({ name: 'nquant_batch_size', help: 'Rows (sum of first dims) per model run', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.batchRequests = new Histogram({ name: 'nquant_batch_requests', help: 'Requests served per model run', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.runSeconds = new Histogram({ name: 'nquant_run_duration_seconds', help: 'Time per model run', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    new Gauge({ name: 'nquant_queue_depth', help: 'Requests waiting for a model run', registers, collect() { this.set(sources.queueDepth()); } });
    new Gauge({ name: 'nquant_runs_in_flight', help: 'Model runs executing now', registers, collect() { this.set(sources.inFlight()); } });
  }

  request(route: Route, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  batch(requests: number, rows: number): void {
    this.batchRequests.observe(requests);
    this.batchRows.observe(rows);
  }

  run(seconds: number): void {
    this.runSeconds.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
