// load(): ONNX bytes or a file path -> Model.
import { invalidType } from '../errors';
import { importModel, importModelFile } from '../onnx/import';
import { Model, ModelOptions } from './model';

export interface LoadOptions extends ModelOptions {
  /** Largest model accepted: the file, and the tensor data it holds in total, in bytes. Default getLimits().maxModelBytes (16 GiB). */
  maxModelBytes?: number;
  /** @deprecated the former name of maxTensorBytes; maxTensorBytes wins when both are given. */
  maxBytes?: number;
}

export async function load(source: string | Uint8Array, opts: LoadOptions = {}): Promise<Model> {
  // One limit per tensor, whether it comes from the file (an initializer) or from a run.
  const maxTensorBytes = opts.maxTensorBytes ?? opts.maxBytes;
  const importOpts = { maxBytes: maxTensorBytes, maxModelBytes: opts.maxModelBytes };
  const modelOpts: ModelOptions = { ...opts, maxTensorBytes };
  if (typeof source === 'string') return new Model(importModelFile(source, importOpts), modelOpts);
  if (source instanceof Uint8Array) return new Model(importModel(source, importOpts), modelOpts);
  throw invalidType('source', 'a path or a Uint8Array of ONNX bytes', source);
}
