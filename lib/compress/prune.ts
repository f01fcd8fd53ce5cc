// Magnitude pruning (Zhu & Gupta 2017, TFMOT's prune_low_magnitude): the smallest weights are
// set to zero, unstructured (exactly round(sparsity·n) per tensor), 2:4 (two of every four
// neighbours along a dot product) or block4 (whole runs of four neighbours along a dot
// product, the unit the sparse INT8 kernel skips: see native/kernels/spqgemm.h). prune() returns a PrunedModel whose graph multiplies each
// pruned weight by a 0/1 mask constant: training through it gives pruned weights no gradient,
// so fit() keeps them at zero with one native Mul per weight in the step, and no per-step work
// in JavaScript. With a polynomial schedule the masks are recomputed in place every
// `frequency` steps (the training plan reads the constant without copying it); call
// `pruned.onStep()` after each optimizer step, e.g. fit's onProgress: pruned.onStep.
import { cloneGraph } from '../graph/clone';
import { Graph, ModelIR } from '../graph/ir';
import { assertInteger, invalidRange, invalidType } from '../errors';
import { native } from '../native';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { CONSTANT_PREFIX } from '../train/autograd';
import { constantNodesToInitializers } from '../train/session';
import { CompressibleWeight, compressibleWeights, LayerPattern } from './compressible-weights';

export type PruneStructure = 'unstructured' | '2:4' | 'block4';

/** Sparsity s(t) = final + (initial − final)·(1 − (t − begin)/(end − begin))^power on [begin, end]. */
export interface PolynomialSchedule {
  kind: 'polynomial';
  /** Optimizer steps (0-based) where pruning starts and reaches its final sparsity. */
  begin: number;
  end: number;
  /** Masks are recomputed every `frequency` steps in [begin, end] (and at end). */
  frequency: number;
  /** Sparsity until `begin` (default 0). */
  initialSparsity?: number;
  /** Default 3, as TFMOT's PolynomialDecay. */
  power?: number;
}

export interface PruneOptions {
  /** Final share of zeros per weight tensor, in [0, 1) (2:4 is always 0.5). */
  sparsity?: number;
  structure?: PruneStructure;
  /** Which weights (node or weight names, globs, RegExps); default every Conv/Gemm/MatMul weight. */
  layers?: LayerPattern[];
  /** Skip weights with fewer elements (default 1). */
  minWeights?: number;
  /** Without it, pruning is one-shot: the masks are final now. */
  schedule?: PolynomialSchedule;
}

export interface PrunedLayer {
  node: string;
  weight: string;
  /** The float32 0/1 mask initializer (a constant: never trained). */
  mask: string;
  /** The Mul output the weight's readers now read. */
  masked: string;
  reduction: CompressibleWeight['reduction'];
}

export interface PruningInfo {
  layers: PrunedLayer[];
  structure: PruneStructure;
  sparsity: number;
  schedule?: Required<PolynomialSchedule>;
}

function checkUnit(name: string, v: unknown, allowOne = false): number {
  if (typeof v !== 'number' || !(v >= 0 && (allowOne ? v <= 1 : v < 1))) throw invalidRange(name, allowOne ? 'a number in [0, 1]' : 'a number in [0, 1)', v);
  return v;
}

/** The sparsity a schedule asks for after `step` optimizer steps. */
export function polynomialSparsity(s: Required<PolynomialSchedule>, finalSparsity: number, step: number): number {
  if (step <= s.begin) return s.initialSparsity;
  if (step >= s.end) return finalSparsity;
  const left = 1 - (step - s.begin) / (s.end - s.begin);
  return finalSparsity + (s.initialSparsity - finalSparsity) * Math.pow(left, s.power);
}

/**
 * Writes into `mask` (0/1) the unstructured magnitude mask of `w` keeping exactly
 * n − round(sparsity·n) weights: everything above the threshold, then ties in index order.
 */
export function unstructuredMask(w: Float32Array, sparsity: number, mask: Float32Array): void {
  const n = w.length;
  const keep = n - Math.round(sparsity * n);
  if (keep <= 0) {
    mask.fill(0);
    return;
  }
  const t = native.magnitudeThreshold(w, keep);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const on = Math.abs(w[i]) > t;
    mask[i] = on ? 1 : 0;
    if (on) kept++;
  }
  for (let i = 0; i < n && kept < keep; i++) {
    if (mask[i] === 0 && Math.abs(w[i]) === t) {
      mask[i] = 1;
      kept++;
    }
  }
}

/**
 * 2:4 structured mask: in every run of four neighbours along a dot product the two largest
 * |w| stay (the lower index on a tie); a shorter run at a row's end keeps ceil(m/2).
 */
export function twoFourMask(w: Float32Array, r: CompressibleWeight['reduction'], mask: Float32Array): void {
  const at = new Array<number>(4);
  for (let row = 0; row < r.rows; row++) {
    for (let start = 0; start < r.length; start += 4) {
      const m = Math.min(4, r.length - start);
      for (let j = 0; j < m; j++) at[j] = row * r.rowStride + (start + j) * r.elementStride;
      const order = at.slice(0, m).sort((a, b) => Math.abs(w[b]) - Math.abs(w[a]) || a - b);
      const keep = Math.ceil(m / 2);
      order.forEach((idx, rank) => { mask[idx] = rank < keep ? 1 : 0; });
    }
  }
}

/**
 * block4 mask: the runs of four neighbours along a dot product (from each row's start; a
 * row's last run may be shorter) are ranked by the sum of their |w|, and exactly
 * round(sparsity·runs) of the weakest are zeroed whole, so an INT8 GEMM can skip them.
 */
export function block4Mask(w: Float32Array, sparsity: number, r: CompressibleWeight['reduction'], mask: Float32Array): void {
  const perRow = Math.ceil(r.length / 4);
  const scores = new Float32Array(r.rows * perRow);
  for (let row = 0; row < r.rows; row++) {
    for (let b = 0; b < perRow; b++) {
      let s = 0;
      for (let j = b * 4; j < Math.min(r.length, b * 4 + 4); j++) s += Math.abs(w[row * r.rowStride + j * r.elementStride]);
      scores[row * perRow + b] = s;
    }
  }
  const keep = new Float32Array(scores.length);
  unstructuredMask(scores, sparsity, keep);
  for (let row = 0; row < r.rows; row++) {
    for (let b = 0; b < perRow; b++) {
      const on = keep[row * perRow + b];
      for (let j = b * 4; j < Math.min(r.length, b * 4 + 4); j++) mask[row * r.rowStride + j * r.elementStride] = on;
    }
  }
}

/** A model with pruning masks in its graph; train it with fit(), then stripPruning() (or toOnnx()). */
export class PrunedModel extends Model {
  private stepsTaken = 0;

  constructor(ir: ModelIR, readonly pruning: PruningInfo) {
    super(ir);
  }

  /** Optimizer steps counted by onStep(). */
  get steps(): number {
    return this.stepsTaken;
  }

  /**
   * Advances the schedule by one optimizer step; recomputes the masks when the schedule says.
   * An arrow property so it can be passed as fit's onProgress directly.
   */
  readonly onStep = (): void => {
    this.stepsTaken++;
    const s = this.pruning.schedule;
    if (!s) return;
    const t = this.stepsTaken;
    if (t < s.begin || t > s.end) return;
    if ((t - s.begin) % s.frequency === 0 || t === s.end) this.applySparsity(polynomialSparsity(s, this.pruning.sparsity, t));
  };

  /** The sparsity the masks hold now (share of zeros over all pruned weights). */
  maskSparsity(): number {
    let zeros = 0;
    let total = 0;
    for (const l of this.pruning.layers) {
      const m = this.ir.graph.initializers.get(l.mask)!.data as Float32Array;
      for (let i = 0; i < m.length; i++) if (m[i] === 0) zeros++;
      total += m.length;
    }
    return total === 0 ? 0 : zeros / total;
  }

  /** Recomputes every mask for `sparsity` from the masked weights (pruned ones stay pruned). */
  applySparsity(sparsity: number): void {
    const g = this.ir.graph;
    for (const l of this.pruning.layers) {
      const w = g.initializers.get(l.weight)!.data as Float32Array;
      const m = g.initializers.get(l.mask)!.data as Float32Array;
      // The optimizer's momentum may have moved masked weights: they are pruned, so zero.
      for (let i = 0; i < w.length; i++) if (m[i] === 0) w[i] = 0;
      if (this.pruning.structure === '2:4') twoFourMask(w, l.reduction, m);
      else if (this.pruning.structure === 'block4') block4Mask(w, sparsity, l.reduction, m);
      else unstructuredMask(w, sparsity, m);
      for (let i = 0; i < w.length; i++) if (m[i] === 0) w[i] = 0;
    }
    this.weightsChanged();
  }

  /** ONNX of the pruned weights themselves (masks applied, Mul nodes removed). */
  override toOnnx(): Uint8Array {
    return stripPruning(this).toOnnx();
  }
}

/**
 * Magnitude pruning of the chosen weights of `model` (which is not modified). One-shot
 * without a schedule; with one, the masks start at the schedule's initial sparsity and
 * follow it as onStep() is called.
 */
export function prune(model: Model, opts: PruneOptions): PrunedModel {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model', model);
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', '{ sparsity, structure?, layers?, schedule? }', opts);
  if (model instanceof PrunedModel) throw invalidType('model', 'a model without pruning masks (stripPruning() it first)', 'a PrunedModel');
  const structure = opts.structure ?? 'unstructured';
  if (structure !== 'unstructured' && structure !== '2:4' && structure !== 'block4') throw invalidRange('prune opts.structure', "'unstructured', '2:4' or 'block4'", structure);
  let sparsity: number;
  if (structure === '2:4') {
    if (opts.sparsity !== undefined && opts.sparsity !== 0.5) throw invalidRange('prune opts.sparsity', "0.5 (or nothing) with structure '2:4'", opts.sparsity);
    if (opts.schedule) throw invalidRange('prune opts.schedule', "nothing with structure '2:4' (its sparsity is fixed)", 'a schedule');
    sparsity = 0.5;
  } else {
    sparsity = checkUnit('prune opts.sparsity', opts.sparsity);
  }
  let schedule: Required<PolynomialSchedule> | undefined;
  if (opts.schedule !== undefined) {
    const s = opts.schedule;
    if (typeof s !== 'object' || s === null || s.kind !== 'polynomial') throw invalidType('prune opts.schedule', "{ kind: 'polynomial', begin, end, frequency }", s);
    const begin = assertInteger('prune opts.schedule.begin', s.begin, 0);
    const end = assertInteger('prune opts.schedule.end', s.end, begin + 1);
    const frequency = assertInteger('prune opts.schedule.frequency', s.frequency, 1);
    const initialSparsity = checkUnit('prune opts.schedule.initialSparsity', s.initialSparsity ?? 0);
    if (initialSparsity > sparsity) throw invalidRange('prune opts.schedule.initialSparsity', `at most the final sparsity ${sparsity}`, initialSparsity);
    const power = s.power ?? 3;
    if (typeof power !== 'number' || !(power > 0)) throw invalidRange('prune opts.schedule.power', 'a number > 0', s.power);
    schedule = { kind: 'polynomial', begin, end, frequency, initialSparsity, power };
  }
  const minWeights = assertInteger('prune opts.minWeights', opts.minWeights ?? 1, 1);

  const g: Graph = cloneGraph(model.ir.graph);
  // Weights some exporters write as Constant nodes (paddle2onnx) become initializers first.
  constantNodesToInitializers(g);
  const chosen = compressibleWeights(g, { layers: opts.layers, minWeights, what: 'prune opts.layers' });
  if (chosen.length === 0) throw invalidRange('model', `a Conv/Gemm/MatMul float32 weight initializer with >= ${minWeights} elements to prune`, 'none');
  const layers: PrunedLayer[] = [];
  for (const w of chosen) {
    const weight = new Tensor('float32', Float32Array.from(w.tensor.data), [...w.tensor.dims]);
    g.initializers.set(w.weight, weight);
    const mask = `${CONSTANT_PREFIX}mask/${w.weight}`;
    const masked = `${w.weight}/pruned`;
    g.initializers.set(mask, new Tensor('float32', new Float32Array(weight.size).fill(1), [...weight.dims]));
    for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === w.weight ? masked : i));
    g.nodes.unshift({ name: `${w.weight}/prune_mask`, opType: 'Mul', domain: '', inputs: [w.weight, mask], outputs: [masked], attributes: new Map() });
    layers.push({ node: w.node, weight: w.weight, mask, masked, reduction: w.reduction });
  }
  const meta = { ...model.ir.meta, opsets: new Map(model.ir.meta.opsets), metadata: new Map(model.ir.meta.metadata) };
  const pruned = new PrunedModel({ graph: g, meta }, { layers, structure, sparsity, schedule });
  const start = schedule ? polynomialSparsity(schedule, sparsity, 0) : sparsity;
  if (structure === '2:4' || start > 0) pruned.applySparsity(start);
  return pruned;
}

/** The plain model a PrunedModel stands for: weights with their masks applied, no Mul nodes. */
export function stripPruning(model: PrunedModel): Model {
  if (!(model instanceof PrunedModel)) throw invalidType('model', 'a PrunedModel from prune()', model);
  const g = cloneGraph(model.ir.graph);
  const byMasked = new Map(model.pruning.layers.map((l) => [l.masked, l]));
  for (const l of model.pruning.layers) {
    const w = g.initializers.get(l.weight)!;
    const m = g.initializers.get(l.mask)!.data as Float32Array;
    const out = Float32Array.from(w.data as Float32Array, (v, i) => (m[i] === 0 ? 0 : v));
    g.initializers.set(l.weight, new Tensor('float32', out, [...w.dims]));
    g.initializers.delete(l.mask);
  }
  g.nodes = g.nodes.filter((n) => !(n.opType === 'Mul' && byMasked.has(n.outputs[0])));
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => byMasked.get(i)?.weight ?? i);
  return new Model({ graph: g, meta: model.ir.meta });
}

/** Share of exact zeros in a float tensor. */
export function sparsityOf(t: Tensor<'float32'>): number {
  let zeros = 0;
  for (let i = 0; i < t.data.length; i++) if (t.data[i] === 0) zeros++;
  return t.size === 0 ? 0 : zeros / t.size;
}
