// The loader on corrupted real models: truncations, byte flips and corrupted length fields,
// seeded so failures reproduce. Every attempt must end in a ModelIR or an Error instance,
// quickly, without allocating beyond the bytes present.
import * as fs from 'fs';
import { exportModel } from '../lib/onnx/export';
import { importModel } from '../lib/onnx/import';
import { REAL_MODELS, rng } from './helpers/ort-models';

/** Generous per-attempt bound on a loaded 2-core machine; a hang would blow far past it. */
const MAX_MS_PER_ATTEMPT = 3000;
const ATTEMPTS_PER_MODEL = 120;

type Mutation = (bytes: Uint8Array, r: () => number) => { bytes: Uint8Array; what: string };

const pick = (r: () => number, n: number): number => Math.floor(r() * n);

const MUTATIONS: Mutation[] = [
  (b, r) => { const n = pick(r, b.length); return { bytes: b.subarray(0, n), what: `truncate at ${n}` }; },
  (b, r) => {
    const out = b.slice();
    const flips: number[] = [];
    for (let k = 1 + pick(r, 8); k > 0; k--) { const i = pick(r, out.length); out[i] ^= 1 << pick(r, 8); flips.push(i); }
    return { bytes: out, what: `flip bits at ${flips.join(',')}` };
  },
  (b, r) => {
    // A huge varint where a length field may sit: the decoder must not trust it.
    const out = b.slice();
    const i = pick(r, out.length - 6);
    out.set([0xff, 0xff, 0xff, 0xff, 0x0f], i);
    return { bytes: out, what: `huge varint at ${i}` };
  },
  (b, r) => {
    // Shrink or grow one byte right after a length-delimited tag (wire type 2).
    const out = b.slice();
    for (let tries = 0; tries < 64; tries++) {
      const i = pick(r, out.length - 2);
      if ((out[i] & 7) === 2 && out[i] >> 3 > 0 && out[i] >> 3 < 32) {
        out[i + 1] = (out[i + 1] + 1 + pick(r, 254)) & 0x7f;
        return { bytes: out, what: `length after tag at ${i}` };
      }
    }
    return { bytes: out, what: 'no tag found' };
  },
  (b, r) => {
    // Duplicate a random slice (repeated fields, shifted structure).
    const i = pick(r, b.length), n = pick(r, 256);
    const out = new Uint8Array(b.length + n);
    out.set(b.subarray(0, i)); out.set(b.subarray(i, i + n), i); out.set(b.subarray(i), i + Math.min(n, b.length - i));
    return { bytes: out, what: `duplicate ${n} bytes at ${i}` };
  },
];

describe.each(REAL_MODELS.map((m) => [m.name, m.path]))('fuzzing %s', (name, file) => {
  test(`${ATTEMPTS_PER_MODEL} seeded mutations end in a ModelIR or an Error`, () => {
    const original = new Uint8Array(fs.readFileSync(file));
    const r = rng(name.length * 7919);
    const outcomes = { ok: 0, error: 0 };
    for (let k = 0; k < ATTEMPTS_PER_MODEL; k++) {
      const { bytes, what } = MUTATIONS[k % MUTATIONS.length](original, r);
      const start = Date.now();
      try {
        const m = importModel(bytes, { maxBytes: 64 << 20 });
        exportModel(m);  // whatever imports must also export
        outcomes.ok++;
      } catch (e) {
        if (!(e instanceof Error)) throw new Error(`attempt ${k} (${what}): threw a non-Error ${String(e)}`);
        outcomes.error++;
      }
      const ms = Date.now() - start;
      if (ms > MAX_MS_PER_ATTEMPT) throw new Error(`attempt ${k} (${what}) took ${ms} ms`);
    }
    expect(outcomes.ok + outcomes.error).toBe(ATTEMPTS_PER_MODEL);
    expect(outcomes.error).toBeGreaterThan(0);
  });
});
