// ONNX backend node tests (Debian libonnx-testdata) for every op the native registry
// claims. The claimed set comes from native.listOps(), never from a list typed here: a test
// is run when every node of its model is a claimed op.
import * as fs from 'fs';
import * as path from 'path';
import { load } from '../lib';
import { native } from '../lib/native';
import { importModel } from '../lib/onnx/import';
import { Tensor } from '../lib/tensor';
import { ONNX_NODE_TESTS, readNodeTest } from './helpers/onnx-testdata';

// ONNX's own runner uses these for float outputs.
const RTOL = 1e-3;
const ATOL = 1e-7;

/** Claimed tests we know fail, each with the reason. The suite fails if one starts passing. */
const KNOWN_FAILURES: { [test: string]: string } = {};

interface Outcome { name: string; ok: boolean; reason?: string }

function compare(actual: Tensor, expected: Tensor): string | undefined {
  if (actual.dtype !== expected.dtype) return `dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.dims.join(',') !== expected.dims.join(',')) return `dims [${actual.dims}], expected [${expected.dims}]`;
  const a = actual.data as ArrayLike<number | bigint>;
  const e = expected.data as ArrayLike<number | bigint>;
  const isFloat = actual.dtype === 'float32' || actual.dtype === 'float64' || actual.dtype === 'float16';
  for (let i = 0; i < e.length; i++) {
    if (isFloat) {
      const x = Number(a[i]), y = Number(e[i]);
      if (Number.isNaN(y) ? !Number.isNaN(x) : Math.abs(x - y) > ATOL + RTOL * Math.abs(y)) return `element ${i}: ${x}, expected ${y}`;
    } else if (a[i] !== e[i]) {
      return `element ${i}: ${a[i]}, expected ${e[i]}`;
    }
  }
  return undefined;
}

async function runCase(name: string): Promise<Outcome> {
  try {
    const tc = readNodeTest(name);
    const model = await load(new Uint8Array(fs.readFileSync(path.join(tc.dir, 'model.onnx'))));
    try {
      const inputNames = model.inputs.map((i) => i.name);
      for (const set of tc.sets) {
        const feeds: { [k: string]: Tensor } = {};
        set.inputs.forEach((t, i) => { feeds[inputNames[i]] = t; });
        const out = await model.run(feeds);
        const names = model.outputs.map((o) => o.name);
        for (let i = 0; i < set.outputs.length; i++) {
          const why = compare(out[names[i]], set.outputs[i]);
          if (why) return { name, ok: false, reason: `output '${names[i]}': ${why}` };
        }
      }
    } finally {
      model.dispose();
    }
    return { name, ok: true };
  } catch (e) {
    return { name, ok: false, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) };
  }
}

function claimedTests(): { claimed: string[]; unclaimed: number } {
  const ops = new Set(native.listOps().map((o) => `${o.domain}:${o.opType}`));
  const claimed: string[] = [];
  let unclaimed = 0;
  for (const dir of fs.readdirSync(ONNX_NODE_TESTS).sort()) {
    let nodeOps: string[];
    try {
      const ir = importModel(new Uint8Array(fs.readFileSync(path.join(ONNX_NODE_TESTS, dir, 'model.onnx'))));
      // Tests about types nquant has no tensors for (string, bfloat16, sequence, optional)
      // are not claimed, whatever their op.
      if ([...ir.graph.inputs, ...ir.graph.outputs].some((v) => v.foreign)) {
        unclaimed++;
        continue;
      }
      nodeOps = ir.graph.nodes.map((n) => `${n.domain === 'ai.onnx' ? '' : n.domain}:${n.opType}`);
    } catch {
      unclaimed++;
      continue;
    }
    if (nodeOps.length > 0 && nodeOps.every((o) => ops.has(o))) claimed.push(dir);
    else unclaimed++;
  }
  return { claimed, unclaimed };
}

test('ONNX backend node tests for every claimed op', async () => {
  const { claimed, unclaimed } = claimedTests();
  const outcomes: Outcome[] = [];
  for (const name of claimed) outcomes.push(await runCase(name));
  const failed = outcomes.filter((o) => !o.ok);
  const unexpected = failed.filter((o) => !(o.name in KNOWN_FAILURES));
  const nowPassing = outcomes.filter((o) => o.ok && o.name in KNOWN_FAILURES).map((o) => o.name);
  const lines = [
    `ONNX conformance: ${native.listOps().length} ops claimed, ${claimed.length} tests claimed, ${unclaimed} unclaimed`,
    ...failed.map((f) => `  FAIL ${f.name}: ${f.reason}${f.name in KNOWN_FAILURES ? ` (known: ${KNOWN_FAILURES[f.name]})` : ''}`),
    `conformance: ${outcomes.length - failed.length} passed, ${failed.length} failed`,
  ];
  console.log(lines.join('\n'));
  expect(claimed.length).toBeGreaterThan(0);
  expect(unexpected.map((f) => `${f.name}: ${f.reason}`)).toEqual([]);
  expect(nowPassing).toEqual([]);
}, 600000);
