// Inputs the libFuzzer targets (fuzz/js, scripts/fuzz-js.sh) found, each replayed through the
// same oracle: a decoder must return or throw one of our own errors that says what was wrong,
// never an engine error (undefined property, runaway recursion, impossible allocation), a
// third-party error without our context, or a non-Error. Each test names its crash file.
import { decodeTensorProto } from '../lib/onnx/tensor-proto';
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

describe('tensor-pb', () => {
  // crash-e70e14888383c6e0ba7b47904facb278d960e7d7: a tag with field number 0 after a
  // varint; protobufjs's "illegal tag" escaped without saying it was reading a TensorProto.
  const illegalTag = b64('CFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYABABQgFYSgA=');
  test('a malformed TensorProto is our error naming the TensorProto', () => {
    expect(findingFrom(() => decodeTensorProto(illegalTag))).toBeUndefined();
    expect(thrownBy(() => decodeTensorProto(illegalTag)).message).toMatch(/^TensorProto: malformed protobuf.*illegal tag/);
  });
});
