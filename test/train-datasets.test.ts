import { gzipSync } from 'zlib';
import { createHash } from 'crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { readIdx, loadFashionMnist, loadMnistDigits, FASHION_MNIST_CLASSES } from '../lib/train/datasets';
import type { ImageDataset } from '../lib/train/datasets';

// A 2x3 uint8 IDX file: magic 00 00 08 02, dims 2 and 3 (big-endian), six values.
const TINY = new Uint8Array([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);

function labelCounts(y: BigInt64Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of y) counts[Number(label)]++;
  return counts;
}

function imageHashes(d: ImageDataset): string[] {
  const out: string[] = [];
  const bytes = new Uint8Array(d.x.data.buffer, d.x.data.byteOffset, d.x.data.byteLength);
  for (let i = 0; i < d.y.size; i++) out.push(createHash('sha1').update(bytes.subarray(i * 784 * 4, (i + 1) * 784 * 4)).digest('hex'));
  return out;
}

// Byte equality: jest's toEqual walks big typed arrays element by element, which takes seconds.
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function pixelRange(x: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

describe('readIdx', () => {
  test('parses a hand-built uint8 file', () => {
    const r = readIdx(TINY);
    expect(r.dtype).toBe('uint8');
    expect(r.dims).toEqual([2, 3]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 255]);
  });

  test('undoes gzip transparently', () => {
    const r = readIdx(gzipSync(TINY));
    expect(r.dims).toEqual([2, 3]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 255]);
  });

  test('a 0-d file holds one element', () => {
    expect(Array.from(readIdx(new Uint8Array([0, 0, 8, 0, 42])).data)).toEqual([42]);
  });

  test('truncated input says what was expected and what was found', () => {
    expect(() => readIdx(TINY.subarray(0, TINY.length - 1))).toThrow('IDX: expected 6 data bytes for dims [2, 3], found 5 (truncated)');
    expect(() => readIdx(TINY.subarray(0, 9))).toThrow('IDX: expected 12 header bytes for 2 dims, found 9');
    expect(() => readIdx(TINY.subarray(0, 3))).toThrow('IDX: expected a 4-byte header, found 3 byte(s)');
    expect(() => readIdx(new Uint8Array([...TINY, 0]))).toThrow('found 7 (trailing bytes)');
    const gz = gzipSync(TINY);
    expect(() => readIdx(gz.subarray(0, gz.length - 10))).toThrow(/IDX: expected a valid gzip stream/);
  });

  test('other element types and bad magic are named', () => {
    const floats = TINY.slice();
    floats[2] = 0x0d;
    expect(() => readIdx(floats)).toThrow('found 0x0d (float32); only uint8 is supported');
    expect(() => readIdx(new Uint8Array([0x50, 0x4b, 3, 4]))).toThrow('IDX: expected magic bytes 0x00 0x00, found 0x50 0x4b');
  });
});

describe('loadFashionMnist', () => {
  test('the test split: 10,000 images, 1,000 per class, pixels in [0, 1]', async () => {
    const { x, y } = await loadFashionMnist({ split: 'test' });
    expect(x.dtype).toBe('float32');
    expect(x.dims).toEqual([10000, 1, 28, 28]);
    expect(y.dtype).toBe('int64');
    expect(y.dims).toEqual([10000]);
    expect(labelCounts(y.data)).toEqual(new Array(10).fill(1000));
    expect(pixelRange(x.data)).toEqual([0, 1]);
    expect(FASHION_MNIST_CLASSES).toHaveLength(10);
  });

  test('limit keeps the first examples', async () => {
    const full = await loadFashionMnist({ split: 'test' });
    const some = await loadFashionMnist({ split: 'test', limit: 100 });
    expect(some.x.dims).toEqual([100, 1, 28, 28]);
    expect(sameBytes(some.x.data, full.x.data.subarray(0, 100 * 784))).toBe(true);
    expect(sameBytes(some.y.data, full.y.data.subarray(0, 100))).toBe(true);
  });

  test('reads an unpacked copy from another folder', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fmnist-'));
    try {
      const images = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, ...new Array(2 * 784).fill(255)];
      writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), new Uint8Array(images));
      writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 9, 3]));
      const { x, y } = await loadFashionMnist({ dir, split: 'test' });
      expect(x.dims).toEqual([2, 1, 28, 28]);
      expect(pixelRange(x.data)).toEqual([1, 1]);
      expect(Array.from(y.data)).toEqual([9n, 3n]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('missing files name the path and the Debian package', async () => {
    await expect(loadFashionMnist({ dir: '/nonexistent/fmnist', split: 'test' })).rejects.toThrow(
      'Fashion-MNIST: /nonexistent/fmnist/t10k-images-idx3-ubyte.gz not found; `apt-get install dataset-fashion-mnist` provides it',
    );
  });
});

describe('loadMnistDigits', () => {
  const train = loadMnistDigits({ split: 'train', seed: 7 });
  const test_ = loadMnistDigits({ split: 'test', seed: 7 });

  test('splits 10,000 digits 80/20 in the Fashion-MNIST layout', () => {
    expect(train.x.dims).toEqual([8000, 1, 28, 28]);
    expect(test_.x.dims).toEqual([2000, 1, 28, 28]);
    expect(train.y.dtype).toBe('int64');
    expect(train.y.size + test_.y.size).toBe(10000);
    const [lo, hi] = pixelRange(train.x.data);
    expect(lo).toBe(0);
    expect(hi).toBe(1);
  });

  test('the splits are disjoint', () => {
    const seen = new Set(imageHashes(train));
    const shared = imageHashes(test_).filter((h) => seen.has(h));
    expect(shared).toEqual([]);
  });

  test('label counts are plausible: every digit present, shares near 10%', () => {
    const counts = labelCounts(train.y.data).map((c, i) => c + labelCounts(test_.y.data)[i]);
    // The package's per-digit counts, fixed by its data files.
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    for (const c of labelCounts(test_.y.data)) expect(c).toBeGreaterThan(120);
  });

  test('the same seed gives the same split; another seed another', () => {
    const again = loadMnistDigits({ split: 'test', seed: 7 });
    expect(sameBytes(again.x.data, test_.x.data)).toBe(true);
    expect(sameBytes(again.y.data, test_.y.data)).toBe(true);
    const other = loadMnistDigits({ split: 'test', seed: 8 });
    expect(sameBytes(other.y.data, test_.y.data)).toBe(false);
  });

  test('testFraction sets the split sizes; bad options are rejected', () => {
    expect(loadMnistDigits({ split: 'test', testFraction: 0.05 }).y.size).toBe(500);
    expect(() => loadMnistDigits({ testFraction: 1.5 })).toThrow('testFraction: expected a number in [0, 1], received 1.5');
    expect(() => loadMnistDigits({ seed: -1 })).toThrow(/seed/);
  });
});
