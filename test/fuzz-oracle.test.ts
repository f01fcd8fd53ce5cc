// The fuzzers' bug oracle (fuzz/js/oracle.js) on errors of each kind it must tell apart.
import { invalidRange } from '../lib/errors';
import { parseJsonFeeds } from '../lib/cli/inputs';
import { parseNpy } from '../lib/cli/npy';
import { findingOf } from '../fuzz/js/oracle';

const thrown = (run: () => unknown): unknown => {
  try {
    run();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};

test('our errors, of any class, are not findings', () => {
  expect(findingOf(invalidRange('dims[0]', 'a non-negative integer', -1))).toBeUndefined();
  expect(findingOf(thrown(() => parseJsonFeeds('[1, "a"]', [{ name: 'x', dtype: 'float32', dims: [2] }], 'f.json')))).toBeUndefined();
  expect(findingOf(thrown(() => parseNpy(new Uint8Array(4), 'x.npy')))).toBeUndefined();
});

test('engine errors are findings, even when our code wraps their message', () => {
  const undefinedRead = thrown(() => (JSON.parse('{}') as { a: { b: number } }).a.b);
  expect(findingOf(undefinedRead)).toMatch(/engine error.*Cannot read properties of undefined/);
  expect(findingOf(thrown(() => new Array(-1)))).toMatch(/Invalid array length/);
  expect(findingOf(new Error('ONNX model: malformed (x is not a function)'))).toMatch(/engine error/);
  expect(findingOf(new Error('wrapped', { cause: undefinedRead }))).toMatch(/engine error/);
});

test('errors made outside our code, and non-Errors, are findings', () => {
  expect(findingOf(thrown(() => JSON.parse('{')))).toMatch(/made outside our code \(SyntaxError/);
  expect(findingOf(thrown(() => Buffer.alloc(1).readUInt32LE(0)))).toMatch(/made outside our code/);
  expect(findingOf('a string')).toMatch(/non-Error/);
  expect(findingOf(undefined)).toMatch(/non-Error/);
});
