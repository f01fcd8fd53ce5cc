// Reads ONNX's backend node tests (Debian libonnx-testdata): model.onnx plus
// test_data_set_*/input_*.pb and output_*.pb, decoded with our own TensorProto codec.
import * as fs from 'fs';
import * as path from 'path';
import { decodeTensorProto } from '../../lib/onnx/tensor-proto';
import { Tensor } from '../../lib/tensor';

export const ONNX_NODE_TESTS = '/usr/share/libonnx-testdata/data/node';

export interface NodeTestCase {
  name: string;
  dir: string;
  sets: { inputs: Tensor[]; outputs: Tensor[] }[];
}

function readSet(dir: string, prefix: 'input' | 'output'): Tensor[] {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${prefix}_`) && f.endsWith('.pb'));
  files.sort((x, y) => Number(x.slice(prefix.length + 1, -3)) - Number(y.slice(prefix.length + 1, -3)));
  return files.map((f) => decodeTensorProto(new Uint8Array(fs.readFileSync(path.join(dir, f)))));
}

export function readNodeTest(name: string): NodeTestCase {
  const dir = path.join(ONNX_NODE_TESTS, name);
  if (!fs.existsSync(dir)) {
    throw new Error(`ONNX test data ${dir} missing: apt-get install libonnx-testdata (.ci/run does)`);
  }
  const sets = fs.readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => ({ inputs: readSet(path.join(dir, d), 'input'), outputs: readSet(path.join(dir, d), 'output') }));
  return { name, dir, sets };
}

/** Integer attributes of the test model's single node (e.g. axis). */
export function nodeIntAttributes(testCase: NodeTestCase): { [name: string]: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ModelProto } = require('../../lib/onnx/schema') as typeof import('../../lib/onnx/schema');
  const model = ModelProto.toObject(ModelProto.decode(fs.readFileSync(path.join(testCase.dir, 'model.onnx'))), { longs: Number }) as {
    graph: { node: { attribute?: { name: string; i?: number }[] }[] };
  };
  const out: { [name: string]: number } = {};
  for (const a of model.graph.node[0].attribute ?? []) if (a.i !== undefined) out[a.name] = a.i;
  return out;
}
