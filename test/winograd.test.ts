// Channels-last 3x3 stride-1 convs with constant weights run by Winograd F(4x4, 3x3)
// (native/ops/nn_conv_winograd.cc); setWinograd(false) (or NQUANT_WINOGRAD=0) keeps the direct
// conv. Winograd rounds differently from the direct sum, so the check is closeness, both to
// the direct conv and to onnxruntime, on ResNet-18, whose 3x3 layers all qualify.
import * as ort from 'onnxruntime-node';
import { getThreads, setThreads } from '../lib/cpu';
import { native } from '../lib/native';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { resnet18 } from '../bench/models/zoo';

async function logitsWith(winograd: boolean, onnx: Uint8Array, x: Tensor): Promise<Float32Array> {
  const before = native.setWinograd(winograd);
  try {
    const model = await load(onnx);
    const out = await model.run({ input: x });
    model.dispose();
    return Object.values(out)[0].data as Float32Array;
  } finally {
    native.setWinograd(before);
  }
}

/** max |a - b| over max |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let mag = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / mag;
}

test('setWinograd takes a boolean and returns the previous setting', () => {
  const before = native.setWinograd(false);
  expect(native.setWinograd(before)).toBe(false);
  expect(() => native.setWinograd('yes' as unknown as boolean)).toThrow(/on: expected a boolean/);
});

test('ResNet-18 by Winograd stays within 1e-5 of the direct conv and of onnxruntime', async () => {
  const onnx = resnet18();
  const x = new Tensor('float32', Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 224, 224]);
  const session = await ort.InferenceSession.create(onnx);
  const ortOut = await session.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.dims) });
  const reference = Object.values(ortOut)[0].data as Float32Array;
  const threadsBefore = getThreads();
  try {
    for (const threads of [1, 2]) {
      setThreads(threads);
      const direct = await logitsWith(false, onnx, x);
      const wino = await logitsWith(true, onnx, x);
      // Not bit-identical: the Winograd path really ran (measured ~6e-7 relative).
      expect(Buffer.from(wino.buffer).equals(Buffer.from(direct.buffer))).toBe(false);
      expect(relDiff(wino, direct)).toBeLessThan(1e-5);
      expect(relDiff(wino, reference)).toBeLessThan(1e-5);
    }
  } finally {
    setThreads(threadsBefore);
  }
});
