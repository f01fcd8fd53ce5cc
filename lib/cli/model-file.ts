// Opening a model named on the command line, with errors that name the argument and file.
import { existsSync, statSync } from 'fs';
import { load } from '../runtime/load';
import { Model } from '../runtime/model';
import { CliError } from './errors';

export function checkModelPath(path: string, argName = 'model'): void {
  if (!existsSync(path)) throw new CliError(`${argName}: '${path}' does not exist`);
  if (statSync(path).isDirectory()) throw new CliError(`${argName}: '${path}' is a directory, expected an .onnx file`);
}

export async function loadModelFile(path: string, argName = 'model'): Promise<Model> {
  checkModelPath(path, argName);
  try {
    return await load(path);
  } catch (e) {
    throw new CliError(`${argName}: '${path}' could not be loaded as ONNX: ${(e as Error).message}`);
  }
}
