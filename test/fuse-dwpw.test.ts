// A depthwise conv and the 1x1 conv reading its output run as one native step, band by band
// (ops::fuse_depthwise_pointwise), with the 1x1 expansion conv before them when there is one
// (ops::fuse_expand_depthwise_pointwise); setDepthwiseFusion(false) (or NQUANT_FUSE_DWPW=0)
// keeps them apart. The fused step must give the same bits, at 1 and 2 threads and across a
// batch.
import { getThreads, setThreads } from '../lib/cpu';
import { native } from '../lib/native';
import { load } from '../lib/runtime/load';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { mobilenetV2 } from '../bench/models/zoo';

/** Native steps of the model's only compiled plan. */
function planSteps(model: Model): number {
  const plans = (model as unknown as { plans: Map<string, { plan: { steps: number } }> }).plans;
  expect(plans.size).toBe(1);
  return [...plans.values()][0].plan.steps;
}

async function runWith(fuse: boolean, onnx: Uint8Array, x: Tensor): Promise<{ logits: Float32Array; steps: number }> {
  const before = native.setDepthwiseFusion(fuse);
  try {
    const model = await load(onnx);
    const out = await model.run({ input: x });
    const steps = planSteps(model);
    model.dispose();
    return { logits: out.logits.data as Float32Array, steps };
  } finally {
    native.setDepthwiseFusion(before);
  }
}

test('setDepthwiseFusion takes a boolean and returns the previous setting', () => {
  const before = native.setDepthwiseFusion(false);
  expect(native.setDepthwiseFusion(before)).toBe(false);
  expect(() => native.setDepthwiseFusion(1 as unknown as boolean)).toThrow(/on: expected a boolean/);
});

test('MobileNetV2: every inverted residual block runs as one step, and the logits keep every bit', async () => {
  const onnx = mobilenetV2();
  const x = new Tensor('float32', Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 224, 224]);
  const threadsBefore = getThreads();
  try {
    for (const threads of [1, 2]) {
      setThreads(threads);
      const apart = await runWith(false, onnx, x);
      const fused = await runWith(true, onnx, x);
      // 17 inverted residual blocks, each a depthwise conv followed by its projection, all but
      // the first with an expansion conv before, the first with the stem before: 17 x 3
      // convs become 17 steps.
      expect({ threads, fewerSteps: apart.steps - fused.steps }).toEqual({ threads, fewerSteps: 17 * 2 });
      expect(Buffer.from(fused.logits.buffer).equals(Buffer.from(apart.logits.buffer))).toBe(true);
    }
  } finally {
    setThreads(threadsBefore);
  }
});
