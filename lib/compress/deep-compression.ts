// Deep Compression (Han, Mao & Dally 2016) as one call: magnitude pruning with fine-tuning
// under a polynomial schedule, sparsity-preserving weight clustering with cluster-preserving
// fine-tuning, then narrowed codebooks (int8) and float16 biases. Every stage is measured the
// same way: held-out accuracy, our ONNX export's bytes, and the compact format's bytes.
import { invalidType } from '../errors';
import { Model } from '../runtime/model';
import { evaluate, fit, FitOptions, FitProgress, LabelledData } from '../train/fit';
import { adam } from '../train/optimizers';
import { clusterWeights, ClusteredModel, ClusterInit, fineTuneClustered } from './cluster';
import { quantizeCodebooks } from './cluster-quantize';
import { packCompact } from './compact-format';
import { LayerPattern } from './compressible-weights';
import { prune, stripPruning } from './prune';

export interface DeepCompressionOptions {
  /** Fine-tuning data, and the held-out set every stage is scored on. */
  train: LabelledData;
  test: LabelledData;
  /** Default 0.8. */
  sparsity?: number;
  /** Default 16 (the exact-zero cluster included). */
  clusters?: number;
  init?: ClusterInit;
  layers?: LayerPattern[];
  /** Epochs of fine-tuning while pruning (default 2) and after clustering (default 1). */
  pruneEpochs?: number;
  clusterEpochs?: number;
  batchSize?: number;
  /** Learning rates of the two fine-tunings (Adam; defaults 5e-4 and 2e-4). */
  pruneLr?: number;
  clusterLr?: number;
  augment?: FitOptions['augment'];
  seed?: number;
  onProgress?: (stage: string, p: FitProgress) => void;
}

export interface StageResult {
  stage: string;
  accuracy: number;
  /** Bytes of the model as ONNX (model.toOnnx()). */
  onnxBytes: number;
  /** Bytes of packCompact(model). */
  compactBytes: number;
  /** Training throughput of the stage's fine-tuning, images/s (absent for stages without). */
  trainImagesPerSecond?: number;
  model: Model;
}

export async function deepCompress(model: Model, opts: DeepCompressionOptions): Promise<{ stages: StageResult[]; final: ClusteredModel }> {
  if (!(model instanceof Model)) throw invalidType('model', 'a trained Model', model);
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', '{ train, test, ... }', opts);
  const sparsity = opts.sparsity ?? 0.8;
  const clusters = opts.clusters ?? 16;
  const batchSize = opts.batchSize ?? 32;
  const pruneEpochs = opts.pruneEpochs ?? 2;
  const clusterEpochs = opts.clusterEpochs ?? 1;
  const seed = opts.seed ?? 0;
  const stages: StageResult[] = [];
  const measure = async (stage: string, m: Model, imagesPerSecond?: number): Promise<void> => {
    const accuracy = (await evaluate(m, opts.test)).accuracy!;
    stages.push({ stage, accuracy, onnxBytes: m.toOnnx().byteLength, compactBytes: packCompact(m).byteLength, trainImagesPerSecond: imagesPerSecond, model: m });
  };
  const rate = (h: { epochs: { samplesPerSecond: number }[] }): number => h.epochs.reduce((s, e) => s + e.samplesPerSecond, 0) / h.epochs.length;
  await measure('FP32', model);

  // Pruning: reach the final sparsity after half of the fine-tuning steps, hold it for the rest.
  const steps = Math.ceil(opts.train.x.dims[0] / batchSize) * pruneEpochs;
  const end = Math.max(1, Math.floor(steps / 2));
  const pruning = prune(model, { sparsity, layers: opts.layers, schedule: { kind: 'polynomial', begin: 0, end, frequency: Math.max(1, Math.floor(end / 10)) } });
  const pruneHistory = await fit(pruning, opts.train, {
    epochs: pruneEpochs, batchSize, optimizer: adam({ lr: opts.pruneLr ?? 5e-4 }), augment: opts.augment, seed: seed + 1,
    onProgress: (p) => { pruning.onStep(); opts.onProgress?.('prune', p); },
  });
  if (pruning.steps < end) pruning.applySparsity(sparsity);  // fewer batches than planned: finish the schedule
  const pruned = stripPruning(pruning);
  await measure(`pruned ${Math.round(sparsity * 100)}%`, pruned, rate(pruneHistory));

  const clustered = await clusterWeights(pruned, { clusters, init: opts.init, layers: opts.layers, seed });
  await measure(`clustered ${clusters} (before fine-tuning)`, clustered);
  const clusterHistory = await fineTuneClustered(clustered, opts.train, {
    epochs: clusterEpochs, batchSize, optimizer: adam({ lr: opts.clusterLr ?? 2e-4 }), augment: opts.augment, seed: seed + 2,
    onProgress: (p) => opts.onProgress?.('cluster', p),
  });
  await measure(`clustered ${clusters}, fine-tuned`, clustered, rate(clusterHistory));

  const final = quantizeCodebooks(clustered, { codebook: 'int8', otherWeights: 'float16' });
  await measure('int8 codebooks, float16 biases', final);
  return { stages, final };
}
