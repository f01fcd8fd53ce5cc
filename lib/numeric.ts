// Rounding shared by quantization and the runtime's integer lowering, so both round alike.

/** Round half to even, as ONNX QuantizeLinear (and numpy.round) do. */
export function roundHalfToEven(v: number): number {
  const r = Math.round(v); // ties go up
  // + 0 turns -0 (from rounding -0.5 < v <= 0) into the 0 integers compare as.
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0;
}
