// Training with binary weights: prepareBinaryTraining puts FakeBinarize (w -> sign(w)·α per
// output channel, the exact weights binarizeWeights will pack) in front of the chosen
// MatMul/Gemm nodes, so fit() trains the float weights against their binarized forward with
// BinaryConnect's straight-through gradient (|w| <= 1). convertBinaryTraining then packs the
// trained float weights with binarizeWeights: the 1-bit model computes what training simulated.
import { cloneGraph } from '../graph/clone';
import { attrInt, Graph, ModelIR, Node } from '../graph/ir';
import { invalidType } from '../errors';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { binarizeWeights, BinaryModel } from '../compress/binary';
import { layerMatcher, LayerPattern } from '../compress/compressible-weights';
import { TRAIN_DOMAIN } from './gradients';

export interface BinaryTrainingOptions {
  /** Which MatMul/Gemm nodes train binarized (node or weight names, globs, RegExps); default every one with a float matrix weight. */
  layers?: LayerPattern[];
}

export interface BinaryTrainingInfo {
  /** The float model over the weights training updates (shared tensors). */
  float: ModelIR;
  /** Binarized nodes, their weights and the channel axis of the weight. */
  layers: { node: string; weight: string; axis: number }[];
}

/** A model whose chosen weights run binarized while training: fit() it, then convertBinaryTraining(). */
export class BinaryTrainingModel extends Model {
  constructor(ir: ModelIR, readonly binaryTraining: BinaryTrainingInfo) {
    super(ir, { optimize: 'basic' });
  }
}

function copyGraphWeights(g: Graph): Graph {
  const out = cloneGraph(g);
  for (const [name, t] of out.initializers) {
    if (t.dtype === 'float32') out.initializers.set(name, new Tensor('float32', Float32Array.from(t.data as Float32Array), [...t.dims]));
  }
  return out;
}

export function prepareBinaryTraining(model: Model, opts: BinaryTrainingOptions = {}): BinaryTrainingModel {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model', model);
  if (model instanceof BinaryTrainingModel) throw new TypeError('model: already prepared for binary training');
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', 'an options object', opts);
  const chosen = layerMatcher(opts.layers, 'prepareBinaryTraining opts.layers');
  // Training updates this copy of the weights; the caller's model keeps its own.
  const floatIr: ModelIR = { graph: copyGraphWeights(model.ir.graph), meta: { ...model.ir.meta, opsets: new Map(model.ir.meta.opsets), metadata: new Map(model.ir.meta.metadata) } };
  const g = cloneGraph(floatIr.graph);
  g.initializers = floatIr.graph.initializers;  // shared on purpose: training updates both
  const layers: BinaryTrainingInfo['layers'] = [];
  const nodes: Node[] = [];
  const inserted = new Set<string>();  // a weight shared by several nodes is binarized once
  for (const n of g.nodes) {
    const w = n.inputs[1];
    const t = w ? g.initializers.get(w) : undefined;
    const eligible = n.domain === '' && (n.opType === 'MatMul' || n.opType === 'Gemm') && t?.dtype === 'float32' && t.dims.length === 2 &&
      (n.opType === 'MatMul' || attrInt(n, 'transA', 0) === 0);
    if (!eligible || !chosen(n.name, w)) { nodes.push(n); continue; }
    // The output channel is B's column for MatMul and Gemm, its row when Gemm transposes B.
    const axis = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1 ? 0 : 1;
    const out = `${w}/binary${axis}`;
    if (!inserted.has(out)) nodes.push({ name: `${n.name}/fake_binarize`, opType: 'FakeBinarize', domain: TRAIN_DOMAIN, inputs: [w], outputs: [out], attributes: new Map([['axis', { type: 'int', value: axis }]]) });
    nodes.push({ ...n, inputs: n.inputs.map((i, k) => (k === 1 ? out : i)) });
    inserted.add(out);
    layers.push({ node: n.name, weight: w, axis });
  }
  if (layers.length === 0) {
    throw new RangeError(`prepareBinaryTraining opts.layers: expected patterns matching at least one MatMul/Gemm with a float32 matrix weight, received ${opts.layers ? opts.layers.map(String).join(', ') : 'none (all)'}`);
  }
  g.nodes = nodes;
  const opsets = new Map(floatIr.meta.opsets);
  opsets.set(TRAIN_DOMAIN, 1);
  return new BinaryTrainingModel({ graph: g, meta: { ...floatIr.meta, opsets } }, { float: floatIr, layers });
}

/** The 1-bit model training simulated: binarizeWeights of the trained float weights, same layers. */
export function convertBinaryTraining(model: BinaryTrainingModel): BinaryModel {
  if (!(model instanceof BinaryTrainingModel)) throw invalidType('model', 'a BinaryTrainingModel from prepareBinaryTraining()', model);
  return binarizeWeights(new Model(model.binaryTraining.float), { layers: model.binaryTraining.layers.map((l) => l.node) });
}
