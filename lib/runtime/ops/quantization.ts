// ONNX quantization operators on Tensors, computed by the native kernels:
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul.
import { invalidRange, invalidType } from '../../errors';
import { native } from '../../native';
import { Tensor } from '../../tensor';

type ByteTensor = Tensor<'uint8'> | Tensor<'int8'>;

function isByteTensor(t: Tensor): t is ByteTensor {
  return t.dtype === 'uint8' || t.dtype === 'int8';
}

function normalizeAxis(axis: number, rank: number, name: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw invalidRange(name, `an axis in [${-rank}, ${rank - 1}]`, axis);
  return a;
}

/** [outer, inner] around `axis` when the params are per-axis; [1, 1] when per-tensor. */
function axisSplit(dims: readonly number[], paramCount: number, paramRank: number, axis: number, what: string): [number, number] {
  if (paramRank === 0 || (paramCount === 1 && paramRank <= 1 && dims.length === 0)) return [1, 1];
  if (paramRank !== 1) throw invalidRange(`${what} scale`, 'a scalar or a 1-D tensor', `rank ${paramRank}`);
  const a = normalizeAxis(axis, dims.length, `${what} axis`);
  if (dims[a] !== paramCount) {
    throw invalidRange(`${what} scale`, `${dims[a]} values (dim ${a} of the input)`, `${paramCount} values`);
  }
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= dims[i];
  let inner = 1;
  for (let i = a + 1; i < dims.length; i++) inner *= dims[i];
  return [outer, inner];
}

function zeroPointsOf(zp: ByteTensor | undefined, count: number, what: string): Int32Array | null {
  if (!zp) return null;
  if (zp.size !== count) throw invalidRange(`${what} zero point`, `${count} values like the scale`, `${zp.size} values`);
  return Int32Array.from(zp.data as ArrayLike<number>);
}

/** ONNX QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point). */
export function quantizeLinear(x: Tensor<'float32'>, scale: Tensor<'float32'>, zeroPoint?: ByteTensor, axis = 1): ByteTensor {
  if (x.dtype !== 'float32') throw invalidType('QuantizeLinear x', 'a float32 tensor', x.dtype);
  if (zeroPoint && !isByteTensor(zeroPoint)) throw invalidType('QuantizeLinear zero point', 'a uint8 or int8 tensor', (zeroPoint as Tensor).dtype);
  const [outer, inner] = axisSplit(x.dims, scale.size, scale.dims.length, axis, 'QuantizeLinear');
  const signed = zeroPoint?.dtype === 'int8';
  const y = signed ? new Int8Array(x.size) : new Uint8Array(x.size);
  native.quantizeLinear(x.data, outer, inner, scale.data, zeroPointsOf(zeroPoint, scale.size, 'QuantizeLinear'), y, false);
  return (signed ? new Tensor('int8', y as Int8Array, x.dims) : new Tensor('uint8', y as Uint8Array, x.dims));
}

/** ONNX DequantizeLinear: y = (x - zero_point) * scale. int32 input (biases) included. */
export function dequantizeLinear(x: ByteTensor | Tensor<'int32'>, scale: Tensor<'float32'>, zeroPoint?: ByteTensor | Tensor<'int32'>, axis = 1): Tensor<'float32'> {
  const [outer, inner] = axisSplit(x.dims, scale.size, scale.dims.length, axis, 'DequantizeLinear');
  const y = new Float32Array(x.size);
  if (x.dtype === 'int32') {
    const channels = scale.size;
    const zp = zeroPoint?.data as ArrayLike<number> | undefined;
    for (let i = 0; i < x.size; i++) {
      const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
      y[i] = (x.data[i] - (zp ? zp[c] : 0)) * scale.data[c];
    }
    return new Tensor('float32', y, x.dims);
  }
  if (!isByteTensor(x)) throw invalidType('DequantizeLinear x', 'a uint8, int8 or int32 tensor', (x as Tensor).dtype);
  if (zeroPoint && zeroPoint.dtype !== x.dtype) throw invalidType('DequantizeLinear zero point', `${x.dtype} like x`, zeroPoint.dtype);
  native.dequantizeLinear(x.data, outer, inner, scale.data, zeroPointsOf(zeroPoint as ByteTensor | undefined, scale.size, 'DequantizeLinear'), y, false);
  return new Tensor('float32', y, x.dims);
}

/** ONNX DynamicQuantizeLinear: uint8 with scale and zero point from the data's range. */
export function dynamicQuantizeLinear(x: Tensor<'float32'>): [Tensor<'uint8'>, Tensor<'float32'>, Tensor<'uint8'>] {
  if (x.dtype !== 'float32') throw invalidType('DynamicQuantizeLinear x', 'a float32 tensor', x.dtype);
  const y = new Uint8Array(x.size);
  const { scale, zeroPoint } = native.dynamicQuantizeU8(x.data, y);
  return [new Tensor('uint8', y, x.dims), new Tensor('float32', new Float32Array([scale]), []), new Tensor('uint8', new Uint8Array([zeroPoint]), [])];
}

interface MatMulShape {
  batch: number;
  m: number;
  k: number;
  n: number;
  outDims: number[];
  aBatchStride: number;
  bBatchStride: number;
}

/** Shapes of A [..., M, K] x B [..., K, N] with numpy broadcasting over the batch dims. */
function matmulShape(a: readonly number[], b: readonly number[], what: string): MatMulShape {
  if (a.length < 2 || b.length < 2) throw invalidRange(`${what} inputs`, 'rank >= 2 (1-D MatMul is not supported here)', `ranks ${a.length} and ${b.length}`);
  const m = a[a.length - 2];
  const k = a[a.length - 1];
  const kb = b[b.length - 2];
  const n = b[b.length - 1];
  if (k !== kb) throw invalidRange(`${what} B`, `${k} rows to match A's last dim`, `${kb} rows`);
  const aBatch = a.slice(0, -2);
  const bBatch = b.slice(0, -2);
  const aBatchSize = aBatch.reduce((p, d) => p * d, 1);
  const bBatchSize = bBatch.reduce((p, d) => p * d, 1);
  if (bBatchSize !== 1 && aBatchSize !== 1 && aBatch.join(',') !== bBatch.join(',')) {
    throw invalidRange(`${what} batch dims`, 'equal batch dims (or one side without batch)', `[${aBatch}] and [${bBatch}]`);
  }
  const batchDims = aBatchSize >= bBatchSize ? aBatch : bBatch;
  return {
    batch: Math.max(aBatchSize, bBatchSize),
    m, k, n,
    outDims: [...batchDims, m, n],
    aBatchStride: aBatchSize === 1 ? 0 : m * k,
    bBatchStride: bBatchSize === 1 ? 0 : k * n,
  };
}

function perColumn(t: Tensor | undefined, n: number, what: string): number[] | null {
  if (!t) return null;
  if (t.size !== 1 && t.size !== n) throw invalidRange(what, `1 or ${n} values`, `${t.size} values`);
  return Array.from(t.data as ArrayLike<number>);
}

function zeroPointScalar(t: ByteTensor | undefined, what: string): number {
  if (!t) return 0;
  if (t.size !== 1) throw invalidRange(what, 'a single value (per-row A zero points are not supported)', `${t.size} values`);
  return t.data[0];
}

/** Runs one GEMM per batch item: B packed per item (B here is an activation or a constant). */
function batchedQGemm(
  a: ByteTensor, b: ByteTensor, shape: MatMulShape, aZp: number, bZps: number[] | null,
  out: Int32Array | Uint8Array | Int8Array, options: Parameters<typeof native.qgemm>[5],
): void {
  const { batch, m, k, n } = shape;
  const zps = bZps ? Int32Array.from(bZps) : null;
  let packedFor = -1;
  let weights: ReturnType<typeof native.qgemmPackB> | undefined;
  try {
    for (let i = 0; i < batch; i++) {
      const bOffset = i * shape.bBatchStride;
      if (bOffset !== packedFor) {
        weights?.dispose();
        weights = native.qgemmPackB(b.data.subarray(bOffset, bOffset + k * n), k, n, false, zps);
        packedFor = bOffset;
      }
      const aOffset = i * shape.aBatchStride;
      native.qgemm(a.data.subarray(aOffset, aOffset + m * k), m, aZp, weights as NonNullable<typeof weights>,
        out.subarray(i * m * n, (i + 1) * m * n), options, false);
    }
  } finally {
    weights?.dispose();
  }
}

/** ONNX MatMulInteger: int32 (A - a_zero_point) x (B - b_zero_point). */
export function matMulInteger(a: ByteTensor, b: ByteTensor, aZeroPoint?: ByteTensor, bZeroPoint?: ByteTensor): Tensor<'int32'> {
  if (!isByteTensor(a) || !isByteTensor(b)) throw invalidType('MatMulInteger inputs', 'uint8 or int8 tensors', `${a.dtype} and ${b.dtype}`);
  const shape = matmulShape(a.dims, b.dims, 'MatMulInteger');
  const out = new Int32Array(shape.batch * shape.m * shape.n);
  batchedQGemm(a, b, shape, zeroPointScalar(aZeroPoint, 'MatMulInteger a_zero_point'), perColumn(bZeroPoint, shape.n, 'MatMulInteger b_zero_point'), out, {});
  return new Tensor('int32', out, shape.outDims);
}

/** ONNX QLinearMatMul: y = saturate(round((A - za)(B - zb) * sa*sb/sy) + zy). */
export function qlinearMatMul(
  a: ByteTensor, aScale: Tensor<'float32'>, aZeroPoint: ByteTensor,
  b: ByteTensor, bScale: Tensor<'float32'>, bZeroPoint: ByteTensor,
  yScale: Tensor<'float32'>, yZeroPoint: ByteTensor,
): ByteTensor {
  const shape = matmulShape(a.dims, b.dims, 'QLinearMatMul');
  if (aScale.size !== 1) throw invalidRange('QLinearMatMul a_scale', 'a single value', `${aScale.size} values`);
  if (yScale.size !== 1) throw invalidRange('QLinearMatMul y_scale', 'a single value', `${yScale.size} values`);
  const bScales = perColumn(bScale, shape.n, 'QLinearMatMul b_scale') as number[];
  // The effective scale is computed in float32, as the ONNX reference and onnxruntime do.
  const f = Math.fround;
  const requantScales = Float32Array.from(bScales, (s) => f(f(aScale.data[0] * s) / yScale.data[0]));
  const signed = yZeroPoint.dtype === 'int8';
  const out = signed ? new Int8Array(shape.batch * shape.m * shape.n) : new Uint8Array(shape.batch * shape.m * shape.n);
  batchedQGemm(a, b, shape, zeroPointScalar(aZeroPoint, 'QLinearMatMul a_zero_point'), perColumn(bZeroPoint, shape.n, 'QLinearMatMul b_zero_point'), out, {
    requantScales,
    outZeroPoint: yZeroPoint.data[0],
  });
  return signed ? new Tensor('int8', out as Int8Array, shape.outDims) : new Tensor('uint8', out as Uint8Array, shape.outDims);
}
