// `npm run bench -- gemm`: our INT8, INT4 and FP32 GEMMs against onnxruntime-node in one
// process, same inputs, shapes from real models, 1 and 2 threads, every ISA level side by side.
import * as os from 'os';
import type { Binding } from '../binding';
import { native } from '../lib/native';
import { ortMatMul, ortMatMulInteger, ortMatMulNBits } from './peers/ort-gemm';
import { gops, timeAsync } from './timing';

export interface GemmRow {
  shape: string;
  threads: number;
  kind: 'int8' | 'fp32' | 'int4';
  impl: string;
  gops: number;
  peer: string;
  peerGops: number;
  ratio: number;
}

const SHAPES: [number, number, number][] = [
  [1, 4096, 4096],  // an LLM-style GEMV
  [64, 3072, 768],  // BERT-base FFN, 64 tokens
  [128, 1024, 1024],
  [1024, 1024, 1024],
];

function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return out;
}

function seededFloats(n: number, seed: number): Float32Array {
  const bytes = seededBytes(n, seed);
  return Float32Array.from(bytes, (b) => (b - 127.5) / 128);
}

export async function benchGemm(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<GemmRow[]> {
  const log = opts.log ?? console.log;
  const rows: GemmRow[] = [];
  const isas = native.cpuInfo().supportedIsas.filter((i) => i !== 'scalar') as Binding.Isa[];
  const threadCounts = opts.quick ? [os.cpus().length >= 2 ? 2 : 1] : [1, 2];
  const minMs = opts.quick ? 150 : 500;
  const add = (r: GemmRow) => {
    rows.push(r);
    log(`${r.shape.padEnd(16)} t=${r.threads} ${r.kind.padEnd(4)} ${r.impl.padEnd(34)} ${r.gops.toFixed(1).padStart(8)} GOPS | ${r.peer.padEnd(24)} ${r.peerGops.toFixed(1).padStart(8)} GOPS | ratio ${r.ratio.toFixed(2)}`);
  };
  for (const threads of threadCounts) {
    native.setThreads(threads);
    for (const [m, n, k] of SHAPES) {
      const shape = `${m}x${n}x${k}`;
      const a8 = seededBytes(m * k, 1);
      const b8 = new Int8Array(seededBytes(k * n, 2).buffer);
      const za = 128;
      const af = seededFloats(m * k, 3);
      const bf = seededFloats(k * n, 4);
      const t = (fn: () => Promise<unknown>) => timeAsync(fn, { minMs });

      // INT8: u8 activations x s8 weights -> int32, as ORT's MatMulInteger.
      const ortI = await ortMatMulInteger(a8, za, b8, m, n, k, threads);
      const ortIg = gops(m, n, k, (await t(ortI.run)).medianMs);
      await ortI.release();
      const c32 = new Int32Array(m * n);
      for (const isa of isas) {
        const w = native.qgemmPackB(b8, k, n, false, null, isa);
        const g = gops(m, n, k, (await t(() => native.qgemm(a8, m, za, w, c32, {}, true))).medianMs);
        add({ shape, threads, kind: 'int8', impl: w.kernel, gops: g, peer: 'ORT MatMulInteger', peerGops: ortIg, ratio: g / ortIg });
        if (m === 1 || isa === isas[0]) {
          // onnxruntime-node runs a session on the main thread (session.run inside setImmediate).
          // Our Promise row above does the same for calls estimated to take up to the async
          // inline budget (2 ms: at the best ISA every shape here but 1024^3, and FP32 1x4096x4096
          // whose 64 MiB of weights count as slow); longer calls hop to a libuv thread (two thread
          // wake-ups, tens of microseconds) to keep the event loop free. The sync row has no
          // setImmediate and no hop: the kernel against ORT's session.
          const gs = gops(m, n, k, (await t(async () => native.qgemm(a8, m, za, w, c32, {}, false))).medianMs);
          add({ shape, threads, kind: 'int8', impl: `${w.kernel} (sync)`, gops: gs, peer: 'ORT MatMulInteger', peerGops: ortIg, ratio: gs / ortIg });
        }
        w.dispose();
      }

      // FP32: the honest baseline.
      const ortF = await ortMatMul(af, bf, m, n, k, threads);
      const ortFg = gops(m, n, k, (await t(ortF.run)).medianMs);
      await ortF.release();
      const cf = new Float32Array(m * n);
      for (const isa of isas) {
        const w = native.sgemmPackB(bf, k, n, false, isa);
        const g = gops(m, n, k, (await t(() => native.sgemm(af, m, w, cf, {}, true))).medianMs);
        add({ shape, threads, kind: 'fp32', impl: w.kernel, gops: g, peer: 'ORT MatMul', peerGops: ortFg, ratio: g / ortFg });
        if (isa === isas[0]) {
          const gs = gops(m, n, k, (await t(async () => native.sgemm(af, m, w, cf, {}, false))).medianMs);
          add({ shape, threads, kind: 'fp32', impl: `${w.kernel} (sync)`, gops: gs, peer: 'ORT MatMul', peerGops: ortFg, ratio: gs / ortFg });
        }
        w.dispose();
      }

      // INT4 weights for the memory-bound M=1 row, against ORT's INT8 and its own 4-bit kernel.
      if (m === 1) {
        const block = 32;
        const wt = seededFloats(n * k, 5);  // n x k: one row per output channel
        const q = native.int4QuantizeBlockwise(wt, n, k, block, true);
        const ortN = await ortMatMulNBits(af, q.packed, q.scales, m, n, k, block, threads);
        const ortNg = gops(m, n, k, (await t(ortN.run)).medianMs);
        await ortN.release();
        for (const isa of isas) {
          const w = native.int4Pack(q.packed, q.scales, null, n, k, block, isa);
          for (const int8 of [false, true]) {
            for (const sync of [false, true]) {
              const g = gops(m, n, k, (await t(async () => (sync ? native.int4Gemm(af, m, w, null, int8, cf, false) : native.int4Gemm(af, m, w, null, int8, cf, true)))).medianMs);
              const impl = `${w.kernel}${int8 ? ' (s8 acts)' : ''}${sync ? ' (sync)' : ''}`;
              add({ shape, threads, kind: 'int4', impl, gops: g, peer: 'ORT MatMulInteger (INT8)', peerGops: ortIg, ratio: g / ortIg });
              add({ shape, threads, kind: 'int4', impl, gops: g, peer: 'ORT MatMulNBits (INT4)', peerGops: ortNg, ratio: g / ortNg });
            }
          }
          w.dispose();
        }
      }
    }
  }
  return rows;
}
