// A worker thread of the pool: loads its own copy of the model, runs what it is sent, and
// transfers the output buffers back (they are fresh per run, so nothing here keeps them).
import { parentPort, workerData } from 'worker_threads';
import { load } from '../runtime/load';
import type { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import type { FromWorker, ToWorker, WireTensor, WorkerInit } from './worker-protocol';

const port = parentPort;
if (!port) throw new Error('lib/serve/worker: must run as a worker thread');

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function main(init: WorkerInit): Promise<void> {
  let model: Model;
  try {
    model = await load(init.onnx, init.load);
    // Optimize the graph now, not on the first request this worker gets.
    void model.executionGraph;
  } catch (e) {
    post({ kind: 'failed', message: e instanceof Error ? e.message : String(e) });
    return;
  }
  port!.on('message', (msg: ToWorker) => {
    const feeds: { [name: string]: Tensor } = {};
    for (const t of msg.feeds) feeds[t.name] = new Tensor(t.dtype, t.data, t.dims);
    model.run(feeds).then(
      (outputs) => {
        const wire: WireTensor[] = Object.entries(outputs).map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims], data: t.data }));
        post({ kind: 'result', id: msg.id, outputs: wire }, wire.map((w) => w.data.buffer as ArrayBuffer));
      },
      (e: unknown) => post({ kind: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e), errorName: e instanceof Error ? e.name : 'Error' }),
    );
  });
  post({ kind: 'ready', inputs: model.inputs, outputs: model.outputs });
}

void main(workerData as WorkerInit);
