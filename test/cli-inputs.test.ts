// The CLI's input readers: the strict .npy parser, and feeds/labels from .npy, .json and
// directories checked against a model's input specs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { encodeNpy, parseNpy } from '../lib/cli/npy';
import { readFeeds, readLabels } from '../lib/cli/inputs';
import type { ValueSpec } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';

const dir = mkdtempSync(join(tmpdir(), 'nquant-cli-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Uint8Array | string): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

/** A .npy header by hand, for files numpy would never write. */
function rawNpy(header: string, data: Uint8Array, version = 1): Uint8Array {
  const lenBytes = version === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lenBytes + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true); else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 8 + lenBytes);
  out.set(data, 8 + lenBytes + header.length);
  return out;
}

describe('.npy', () => {
  test('float32, uint8 and int64 round-trip with their dims', () => {
    const cases = [
      new Tensor('float32', new Float32Array([1.5, -2, 3.25, 0, 7, -0.5]), [2, 3]),
      new Tensor('uint8', new Uint8Array([0, 255, 7]), [3]),
      new Tensor('int64', new BigInt64Array([-1n, 2n ** 40n]), [1, 2]),
      new Tensor('float32', new Float32Array([42]), []),
    ];
    for (const t of cases) {
      const bytes = encodeNpy(t);
      // numpy aligns the data to 64 bytes; readers rely on it.
      expect((bytes.length - (t.data as ArrayBufferView).byteLength) % 64).toBe(0);
      const back = parseNpy(bytes);
      expect(back.dtype).toBe(t.dtype);
      expect([...back.dims]).toEqual([...t.dims]);
      expect(Array.from(back.data as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
  });

  test('reads a version 2 header and data that starts at an odd offset', () => {
    const data = new Uint8Array(new BigInt64Array([5n, -6n]).buffer);
    const t = parseNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n", data, 2), 'x.npy');
    expect(Array.from(t.data as BigInt64Array)).toEqual([5n, -6n]);
  });

  test('malformed files are errors that name the file and the problem', () => {
    const f4 = new Uint8Array(new Float32Array([1, 2]).buffer);
    const cases: [Uint8Array, RegExp][] = [
      [Buffer.from('not numpy at all'), /bad\.npy: not a \.npy file/],
      [rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4), /bad\.npy: dtype '>f4' is not supported/],
      [rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /dtype '<f8' is not supported/],
      [rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4), /fortran_order is True/],
      [rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4), /data is 8 bytes, shape \(3\) of float32 needs 12/],
      [rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(12)), /data is 12 bytes/],
      [rawNpy("{'descr': '<f4', 'shape': (2,), }", f4), /no 'fortran_order'/],
      [rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4), /shape entry '-2'/],
      [rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4, 4), /unsupported \.npy version 4/],
      [rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4).subarray(0, 20), /truncated header/],
    ];
    for (const [bytes, message] of cases) expect(() => parseNpy(bytes, 'bad.npy')).toThrow(message);
  });
});

describe('readFeeds', () => {
  const image: ValueSpec[] = [{ name: 'x', dtype: 'float32', dims: [1, 2, 3] }];
  const dynamic: ValueSpec[] = [{ name: 'x', dtype: 'float32', dims: ['batch', 3] }];
  const two: ValueSpec[] = [{ name: 'a', dtype: 'float32', dims: [1, 2] }, { name: 'ids', dtype: 'int64', dims: [1] }];
  const values = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

  test('a .npy stack of batch-1 inputs becomes one feed per sample', () => {
    const p = file('stack.npy', encodeNpy(new Tensor('float32', values(4 * 6), [4, 2, 3])));
    const feeds = readFeeds(p, image, '--calib');
    expect(feeds).toHaveLength(4);
    expect([...feeds[3].x.dims]).toEqual([1, 2, 3]);
    expect(Array.from(feeds[3].x.data as Float32Array)).toEqual([18, 19, 20, 21, 22, 23]);
    // Stacked along a new axis works the same.
    const q = file('stack5.npy', encodeNpy(new Tensor('float32', values(2 * 6), [2, 1, 2, 3])));
    expect(readFeeds(q, image, '--calib')).toHaveLength(2);
  });

  test('an array that fits a dynamic batch dim is one feed', () => {
    const p = file('batch.npy', encodeNpy(new Tensor('float32', values(15), [5, 3])));
    const feeds = readFeeds(p, dynamic, '--data');
    expect(feeds).toHaveLength(1);
    expect([...feeds[0].x.dims]).toEqual([5, 3]);
  });

  test('wrong dims or dtype in a .npy name the file, the input and both shapes', () => {
    const p = file('wrong.npy', encodeNpy(new Tensor('float32', values(8), [2, 4])));
    expect(() => readFeeds(p, image, '--calib')).toThrow(/wrong\.npy: input 'x' takes dims \[1, 2, 3\].*received \[2, 4\]/);
    const u = file('bytes.npy', encodeNpy(new Tensor('uint8', new Uint8Array(6), [1, 2, 3])));
    expect(() => readFeeds(u, image, '--calib')).toThrow(/bytes\.npy: input 'x' takes float32, received uint8/);
  });

  test('JSON: a plain nested array for a single input, or a list of { input: value }', () => {
    const plain = file('plain.json', JSON.stringify([[[[0, 1, 2], [3, 4, 5]]], [[[6, 7, 8], [9, 10, 11]]]]));
    const feeds = readFeeds(plain, image, '--calib');
    expect(feeds).toHaveLength(2);
    expect(Array.from(feeds[1].x.data as Float32Array)).toEqual([6, 7, 8, 9, 10, 11]);
    const list = file('list.json', JSON.stringify([
      { a: { dims: [1, 2], data: [0.5, 1.5] }, ids: [7] },
      { a: [[2, 3]], ids: { dims: [1], data: [9] } },
    ]));
    const samples = readFeeds(list, two, '--data');
    expect(samples).toHaveLength(2);
    expect(samples[1].ids.dtype).toBe('int64');
    expect(Array.from(samples[1].ids.data as BigInt64Array)).toEqual([9n]);
    expect(Array.from(samples[0].a.data as Float32Array)).toEqual([0.5, 1.5]);
  });

  test('JSON errors name the file, the sample and the input', () => {
    const unknown = file('unknown.json', JSON.stringify([{ a: [[1, 2]], ids: [1], wrong: [1] }]));
    expect(() => readFeeds(unknown, two, '--calib')).toThrow(/unknown\.json \[sample 0\]: 'wrong' is not an input of the model \(inputs: 'a', 'ids'\)/);
    const missing = file('missing.json', JSON.stringify([{ a: [[1, 2]] }]));
    expect(() => readFeeds(missing, two, '--calib')).toThrow(/\[sample 0\]: no value for input 'ids'/);
    const ragged = file('ragged.json', JSON.stringify([[1, 2, 3], [4, 5]]));
    expect(() => readFeeds(ragged, dynamic, '--calib')).toThrow(/ragged\.json: nested arrays are not rectangular/);
    const fractional = file('frac.json', JSON.stringify([{ a: [[1, 2]], ids: [1.5] }]));
    expect(() => readFeeds(fractional, two, '--calib')).toThrow(/input 'ids' takes int64, received non-integer values/);
    // Typed arrays wrap silently (300 in uint8 reads 44): values outside the dtype are errors.
    const byte = [{ name: 'px', dtype: 'uint8', dims: [3] }] as ValueSpec[];
    expect(() => readFeeds(file('wrap.json', '[0, 255, 300]'), byte, '--calib')).toThrow(/wrap\.json: input 'px' takes uint8, value 2 is 300, outside \[0, 255\]/);
    expect(() => readFeeds(file('neg.json', '[0, -1, 3]'), byte, '--calib')).toThrow(/value 1 is -1, outside \[0, 255\]/);
    expect(readFeeds(file('edge.json', '[0, 255, 7]'), byte, '--calib')[0].px.data).toEqual(new Uint8Array([0, 255, 7]));
    const huge = file('huge.json', JSON.stringify([{ a: [[1, 2]], ids: [2 ** 60] }]));
    expect(() => readFeeds(huge, two, '--calib')).toThrow(/input 'ids' takes int64, value 0 is 1152921504606847000, outside/);
    const broken = file('broken.json', '[{"a": ');
    expect(() => readFeeds(broken, two, '--calib')).toThrow(/broken\.json: not valid JSON/);
    const single = file('single.npy', encodeNpy(new Tensor('float32', values(2), [1, 2])));
    expect(() => readFeeds(single, two, '--calib')).toThrow(/single\.npy: a \.npy file feeds a single input, the model has 2/);
  });

  test('a directory: .npy files for a single input, or one <input>.npy per input', () => {
    const d1 = join(dir, 'samples');
    mkdirSync(d1);
    writeFileSync(join(d1, '0.npy'), encodeNpy(new Tensor('float32', values(6), [1, 2, 3])));
    writeFileSync(join(d1, '1.npy'), encodeNpy(new Tensor('float32', values(12), [2, 2, 3])));
    expect(readFeeds(d1, image, '--calib')).toHaveLength(3);

    const d2 = join(dir, 'per-input');
    mkdirSync(d2);
    writeFileSync(join(d2, 'a.npy'), encodeNpy(new Tensor('float32', values(6), [3, 1, 2])));
    writeFileSync(join(d2, 'ids.npy'), encodeNpy(new Tensor('int64', new BigInt64Array([1n, 2n, 3n]), [3, 1])));
    const feeds = readFeeds(d2, two, '--calib');
    expect(feeds).toHaveLength(3);
    expect(Array.from(feeds[2].ids.data as BigInt64Array)).toEqual([3n]);

    writeFileSync(join(d2, 'extra.npy'), encodeNpy(new Tensor('float32', values(2), [2])));
    expect(() => readFeeds(d2, two, '--calib')).toThrow(/extra\.npy: 'extra' is not an input of the model/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(() => readFeeds(empty, image, '--calib')).toThrow(/empty: the directory holds no \.npy files/);
  });

  test('paths that do not exist or have another extension name the argument', () => {
    expect(() => readFeeds(join(dir, 'nope.npy'), image, '--calib')).toThrow(/^--calib: '.*nope\.npy' does not exist$/);
    expect(() => readFeeds(file('data.csv', '1,2'), image, '--data')).toThrow(/--data: '.*data\.csv' is neither a \.npy file, a \.json file nor a directory/);
  });
});

describe('readLabels', () => {
  test('JSON arrays and integer .npy files', () => {
    expect(readLabels(file('l.json', '[3, 1, [4, 1]]'))).toEqual([3, 1, 4, 1]);
    expect(readLabels(file('l.npy', encodeNpy(new Tensor('int64', new BigInt64Array([2n, 0n]), [2]))))).toEqual([2, 0]);
    expect(readLabels(file('u.npy', encodeNpy(new Tensor('uint8', new Uint8Array([9]), [1]))))).toEqual([9]);
  });

  test('non-integer or negative labels are errors naming the position', () => {
    expect(() => readLabels(file('bad.json', '[1, 2.5]'))).toThrow(/bad\.json: label 1 is 2\.5, expected a non-negative integer class id/);
    expect(() => readLabels(file('neg.json', '[-1]'))).toThrow(/label 0 is -1/);
    expect(() => readLabels(join(dir, 'none.json'))).toThrow(/--labels: '.*none\.json' does not exist/);
  });
});
