// Real models nobody here wrote, from npm packages: our runtime against onnxruntime-node on
// the same seeded inputs. Bound: 1e-4 relative to the output's largest magnitude (FP32 sums
// in a different order, plus folded BatchNorms, differ by ~1e-6 here; 1e-4 leaves room for
// deeper models without hiding a wrong op, which shows up as O(1) error).
import * as fs from 'fs';
import { load } from '../lib';
import { REAL_MODELS, rng, runOrt, relativeError } from './helpers/ort-models';

const REAL_MODEL_REL_TOL = 1e-4;

describe.each(REAL_MODELS)('$name', (m) => {
  test('matches onnxruntime-node on seeded inputs', async () => {
    const bytes = new Uint8Array(fs.readFileSync(m.path));
    const model = await load(bytes);
    try {
      for (const seed of [1, 2]) {
        const feeds = m.feeds(rng(seed));
        const ours = await model.run(feeds);
        const theirs = await runOrt(bytes, feeds);
        for (const name of Object.keys(theirs)) {
          expect(ours[name]).toBeDefined();
          expect([...ours[name].dims]).toEqual([...theirs[name].dims]);
          expect(relativeError(ours[name], theirs[name])).toBeLessThan(REAL_MODEL_REL_TOL);
        }
      }
    } finally {
      model.dispose();
    }
  });
});
