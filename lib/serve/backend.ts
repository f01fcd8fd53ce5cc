// What the HTTP layer serves: something with input/output specs that runs feeds. The server
// is written against this interface so the same protocol, batching and limits can front
// nquant in this thread, nquant in worker threads, or (in the benchmark) onnxruntime-node.
import type { Feeds, Model, Outputs, ValueSpec } from '../runtime/model';

export interface InferenceBackend {
  /** Reported as `platform` in model metadata. */
  readonly platform: string;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  /** How many run() calls may usefully be in flight at once. */
  readonly slots: number;
  run(feeds: Feeds): Promise<Outputs>;
  /** Releases what the backend holds; called once, after the last run has settled. */
  close(): Promise<void>;
}

/** A Model run in this thread (its runs execute on native threads, off the event loop). */
export class ModelBackend implements InferenceBackend {
  readonly platform = 'nquant_onnx';
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];

  /** `owned`: the server loaded the model, so it disposes it on close. */
  constructor(private readonly model: Model, readonly slots: number, private readonly owned: boolean) {
    this.inputs = model.inputs;
    this.outputs = model.outputs;
    // Optimize the graph now, not on the first request.
    void model.executionGraph;
  }

  run(feeds: Feeds): Promise<Outputs> {
    return this.model.run(feeds);
  }

  async close(): Promise<void> {
    if (this.owned) this.model.dispose();
  }
}
