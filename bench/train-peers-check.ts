// Self-check of the training peers: 6,400 Fashion-MNIST images, each peer's images/s
// (torch at 1 and 2 threads; TF.js's CPU backend has no thread setting, so once).
// Run: npx tsc -p tsconfig.json && node dist/bench/train-peers-check.js [torchSteps] [tfjsSteps]
// TF.js takes seconds per step, so it gets far fewer steps than torch for a similar wall time.
import { loadFashionMnist } from '../lib/train/datasets';
import { tfjsTrainThroughput, torchTrainThroughput } from './train-peers';

async function main(): Promise<void> {
  const torchSteps = Number(process.argv[2] ?? 200);
  const tfjsSteps = Number(process.argv[3] ?? 10);
  const batchSize = 64;
  const { x, y } = await loadFashionMnist({ split: 'train', limit: 6400 });
  const labels = Int32Array.from(y.data, Number);
  console.log(`data: ${labels.length} Fashion-MNIST images, batch ${batchSize}`);

  for (const threads of [1, 2]) {
    const r = await torchTrainThroughput(x.data, labels, { threads, batchSize, steps: torchSteps, warmup: 10 });
    const what = `torch ${threads} thread(s), ${torchSteps} steps after 10 warmup`;
    console.log('unavailable' in r ? `${what}: unavailable: ${r.unavailable}` : `${what}: ${r.imagesPerSecond.toFixed(1)} img/s (torch ${r.version})`);
  }
  const t = await tfjsTrainThroughput(x.data, labels, { batchSize, steps: tfjsSteps, warmup: 2 });
  console.log(`tfjs cpu backend (1 thread), ${tfjsSteps} steps after 2 warmup: ${t.imagesPerSecond.toFixed(1)} img/s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
