// Weight sharing (Han et al.'s "trained quantization", TFMOT's weight clustering): each chosen
// weight becomes a codebook of `clusters` centroids (1-D k-means on the native kernel) and a
// uint8 index per weight. In the graph the weight is rebuilt by
//   Cast(indices: uint8 -> int32) -> Gather(codebook, indices, axis 0)
// which is plain ONNX that onnxruntime runs; our runtime runs it as a codebook lookup on every
// run (materializeClusters() decodes the weights once instead). Training through the Gather
// sends each centroid the summed gradient of its weights (GatherGrad), so fine-tuning keeps
// the weights on exactly `clusters` values.
import { cloneGraph } from '../graph/clone';
import { Graph, ModelIR, Node } from '../graph/ir';
import { assertInteger, invalidRange, invalidType } from '../errors';
import { native } from '../native';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { CONSTANT_PREFIX } from '../train/autograd';
import { constantNodesToInitializers } from '../train/session';
import { fit, FitHistory, FitOptions, TrainData } from '../train/fit';
import { compressibleWeights, LayerPattern } from './compressible-weights';

export type ClusterInit = 'kmeans++' | 'linear' | 'density';

export interface ClusterOptions {
  /** Distinct values per weight tensor, 2..256 (with preserveSparsity the zero is one of them). */
  clusters: number;
  /** Centroid initialization (default 'kmeans++'); see native/kernels/cluster.h. */
  init?: ClusterInit;
  /** Which weights (node or weight names, globs, RegExps); default every Conv/Gemm/MatMul weight. */
  layers?: LayerPattern[];
  /** Skip weights with fewer elements (default 4 × clusters: tiny tensors gain nothing). */
  minWeights?: number;
  /**
   * Exact zeros (a pruned weight's) form their own cluster with centroid exactly 0, and the
   * other clusters - 1 centroids come from the nonzero weights only (default true).
   */
  preserveSparsity?: boolean;
  /** Lloyd iterations at most (default 100). */
  maxIterations?: number;
  /** Seeds k-means++ (default 0). */
  seed?: number;
  /** How the result runs (default 'decode'); see ClusterExecution. */
  execution?: ClusterExecution;
}

/** How a layer's codebook values are stored by packCompact (set by quantizeCodebooks). */
export type CodebookEncoding = { type: 'float32' } | { type: 'float16' } | { type: 'int8'; scale: number };

export interface ClusteredLayer {
  node: string;
  /** The weight's name: now the Gather's output. */
  weight: string;
  /** Initializer names: float32 [clusters] centroids, and uint8 indices shaped like the weight. */
  codebook: string;
  indices: string;
  clusters: number;
  /** Position of the exact-zero centroid that holds pruned weights, or -1. */
  zeroCluster: number;
  /** Lloyd iterations run (absent for a model read back by unpackCompact). */
  iterations?: number;
  /** Root-mean-square distance of the weights to their centroids at clustering (absent likewise). */
  rmse?: number;
  codebookEncoding: CodebookEncoding;
}

/**
 * How a ClusteredModel runs: 'decode' rebuilds the dense weights once when its plan is built
 * (dequantize at load: the speed of the FP32 model, its memory too); 'lookup' runs the graph
 * as written, Cast + Gather on every run (only the codebooks and indices stay resident, but
 * each run pays for rebuilding the weights).
 */
export type ClusterExecution = 'decode' | 'lookup';

/** A model whose chosen weights are codebook + indices; fit it with fineTuneClustered(). */
export class ClusteredModel extends Model {
  private decoded?: Model;

  constructor(ir: ModelIR, readonly clustering: ClusteredLayer[], readonly execution: ClusterExecution = 'decode') {
    super(ir);
  }

  override get executionGraph(): Graph {
    if (this.execution === 'lookup') return super.executionGraph;
    this.decoded ??= materializeClusters(this);
    return this.decoded.executionGraph;
  }

  override weightsChanged(): void {
    super.weightsChanged();
    this.decoded?.dispose();
    this.decoded = undefined;
  }

  override dispose(): void {
    super.dispose();
    this.decoded?.dispose();
    this.decoded = undefined;
  }

  /** The same model (sharing its tensors) run the other way. */
  withExecution(execution: ClusterExecution): ClusteredModel {
    if (execution !== 'decode' && execution !== 'lookup') throw invalidRange('execution', "'decode' or 'lookup'", execution);
    return new ClusteredModel(this.ir, this.clustering, execution);
  }
}

export const INT32_ONNX = 6;

function copyFloatWeights(g: Graph): Graph {
  const out = cloneGraph(g);
  for (const [name, t] of out.initializers) {
    if (t.dtype === 'float32') out.initializers.set(name, new Tensor('float32', Float32Array.from(t.data as Float32Array), [...t.dims]));
  }
  return out;
}

function freshName(g: Graph, base: string): string {
  const taken = (n: string): boolean => g.initializers.has(n) || g.nodes.some((x) => x.outputs.includes(n) || x.name === n);
  let name = base;
  for (let i = 1; taken(name); i++) name = `${base}_${i}`;
  return name;
}

interface Codebook {
  centroids: Float32Array;
  indices: Uint8Array;
  zeroCluster: number;
  iterations: number;
  inertia: number;
}

async function clusterTensor(x: Float32Array, k: number, init: ClusterInit, iters: number, seed: number, preserveSparsity: boolean): Promise<Codebook> {
  let zeros = 0;
  for (let i = 0; i < x.length; i++) if (x[i] === 0) zeros++;
  const indices = new Uint8Array(x.length);
  if (!preserveSparsity || zeros === 0 || zeros === x.length) {
    const centroids = new Float32Array(k);
    const assignments = new Uint32Array(x.length);
    const r = await native.kmeans1d(x, k, init, iters, seed, centroids, assignments, true);
    for (let i = 0; i < x.length; i++) indices[i] = assignments[i];
    return { centroids, indices, zeroCluster: -1, iterations: r.iterations, inertia: r.inertia };
  }
  const nonzero = new Float32Array(x.length - zeros);
  for (let i = 0, j = 0; i < x.length; i++) if (x[i] !== 0) nonzero[j++] = x[i];
  const inner = new Float32Array(k - 1);
  const assignments = new Uint32Array(nonzero.length);
  const r = await native.kmeans1d(nonzero, k - 1, init, iters, seed, inner, assignments, true);
  // The zero goes where it sorts among the (ascending) centroids.
  let z = 0;
  while (z < inner.length && inner[z] < 0) z++;
  const centroids = new Float32Array(k);
  centroids.set(inner.subarray(0, z), 0);
  centroids[z] = 0;
  centroids.set(inner.subarray(z), z + 1);
  for (let i = 0, j = 0; i < x.length; i++) {
    if (x[i] === 0) indices[i] = z;
    else {
      const a = assignments[j++];
      indices[i] = a < z ? a : a + 1;
    }
  }
  return { centroids, indices, zeroCluster: z, iterations: r.iterations, inertia: r.inertia };
}

/**
 * Clusters the chosen weights of `model` (which is not modified) into `clusters` shared values
 * each. The result runs, trains (fineTuneClustered), exports to ONNX and packs (packCompact).
 */
export async function clusterWeights(model: Model, opts: ClusterOptions): Promise<ClusteredModel> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model', model);
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', '{ clusters, init?, layers?, ... }', opts);
  const k = assertInteger('clusterWeights opts.clusters', opts.clusters, 2, 256);
  const init = opts.init ?? 'kmeans++';
  if (init !== 'kmeans++' && init !== 'linear' && init !== 'density') throw invalidRange('clusterWeights opts.init', "'kmeans++', 'linear' or 'density'", init);
  const minWeights = assertInteger('clusterWeights opts.minWeights', opts.minWeights ?? 4 * k, 1);
  const iters = assertInteger('clusterWeights opts.maxIterations', opts.maxIterations ?? 100, 0, 1 << 20);
  const seed = assertInteger('clusterWeights opts.seed', opts.seed ?? 0, 0);
  const preserveSparsity = opts.preserveSparsity ?? true;
  if (model instanceof ClusteredModel) throw invalidType('model', 'a model that is not clustered yet', 'a ClusteredModel');

  const g = copyFloatWeights(model.ir.graph);
  // Weights some exporters write as Constant nodes (paddle2onnx) become initializers first.
  constantNodesToInitializers(g);
  if (typeof (model as { pruning?: unknown }).pruning === 'object') throw invalidType('model', 'a model without pruning masks (stripPruning() a PrunedModel first)', 'a PrunedModel');
  const chosen = compressibleWeights(g, { layers: opts.layers, minWeights, what: 'clusterWeights opts.layers' });
  if (chosen.length === 0) throw invalidRange('model', `a Conv/Gemm/MatMul float32 weight initializer with >= ${minWeights} elements to cluster`, 'none');
  const layers: ClusteredLayer[] = [];
  const decoders: Node[] = [];
  for (const w of chosen) {
    const cb = await clusterTensor(w.tensor.data, k, init, iters, seed, preserveSparsity);
    const codebook = freshName(g, `${w.weight}/codebook`);
    const indices = freshName(g, `${w.weight}/indices`);
    const indices32 = freshName(g, `${w.weight}/indices_int32`);
    g.initializers.delete(w.weight);
    g.inputs = g.inputs.filter((i) => i.name !== w.weight);
    g.initializers.set(codebook, new Tensor('float32', cb.centroids, [k]));
    g.initializers.set(indices, new Tensor('uint8', cb.indices, [...w.tensor.dims]));
    decoders.push(
      { name: `${w.weight}/cast_indices`, opType: 'Cast', domain: '', inputs: [indices], outputs: [indices32], attributes: new Map([['to', { type: 'int', value: INT32_ONNX }]]) },
      { name: `${w.weight}/lookup`, opType: 'Gather', domain: '', inputs: [codebook, indices32], outputs: [w.weight], attributes: new Map([['axis', { type: 'int', value: 0 }]]) },
    );
    layers.push({
      node: w.node, weight: w.weight, codebook, indices, clusters: k, zeroCluster: cb.zeroCluster,
      iterations: cb.iterations, rmse: Math.sqrt(cb.inertia / w.tensor.size), codebookEncoding: { type: 'float32' },
    });
  }
  g.nodes = [...decoders, ...g.nodes];
  const meta = { ...model.ir.meta, opsets: new Map(model.ir.meta.opsets), metadata: new Map(model.ir.meta.metadata) };
  const execution = opts.execution ?? 'decode';
  if (execution !== 'decode' && execution !== 'lookup') throw invalidRange('clusterWeights opts.execution', "'decode' or 'lookup'", execution);
  return new ClusteredModel({ graph: g, meta }, layers, execution);
}

/**
 * Cluster-preserving fine-tuning: fit() over the codebooks (and the other float weights, as
 * opts.trainable allows) while every weight stays codebook[index]. Exact-zero centroids of
 * sparsity-preserving layers stay exactly 0 (their gradient is masked). Trains `model` in place.
 */
export async function fineTuneClustered(model: ClusteredModel, data: TrainData, opts: FitOptions = {}): Promise<FitHistory> {
  if (!(model instanceof ClusteredModel)) throw invalidType('model', 'a ClusteredModel from clusterWeights()', model);
  // A view over the same tensors: training updates the model's codebooks in place.
  const g = cloneGraph(model.ir.graph);
  for (const layer of model.clustering) {
    if (layer.zeroCluster < 0) continue;
    const keep = new Float32Array(layer.clusters).fill(1);
    keep[layer.zeroCluster] = 0;
    const keepName = `${CONSTANT_PREFIX}${layer.codebook}/keep`;
    const kept = `${layer.codebook}/kept`;
    g.initializers.set(keepName, new Tensor('float32', keep, [layer.clusters]));
    const lookup = g.nodes.find((n) => n.opType === 'Gather' && n.outputs[0] === layer.weight);
    if (!lookup) throw new RangeError(`fineTuneClustered: the lookup of '${layer.weight}' is no longer in the graph`);
    lookup.inputs = [kept, lookup.inputs[1]];
    g.nodes.unshift({ name: `${layer.codebook}/keep_zero`, opType: 'Mul', domain: '', inputs: [layer.codebook, keepName], outputs: [kept], attributes: new Map() });
  }
  const view = new Model({ graph: g, meta: model.ir.meta }, { optimize: 'basic' });
  try {
    return await fit(view, data, opts);
  } finally {
    view.dispose();
    model.weightsChanged();
  }
}

/** The weights a layer's codebook and indices encode (codebook[index], shaped like the weight). */
export function decodeClusteredWeight(model: ClusteredModel, layer: ClusteredLayer): Tensor<'float32'> {
  const g = model.ir.graph;
  const cb = g.initializers.get(layer.codebook)!.data as Float32Array;
  const idx = g.initializers.get(layer.indices)! as Tensor<'uint8'>;
  const out = new Float32Array(idx.size);
  for (let i = 0; i < out.length; i++) out[i] = cb[idx.data[i]];
  return new Tensor('float32', out, [...idx.dims]);
}

/** A plain model with the clustered weights decoded once (dense float32): "dequantize at load". */
export function materializeClusters(model: ClusteredModel): Model {
  if (!(model instanceof ClusteredModel)) throw invalidType('model', 'a ClusteredModel from clusterWeights()', model);
  const g = cloneGraph(model.ir.graph);
  const decoded = new Set<string>();
  for (const layer of model.clustering) {
    g.initializers.set(layer.weight, decodeClusteredWeight(model, layer));
    g.initializers.delete(layer.codebook);
    g.initializers.delete(layer.indices);
    decoded.add(layer.weight);
  }
  g.nodes = g.nodes.filter((n) => !(n.opType === 'Gather' && decoded.has(n.outputs[0])) && !(n.opType === 'Cast' && model.clustering.some((l) => l.indices === n.inputs[0])));
  return new Model({ graph: g, meta: model.ir.meta });
}

/** Distinct values of a float tensor (for checking that clustering holds). */
export function distinctValues(t: Tensor<'float32'>): number {
  return new Set(t.data).size;
}
