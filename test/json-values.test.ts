// The non-recursive JSON helpers against what they replace: Array.prototype.flat and
// JSON.stringify, on values shallow enough for those to handle.
import { flattenArrays, jsonPreview } from '../lib/json-values';
import { rng } from './helpers/ort-models';

function randomNested(r: () => number, depth: number): unknown[] {
  return Array.from({ length: Math.floor(r() * 4) }, () => (depth > 0 && r() < 0.5 ? randomNested(r, depth - 1) : Math.floor(r() * 100)));
}

test('flattenArrays(v, d) equals v.flat(d) for every depth', () => {
  const r = rng(17);
  for (let k = 0; k < 300; k++) {
    const v = randomNested(r, 5);
    for (const d of [0, 1, 2, 3, 7, Infinity]) expect(flattenArrays(v, d)).toEqual(v.flat(d));
  }
});

test('jsonPreview of a small value is its JSON text', () => {
  const v = { a: [1, 'two', null, true, { b: [] }], c: -0.5 };
  expect(jsonPreview(v, 1000)).toBe(JSON.stringify(v));
});

test('jsonPreview is bounded in length and depth', () => {
  expect(jsonPreview(new Array(10_000).fill(12345), 40)).toHaveLength(41);
  expect(jsonPreview(new Array(10_000).fill(12345), 40).endsWith('…')).toBe(true);
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  expect(jsonPreview(deep, 1000)).toBe(`${'['.repeat(6)}[…]${']'.repeat(6)}`);
});
