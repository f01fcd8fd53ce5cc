// The weights clustering and pruning act on: float32 initializers read as the weight operand
// of Conv, ConvTranspose, Gemm or MatMul, chosen by node or weight name, glob or RegExp.
import { attrInt, Graph } from '../graph/ir';
import { invalidRange, invalidType } from '../errors';
import type { Tensor } from '../tensor';

/** A node or weight name, a glob with '*' (e.g. 'dense*'), or a RegExp tested on both names. */
export type LayerPattern = string | RegExp;

export interface CompressibleWeight {
  /** The initializer's name. */
  weight: string;
  /** The first node reading it as its weight operand. */
  node: string;
  opType: string;
  tensor: Tensor<'float32'>;
  /**
   * How the weight's elements split into dot products: `rows` vectors of `length` elements,
   * element i of row r at r·rowStride + i·elementStride. Structured (2:4) pruning groups
   * four neighbours along these vectors.
   */
  reduction: { rows: number; length: number; rowStride: number; elementStride: number };
}

const WEIGHT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** A predicate over (node name, weight name) from the user's `layers` option. */
export function layerMatcher(layers: LayerPattern[] | undefined, what: string): (node: string, weight: string) => boolean {
  if (layers === undefined) return () => true;
  if (!Array.isArray(layers)) throw invalidType(what, 'an array of names, globs or RegExps', layers);
  const tests = layers.map((p, i) => {
    if (p instanceof RegExp) return (s: string) => p.test(s);
    if (typeof p !== 'string' || p.length === 0) throw invalidType(`${what}[${i}]`, 'a non-empty string or a RegExp', p);
    if (p.includes('*')) {
      const re = globToRegExp(p);
      return (s: string) => re.test(s);
    }
    return (s: string) => s === p;
  });
  return (node, weight) => tests.some((t) => t(node) || t(weight));
}

/** Rows and strides of the dot products a weight takes part in (see CompressibleWeight). */
function reductionOf(opType: string, transB: boolean, dims: readonly number[]): CompressibleWeight['reduction'] {
  const n = dims.reduce((p, d) => p * d, 1);
  if (opType === 'Conv') return { rows: dims[0], length: n / dims[0], rowStride: n / dims[0], elementStride: 1 };
  if (opType === 'ConvTranspose') {
    // [C_in, C_out/g, k...]: an output channel sums over input channels and the kernel window.
    const k = dims.slice(2).reduce((p, d) => p * d, 1);
    return { rows: dims[1] * k, length: dims[0], rowStride: 1, elementStride: dims[1] * k };
  }
  if (opType === 'Gemm' && transB) return { rows: dims[0], length: dims[1], rowStride: dims[1], elementStride: 1 };
  // Gemm [K, N] and MatMul [..., K, N]: a column is one dot product.
  const cols = dims[dims.length - 1];
  const k = dims.length >= 2 ? dims[dims.length - 2] : n;
  return { rows: n / k, length: k, rowStride: 1, elementStride: cols };
}

export interface SelectOptions {
  layers?: LayerPattern[];
  /** Skip weights with fewer elements. */
  minWeights: number;
  /** Option name for error messages, e.g. 'clusterWeights opts.layers'. */
  what: string;
}

/** The compressible weights of a graph, in node order; each initializer once. */
export function compressibleWeights(g: Graph, opts: SelectOptions): CompressibleWeight[] {
  const match = layerMatcher(opts.layers, opts.what);
  const seen = new Set<string>();
  const out: CompressibleWeight[] = [];
  const isWeightOperand = new Map<string, boolean>();
  // A weight also read as something other than a weight operand (say, added to an
  // activation) is left alone: compressing it would change that other use too.
  for (const n of g.nodes) {
    n.inputs.forEach((name, i) => {
      if (!g.initializers.has(name)) return;
      const asWeight = WEIGHT_OPS.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx') && i === 1;
      isWeightOperand.set(name, (isWeightOperand.get(name) ?? true) && asWeight);
    });
  }
  for (const n of g.nodes) {
    if (!WEIGHT_OPS.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    const w = n.inputs[1];
    if (!w || seen.has(w) || !isWeightOperand.get(w)) continue;
    const t = g.initializers.get(w);
    if (!t || t.dtype !== 'float32' || t.dims.length < 1) continue;
    seen.add(w);
    if (t.size < opts.minWeights || !match(n.name, w)) continue;
    const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
    out.push({ weight: w, node: n.name, opType: n.opType, tensor: t as Tensor<'float32'>, reduction: reductionOf(n.opType, transB, t.dims) });
  }
  if (opts.layers !== undefined && out.length === 0) {
    throw invalidRange(opts.what, `patterns matching at least one Conv/Gemm/MatMul weight with >= ${opts.minWeights} elements`, opts.layers.map(String).join(', '));
  }
  return out;
}
