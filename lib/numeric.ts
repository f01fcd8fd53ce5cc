// Rounding shared by quantization and the runtime's integer lowering, so both round alike.

/** Round half to even, as ONNX QuantizeLinear (and numpy.round) do. */
export function roundHalfToEven(v: number): number {
  const r = Math.round(v); // ties go up
  // + 0 turns -0 (from rounding -0.5 < v <= 0) into the 0 integers compare as.
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE binary16 bits of a float32 value, rounded to nearest even (overflow to +-inf, NaN kept
 * quiet): the rule of nquant's native f32_to_f16 and of onnxruntime's Cast.
 */
export function float32ToFloat16Bits(v: number): number {
  f32[0] = v;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds to inf
  if (a < 0x38800000) {  // half subnormal or zero, in units of 2^-24
    const e = a >>> 23;
    if (e < 102) return sign;
    const m = (a & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let h = (((a >>> 23) - 112) << 10) | ((a >>> 13) & 0x3ff);
  const rem = a & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;  // a carry may bump the exponent
  return sign | h;
}

/** The float value of IEEE binary16 bits (exact). */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 31) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** The float16 value nearest to `v` (round to nearest even), as a number. */
export function roundToFloat16(v: number): number {
  return float16BitsToNumber(float32ToFloat16Bits(v));
}

/** Largest finite float16. */
export const FLOAT16_MAX = 65504;

let halfTable: Float32Array | undefined;

/** Widens a whole float16 array (bits) to float32 through a 64K-entry table. */
export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = float16BitsToNumber(h);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfTable[bits[i]];
  return out;
}
