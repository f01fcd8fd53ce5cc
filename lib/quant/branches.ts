// Static quantization inside If branches. The runtime inlines an If whose condition the feeds
// decide (silero-vad branches on its sample rate), so calibration sees the taken branch's
// tensors under the names inlining gives them ('<if>/then/<name>'). That branch is planned and
// rewritten to QDQ in place, inside the If; the other branch, never run on the calibration
// data, stays float.
import { Graph, Node } from '../graph/ir';
import { inferShapesForInputs } from '../graph/shape-inference';
import { nodeReads } from '../graph/topo';
import type { Feeds, Model } from '../runtime/model';
import { inlinedPrefix } from '../runtime/specialize-if';
import { FeedSource, isFeedSource } from './calibrate';
import type { ResolvedStaticOptions } from './options';
import { planQuantization, QuantPlan } from './plan';

export interface BranchPlan {
  ifNode: Node;
  taken: 'then' | 'else';
  branch: Graph;
  plan: QuantPlan;
  /** Outer constants copied into the branch so planning sees them; removed after the rewrite. */
  localized: string[];
  /** The name a tensor of the branch has in the inlined, executed graph. */
  outer(name: string): string;
  /** '<if>/<then|else>/': how inlining prefixes the branch's node and value names. */
  prefix: string;
}

/** The first batch, and a source that still yields every batch (one-shot iterators included). */
export async function peekFirst(source: FeedSource): Promise<{ first?: Feeds; source: FeedSource }> {
  if (Array.isArray(source)) return { first: source[0] as Feeds | undefined, source };
  if (!isFeedSource(source)) return { source };  // calibrate() says what is wrong with it
  const it = Symbol.asyncIterator in source
    ? (source as AsyncIterable<Feeds>)[Symbol.asyncIterator]()
    : (source as Iterable<Feeds>)[Symbol.iterator]();
  const head = await it.next();
  if (head.done) return { source: [] };
  async function* rest(): AsyncGenerator<Feeds> {
    yield head.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { first: head.value, source: rest() };
}

const MAX_SHAPE_VALUE_ELEMENTS = 64;

/** Plans the branch each top-level If takes on `first` (Ifs the feeds do not decide are skipped). */
export function planTakenBranches(model: Model, graph: Graph, first: Feeds, o: ResolvedStaticOptions): BranchPlan[] {
  const ifs = graph.nodes.filter((n) => n.opType === 'If' && n.domain === '');
  if (ifs.length === 0) return [];
  const dims: { [name: string]: number[] } = {};
  const values: Feeds = {};
  for (const [name, t] of Object.entries(first)) {
    dims[name] = [...t.dims];
    if (t.size <= MAX_SHAPE_VALUE_ELEMENTS && (t.dtype === 'int64' || t.dtype === 'int32')) values[name] = t;
  }
  let known;
  try {
    known = inferShapesForInputs(model.executionGraph, dims, model.ir.meta.opsets, values);
  } catch {
    return [];  // the calibration run reports what is wrong with the feeds
  }
  const plans: BranchPlan[] = [];
  for (const ifNode of ifs) {
    const cond = known.get(ifNode.inputs[0])?.value;
    if (!cond || cond.length !== 1 || typeof cond[0] !== 'number') continue;
    const taken = cond[0] !== 0 ? 'then' : 'else';
    const attr = ifNode.attributes.get(`${taken}_branch`);
    if (!attr || attr.type !== 'graph') continue;
    const branch = attr.value;
    const localized: string[] = [];
    for (const n of branch.nodes) {
      for (const v of nodeReads(n)) {
        if (!branch.initializers.has(v) && graph.initializers.has(v) && !branch.inputs.some((i) => i.name === v)) {
          branch.initializers.set(v, graph.initializers.get(v)!);
          localized.push(v);
        }
      }
    }
    const local = new Set<string>([...branch.initializers.keys(), ...branch.nodes.flatMap((n) => n.outputs.filter(Boolean))]);
    const prefix = inlinedPrefix(ifNode, taken);
    plans.push({ ifNode, taken, branch, plan: planQuantization(branch, o), localized, prefix, outer: (name) => (local.has(name) && !localized.includes(name) ? prefix + name : name) });
  }
  return plans;
}

/** Outer constants the rewrite no longer needs inside the branch go back to being outer reads. */
export function restoreOuterConstants(bp: BranchPlan, graph: Graph): void {
  for (const name of bp.localized) {
    if (bp.branch.initializers.get(name) === graph.initializers.get(name)) bp.branch.initializers.delete(name);
  }
}
