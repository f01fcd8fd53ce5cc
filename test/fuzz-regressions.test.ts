// Inputs the libFuzzer targets (fuzz/js, scripts/fuzz-js.sh) found, each replayed through the
// same oracle: a decoder must return or throw one of our own errors that says what was wrong,
// never an engine error (undefined property, runaway recursion, impossible allocation), a
// third-party error without our context, or a non-Error. Each test names its crash file.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseJsonFeeds, readLabels, samplesFor } from '../lib/cli/inputs';
import { encodeNpy, parseNpy } from '../lib/cli/npy';
import { exportModel } from '../lib/onnx/export';
import { importModel } from '../lib/onnx/import';
import { decodeTensorProto } from '../lib/onnx/tensor-proto';
import { ModelSignature, parseInferRequest } from '../lib/serve/request';
import { Tensor } from '../lib/tensor';
import { findingOf } from '../fuzz/js/oracle';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** The oracle's verdict on one call: undefined when it returned or threw one of our errors. */
function findingFrom(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    return findingOf(e) ?? undefined;
  }
}

/** The error a call threw (it must throw). */
function thrownBy(run: () => unknown): Error {
  try {
    run();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw');
}

describe('onnx-loader', () => {
  // crash-804ec0ed976486890b6dad03aaa0952d355ed213: Softmax's 'axis' attribute declared
  // type STRING without an s field; protobufjs leaves s as its default, a plain [], and
  // TextDecoder refused it. An absent STRING is the empty string (proto3 defaults).
  const stringWithoutBytes = b64('CAMSB3B5dG9yY2gaAzAuMzpnCgsKATASATEiA05lZwocCgExEgEyIgdTb2Z0bWF4KgsKBGF4aXMYAaABAxIQdG9yY2gtaml0LWV4cG9ydFoTCgEwEg4KDAgBEggKAggKCgIIFGITCgEyEg4KDAgBEggKAggKCgIIYUICEAY=');
  test('a STRING attribute with no bytes imports as the empty string and round-trips', () => {
    expect(findingFrom(() => importModel(stringWithoutBytes))).toBeUndefined();
    const model = importModel(stringWithoutBytes);
    expect(model.graph.nodes[1].attributes.get('axis')).toEqual({ type: 'string', value: '' });
    expect(importModel(exportModel(model)).graph.nodes[1].attributes.get('axis')).toEqual({ type: 'string', value: '' });
  });
});

describe('npy and feeds: stacks of empty samples', () => {
  // Found by probing the npy target's input split (the fuzzer ran 3M inputs without
  // reaching a 9-digit first dim next to a 0): shape (100000000, 0) is a 128-byte file that
  // samplesFor split into 1e8 empty tensors, over 4 GB before it was stopped.
  // A hundred thousand keeps the unfixed run to seconds (it returns them all and fails).
  const HUGE = 100_000;
  const npy = encodeNpy(new Tensor('float32', new Float32Array(0), [HUGE, 0]));
  test('a .npy of shape (1e5, 0) for a one-dim input is refused', () => {
    const t = parseNpy(npy, 'empty.npy');
    const split = () => samplesFor({ name: 'x', dtype: 'float32', dims: [null] }, t, 'empty.npy');
    expect(findingFrom(split)).toBeUndefined();
    expect(thrownBy(split).message).toMatch(/empty\.npy: input 'x' received dims \[100000, 0\], a stack of 100000 empty samples/);
  });
  test('so is JSON { dims: [1e5, 0], data: [] }', () => {
    const text = `{"dims":[${HUGE},0],"data":[]}`;
    const feeds = () => parseJsonFeeds(text, [{ name: 'x', dtype: 'float32', dims: [1, 0] }], 'empty.json');
    expect(findingFrom(feeds)).toBeUndefined();
    expect(thrownBy(feeds).name).toBe('CliError');
  });
});

describe('tensor-pb', () => {
  // crash-e70e14888383c6e0ba7b47904facb278d960e7d7: a tag with field number 0 after a
  // varint; protobufjs's "illegal tag" escaped without saying it was reading a TensorProto.
  const illegalTag = b64('CFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYABABQgFYSgA=');
  test('a malformed TensorProto is our error naming the TensorProto', () => {
    expect(findingFrom(() => decodeTensorProto(illegalTag))).toBeUndefined();
    expect(thrownBy(() => decodeTensorProto(illegalTag)).message).toMatch(/^TensorProto: malformed protobuf.*illegal tag/);
  });
});

// Deep nesting: JSON.parse builds a 100000-deep array without recursing, but JSON.stringify
// (quoting the value in an error) and Array.prototype.flat recurse once per level and threw
// "Maximum call stack size exceeded". The fuzzer only reached these with a smaller stack:
// coverage does not grow with depth (JSON.parse is native), so nothing guided it deeper.
describe('deeply nested JSON', () => {
  const DEPTH = 100_000;
  const nested = (inner: string): string => '['.repeat(DEPTH) + inner + ']'.repeat(DEPTH);
  const objects = (inner: string): string => '{"a":'.repeat(DEPTH) + inner + '}'.repeat(DEPTH);
  const MODEL: ModelSignature = {
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3] }, { name: 'flag', dtype: 'bool', dims: [] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 2] }],
  };
  const request = (body: string) => () => parseInferRequest(Buffer.from(body), undefined, MODEL);

  test.each([
    ['a nested shape', `{"inputs":[{"name":"x","datatype":"FP32","shape":${nested('')}}]}`],
    ['nested objects as inputs', `{"inputs":${objects('1')}}`],
    ['a nested id', `{"id":${nested('')},"inputs":[]}`],
    ['nested data for an input of any rank', `{"inputs":[{"name":"flag","datatype":"BOOL","shape":${JSON.stringify(new Array(DEPTH).fill(1))},"data":${nested('2')}}]}`],
    ['a nested value in flat data', `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,${nested('')}]}]}`],
  ])('infer request with %s is a 400', (_what, body) => {
    expect(findingFrom(request(body))).toBeUndefined();
    expect(thrownBy(request(body))).toMatchObject({ name: 'HttpError', status: 400 });
  });

  const feeds = (text: string) => () => parseJsonFeeds(text, [{ name: 'x', dtype: 'float32', dims: [1, 3] }], 'deep.json');
  test.each([
    ['nested arrays', nested('1')],
    ['nested dims', `{"x":{"dims":${nested('')},"data":[]}}`],
    ['a nested object as a value', `[1,${objects('1')}]`],
  ])('JSON feeds with %s are a CliError', (_what, text) => {
    expect(findingFrom(feeds(text))).toBeUndefined();
    expect(thrownBy(feeds(text)).name).toBe('CliError');
  });

  test('nested JSON labels are a CliError', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquant-fuzz-'));
    try {
      const file = path.join(dir, 'labels.json');
      fs.writeFileSync(file, `[1,${nested('{}')}]`);
      expect(findingFrom(() => readLabels(file))).toBeUndefined();
      expect(thrownBy(() => readLabels(file)).name).toBe('CliError');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
