// Messages between the worker pool and its workers (structured-cloned).
import type { DataType, TypedArray } from '../tensor';
import type { LoadOptions } from '../runtime/load';
import type { ValueSpec } from '../runtime/model';

export interface WireTensor {
  name: string;
  dtype: DataType;
  dims: number[];
  data: TypedArray;
}

export interface WorkerInit {
  onnx: Uint8Array;
  load: LoadOptions;
}

export type ToWorker = { kind: 'run'; id: number; feeds: WireTensor[] };

export type FromWorker =
  | { kind: 'ready'; inputs: ValueSpec[]; outputs: ValueSpec[] }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; outputs: WireTensor[] }
  | { kind: 'error'; id: number; message: string; errorName: string };
