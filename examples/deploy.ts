// Deployment, the tutorial's TorchScript section done with ONNX: quantize once, save the file,
// then (as a server would, in another process) load that file and run it, here and in
// onnxruntime-node, and check both give the answers the quantized model gave before saving.
//   npm run build && node dist/examples/deploy.js [out.onnx]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { load, quantizeStatic, sqnr, Tensor } from '../lib';

const MODEL = path.join(__dirname, '..', '..', 'node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');

function image(seed: number): Float32Array {
  return Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.sin(i * 0.013 * (seed + 1)) * 0.8);
}

async function main(): Promise<void> {
  const out = process.argv[2] ?? path.join(os.tmpdir(), 'ppocr_cls.int8.onnx');
  // 1. Quantize and save (the build step).
  const fp32 = await load(MODEL);
  const input = fp32.inputs[0].name;
  const feeds = (seed: number) => ({ [input]: new Tensor('float32', image(seed), [1, 3, 48, 192]) });
  const int8 = await quantizeStatic(fp32, [1, 2, 3, 4].map(feeds), { method: 'percentile' });
  await int8.save(out);
  const before = (await int8.run(feeds(9)))[fp32.outputs[0].name].data as Float32Array;
  console.log(`saved ${out}: ${fs.statSync(out).size} bytes (float model ${fs.statSync(MODEL).size} bytes)`);

  // 2. Deploy: only the file travels. Load it back and run it here and in onnxruntime-node.
  const deployed = await load(out);
  const ours = (await deployed.run(feeds(9)))[deployed.outputs[0].name].data as Float32Array;
  const session = await ort.InferenceSession.create(out);
  const theirs = (await session.run({ [input]: new ort.Tensor('float32', image(9), [1, 3, 48, 192]) }))[deployed.outputs[0].name].data as Float32Array;
  const show = (v: Float32Array) => `[${Array.from(v, (x) => x.toFixed(4)).join(', ')}]`;
  console.log(`before saving: ${show(before)}`);
  console.log(`nquant, loaded: ${show(ours)} (${Buffer.from(ours.buffer).equals(Buffer.from(before.buffer)) ? 'bit-identical' : `SQNR ${sqnr(before, ours).toFixed(1)} dB`})`);
  console.log(`onnxruntime:    ${show(theirs)} (SQNR vs nquant ${sqnr(ours, theirs).toFixed(1)} dB)`);
  await session.release();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
