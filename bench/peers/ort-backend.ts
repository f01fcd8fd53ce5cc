// onnxruntime-node behind the server's backend interface, so the benchmark peer speaks the
// identical protocol through the identical parsing, batching and limits: only the runtime differs.
import * as ort from 'onnxruntime-node';
import { load } from '../../lib/runtime/load';
import type { Feeds, Outputs, ValueSpec } from '../../lib/runtime/model';
import type { InferenceBackend } from '../../lib/serve/backend';
import { DataType, Tensor } from '../../lib/tensor';

export class OrtBackend implements InferenceBackend {
  readonly platform = 'onnxruntime_onnx';

  private constructor(private readonly session: ort.InferenceSession, readonly inputs: readonly ValueSpec[], readonly outputs: readonly ValueSpec[], readonly slots: number) {}

  /** `threads`: ORT's intra-op threads; `slots`: session.run calls allowed in flight (ORT sessions are thread-safe). */
  static async create(file: string, opts: { threads: number; slots: number }): Promise<OrtBackend> {
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: opts.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    // The signature (names, dtypes, symbolic dims) read with our importer, only for the protocol layer.
    const model = await load(file);
    const backend = new OrtBackend(session, model.inputs, model.outputs, opts.slots);
    model.dispose();
    return backend;
  }

  async run(feeds: Feeds): Promise<Outputs> {
    const input: { [name: string]: ort.Tensor } = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.dtype as never, t.data as never, [...t.dims]);
    const result = await this.session.run(input);
    const out: Outputs = {};
    for (const name of this.session.outputNames) {
      const v = result[name];
      out[name] = new Tensor(v.type as DataType, v.data as never, [...v.dims]);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
