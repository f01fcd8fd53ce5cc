// load(): ONNX bytes or a file path -> Model.
import { invalidType } from '../errors';
import { importModel, importModelFile } from '../onnx/import';
import { Model, ModelOptions } from './model';

export interface LoadOptions extends ModelOptions {
  /** Largest tensor accepted, in bytes (guards against hostile files). Default 4 GiB. */
  maxBytes?: number;
}

export async function load(source: string | Uint8Array, opts: LoadOptions = {}): Promise<Model> {
  if (typeof source === 'string') return new Model(importModelFile(source, { maxBytes: opts.maxBytes }), opts);
  if (source instanceof Uint8Array) return new Model(importModel(source, { maxBytes: opts.maxBytes }), opts);
  throw invalidType('source', 'a path or a Uint8Array of ONNX bytes', source);
}
