// Block-wise 4-bit quantization of a weight matrix, written straight into onnxruntime's
// MatMulNBits layout (the layout nquant's MatMulNBits op reads too):
//   packed      uint8 [N, nBlocks, blockSize / 2]: row n holds output channel n's K weights,
//               two per byte, low nibble first; each row is padded to nBlocks * blockSize values
//               with the block's zero point, so padding dequantizes to 0.
//   scales      float32 [N * nBlocks]
//   zeroPoints  uint8 [N * ceil(nBlocks / 2)], low nibble first per row (asymmetric only;
//               symmetric blocks use the implied zero point 8).
// value = (u - z) * scale.
// Rounding follows nquant's native int4_quantize_blockwise: symmetric scale = absmax / 7,
// q = clamp(round_half_even(x / scale), -8, 7); asymmetric over [min(0, lo), max(0, hi)] / 15
// with a rounded zero point. 'mse' searches, per block, a clip ratio r of that range over a
// grid and keeps the one with the least squared reconstruction error (r = 1 is RTN, so the
// search can only lower the error).
import { roundHalfToEven } from '../numeric';

export type Int4Method = 'rtn' | 'mse';

export interface Int4BlockOptions {
  blockSize: number;
  symmetric: boolean;
  method: Int4Method;
  /** Clip ratios tried by 'mse', each in (0, 1]. */
  mseGrid?: readonly number[];
}

export interface Int4Blocks {
  n: number;
  k: number;
  blockSize: number;
  nBlocks: number;
  packed: Uint8Array;
  scales: Float32Array;
  /** null when symmetric. */
  zeroPoints: Uint8Array | null;
  /** Sum over all weights of (w - dequantized w)^2. */
  squaredError: number;
}

/** 1.0 down to 0.5 in steps of 0.025: wide enough for outlier blocks, 21 tries per block. */
export const DEFAULT_MSE_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => 1 - i * 0.025);

interface BlockParams { scale: number; zero: number }

// Every step in float32 (Math.fround), as the native quantizer computes it, so RTN is bit-exact
// with int4_quantize_blockwise.
const f = Math.fround;

function paramsFor(lo: number, hi: number, absmax: number, symmetric: boolean, ratio: number): BlockParams {
  if (symmetric) {
    const scale = f(f(absmax * ratio) / 7);
    return scale > 0 ? { scale, zero: 8 } : { scale: 1, zero: 8 };
  }
  const l = f(Math.min(0, lo) * ratio), h = f(Math.max(0, hi) * ratio);
  if (!(h > l)) return { scale: 1, zero: 0 };
  const scale = f(f(h - l) / 15);
  return { scale, zero: roundHalfToEven(Math.min(15, Math.max(0, f(0 - f(l / scale))))) };
}

const code = (x: number, p: BlockParams): number => Math.min(15, Math.max(0, roundHalfToEven(f(x / p.scale)) + p.zero));

function blockError(w: Float32Array, start: number, len: number, p: BlockParams): number {
  let e = 0;
  for (let i = 0; i < len; i++) {
    const d = w[start + i] - (code(w[start + i], p) - p.zero) * p.scale;
    e += d * d;
  }
  return e;
}

/**
 * Quantizes `w`, N rows of K values (row n = output channel n, row-major), block by block
 * along K.
 */
export function quantizeInt4Blocks(w: Float32Array, n: number, k: number, o: Int4BlockOptions): Int4Blocks {
  const bs = o.blockSize;
  const nBlocks = Math.ceil(k / bs);
  const blob = bs / 2;
  const packed = new Uint8Array(n * nBlocks * blob);
  const scales = new Float32Array(n * nBlocks);
  const zpRow = Math.ceil(nBlocks / 2);
  const zeroPoints = o.symmetric ? null : new Uint8Array(n * zpRow);
  const grid = o.method === 'mse' ? (o.mseGrid ?? DEFAULT_MSE_GRID) : [1];
  let squaredError = 0;
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < nBlocks; b++) {
      const start = r * k + b * bs, len = Math.min(bs, k - b * bs);
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < len; i++) {
        const v = w[start + i];
        if (!Number.isFinite(v)) throw new RangeError(`weights: expected finite values, received ${v} at row ${r}, column ${b * bs + i}`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const absmax = Math.max(Math.abs(lo), Math.abs(hi));
      let best = paramsFor(lo, hi, absmax, o.symmetric, grid[0]);
      let bestErr = blockError(w, start, len, best);
      for (let g = 1; g < grid.length; g++) {
        const p = paramsFor(lo, hi, absmax, o.symmetric, grid[g]);
        const e = blockError(w, start, len, p);
        if (e < bestErr) { best = p; bestErr = e; }
      }
      squaredError += bestErr;
      scales[r * nBlocks + b] = best.scale;
      if (zeroPoints) zeroPoints[r * zpRow + (b >> 1)] |= best.zero << ((b & 1) * 4);
      const base = (r * nBlocks + b) * blob;
      for (let i = 0; i < bs; i++) {
        const u = i < len ? code(w[start + i], best) : best.zero;
        packed[base + (i >> 1)] |= u << ((i & 1) * 4);
      }
    }
  }
  return { n, k, blockSize: bs, nBlocks, packed, scales, zeroPoints, squaredError };
}

/** The float weights the blocks stand for, [N, K] row-major. */
export function dequantizeInt4Blocks(q: Int4Blocks): Float32Array {
  const { n, k, blockSize: bs, nBlocks } = q;
  const out = new Float32Array(n * k);
  const zpRow = Math.ceil(nBlocks / 2);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const b = Math.floor(c / bs), i = c - b * bs;
      const u = (q.packed[(r * nBlocks + b) * (bs / 2) + (i >> 1)] >> ((i & 1) * 4)) & 0xf;
      const z = q.zeroPoints ? (q.zeroPoints[r * zpRow + (b >> 1)] >> ((b & 1) * 4)) & 0xf : 8;
      out[r * k + c] = (u - z) * q.scales[r * nBlocks + b];
    }
  }
  return out;
}
