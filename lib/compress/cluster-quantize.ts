// The last step of Deep Compression's pipeline: narrow what is left after clustering. Codebook
// centroids snap to int8 × one scale per layer (or to float16), and the other float tensors
// (biases, unclustered weights) optionally to float16. The model computes with the snapped
// values, so its accuracy is the accuracy of what packCompact stores.
import { cloneGraph } from '../graph/clone';
import { invalidRange, invalidType } from '../errors';
import { Tensor } from '../tensor';
import { ClusteredLayer, ClusteredModel } from './cluster';
import { roundToFloat16 } from '../numeric';

export interface CodebookQuantOptions {
  /** Codebook values: int8 with a float32 scale per layer (symmetric, ±127), or float16. */
  codebook: 'int8' | 'float16';
  /** The remaining float32 initializers: kept (default) or snapped to float16. */
  otherWeights?: 'float32' | 'float16';
}

export function quantizeCodebooks(model: ClusteredModel, opts: CodebookQuantOptions): ClusteredModel {
  if (!(model instanceof ClusteredModel)) throw invalidType('model', 'a ClusteredModel from clusterWeights()', model);
  if (opts?.codebook !== 'int8' && opts?.codebook !== 'float16') throw invalidRange('quantizeCodebooks opts.codebook', "'int8' or 'float16'", opts?.codebook);
  const others = opts.otherWeights ?? 'float32';
  if (others !== 'float32' && others !== 'float16') throw invalidRange('quantizeCodebooks opts.otherWeights', "'float32' or 'float16'", others);
  const g = cloneGraph(model.ir.graph);
  const codebooks = new Set(model.clustering.map((l) => l.codebook));
  const layers: ClusteredLayer[] = model.clustering.map((l) => {
    const c = g.initializers.get(l.codebook)!.data as Float32Array;
    if (opts.codebook === 'float16') {
      g.initializers.set(l.codebook, new Tensor('float32', Float32Array.from(c, roundToFloat16), [c.length]));
      return { ...l, codebookEncoding: { type: 'float16' } };
    }
    let max = 0;
    for (const v of c) max = Math.max(max, Math.abs(v));
    const scale = Math.fround(max > 0 ? max / 127 : 1);
    const snapped = Float32Array.from(c, (v) => Math.fround(Math.max(-127, Math.min(127, Math.round(v / scale))) * scale));
    g.initializers.set(l.codebook, new Tensor('float32', snapped, [c.length]));
    return { ...l, codebookEncoding: { type: 'int8', scale } };
  });
  if (others === 'float16') {
    for (const [name, t] of g.initializers) {
      if (codebooks.has(name) || t.dtype !== 'float32') continue;
      g.initializers.set(name, new Tensor('float32', Float32Array.from(t.data as Float32Array, roundToFloat16), [...t.dims]));
    }
  } else {
    for (const [name, t] of g.initializers) {
      if (!codebooks.has(name) && t.dtype === 'float32') g.initializers.set(name, new Tensor('float32', Float32Array.from(t.data as Float32Array), [...t.dims]));
    }
  }
  return new ClusteredModel({ graph: g, meta: model.ir.meta }, layers, model.execution);
}
