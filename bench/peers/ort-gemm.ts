// onnxruntime-node as the GEMM peer: MatMulInteger and MatMul models with the weights as
// initializers (so ORT prepacks them, as it would in a real model).
import * as ort from 'onnxruntime-node';
import { buildModel } from '../../lib/onnx/builder';
import { Tensor } from '../../lib/tensor';

export interface OrtGemm {
  run(): Promise<unknown>;
  release(): Promise<void>;
}

async function session(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/** C[int32] = (A[u8] - za) x B[s8] with B an initializer. */
export async function ortMatMulInteger(a: Uint8Array, za: number, b: Int8Array, m: number, n: number, k: number, threads: number): Promise<OrtGemm> {
  const bytes = buildModel({
    inputs: [{ name: 'A', dtype: 'uint8', dims: [m, k] }],
    outputs: [{ name: 'C', dtype: 'int32', dims: [m, n] }],
    initializers: { B: new Tensor('int8', b, [k, n]), za: new Tensor('uint8', new Uint8Array([za]), []) },
    nodes: [{ opType: 'MatMulInteger', inputs: ['A', 'B', 'za'], outputs: ['C'] }],
    opset: 17,
  });
  const s = await session(bytes, threads);
  const feeds = { A: new ort.Tensor('uint8', a, [m, k]) };
  return { run: () => s.run(feeds), release: () => s.release() };
}

/** C = A x B in float32 with B an initializer. */
export async function ortMatMul(a: Float32Array, b: Float32Array, m: number, n: number, k: number, threads: number): Promise<OrtGemm> {
  const bytes = buildModel({
    inputs: [{ name: 'A', dtype: 'float32', dims: [m, k] }],
    outputs: [{ name: 'C', dtype: 'float32', dims: [m, n] }],
    initializers: { B: new Tensor('float32', b, [k, n]) },
    nodes: [{ opType: 'MatMul', inputs: ['A', 'B'], outputs: ['C'] }],
    opset: 17,
  });
  const s = await session(bytes, threads);
  const feeds = { A: new ort.Tensor('float32', a, [m, k]) };
  return { run: () => s.run(feeds), release: () => s.release() };
}

/** C = A x dequant(B) with B as 4-bit blocks (com.microsoft MatMulNBits), weights rows = N. */
export async function ortMatMulNBits(a: Float32Array, packed: Uint8Array, scales: Float32Array, m: number, n: number, k: number, blockSize: number, threads: number): Promise<OrtGemm> {
  const blocks = Math.ceil(k / blockSize);
  const bytes = buildModel({
    inputs: [{ name: 'A', dtype: 'float32', dims: [m, k] }],
    outputs: [{ name: 'C', dtype: 'float32', dims: [m, n] }],
    initializers: {
      B: new Tensor('uint8', packed, [n, blocks, blockSize / 2]),
      scales: new Tensor('float32', scales, [n * blocks]),
    },
    nodes: [{
      opType: 'MatMulNBits', domain: 'com.microsoft', inputs: ['A', 'B', 'scales'], outputs: ['C'],
      attributes: { K: k, N: n, bits: 4, block_size: blockSize },
    }],
    opset: 17,
    domains: { 'com.microsoft': 1 },
  });
  const s = await session(bytes, threads);
  const feeds = { A: new ort.Tensor('float32', a, [m, k]) };
  return { run: () => s.run(feeds), release: () => s.release() };
}
