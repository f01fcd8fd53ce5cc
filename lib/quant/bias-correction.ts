// Bias correction (Nagel et al., "Data-Free Quantization", section 4.2, with empirical means):
// rounding weights shifts each output channel's mean by sum_k (Wq - W)[c, k] * E[x_k]; the
// calibration data gives E[x] per input channel, and the float bias absorbs minus that shift
// before the bias itself is quantized.
import { Graph, Node } from '../graph/ir';
import { NQUANT_DOMAIN } from '../graph/passes/fused';
import { constant, freshName } from '../graph/passes/util';
import { Tensor } from '../tensor';
import { NodePlan } from './plan';
import { QuantType } from './qparams';
import { quantizeWeight, WeightQuantizer } from './weights';

/** Running per-channel means of an activation (channel axis 1 for NCHW, last for MatMul rows). */
export class ChannelMeans {
  private sums?: Float64Array;
  private counts = 0;

  constructor(private readonly axis: 'channel' | 'last') {}

  add(t: Tensor): void {
    const dims = t.dims;
    if (dims.length < 2) return;
    const axis = this.axis === 'channel' ? 1 : dims.length - 1;
    const channels = dims[axis];
    let inner = 1;
    for (let i = axis + 1; i < dims.length; i++) inner *= dims[i];
    if (!this.sums) this.sums = new Float64Array(channels);
    if (this.sums.length !== channels) throw new RangeError(`bias correction: expected ${this.sums.length} channels, received dims [${dims.join(', ')}]`);
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (Number.isFinite(v)) this.sums[Math.floor(i / inner) % channels] += v;
    }
    this.counts += d.length / channels;
  }

  means(): Float64Array | undefined {
    return this.sums && this.counts > 0 ? this.sums.map((s) => s / this.counts) : undefined;
  }
}

export function meanAxisFor(np: NodePlan): 'channel' | 'last' {
  return np.opType === 'Conv' ? 'channel' : 'last';
}

/** Writes each corrected bias into the graph (adding a bias input where the node had none). */
export function correctBiases(graph: Graph, nodes: NodePlan[], means: Map<string, ChannelMeans>, scheme: { weightType: QuantType; weightBits: number; perChannel: boolean; reduceRange: boolean; opset: number; weightQuantizers?: ReadonlyMap<string, WeightQuantizer> }): number {
  let corrected = 0;
  for (const np of nodes) {
    if (!np.quantized || !np.weight) continue;
    const node = np.node;
    const mu = means.get(np.activations[0])?.means();
    const w = constant(graph, node.inputs[np.weight.input]) as Tensor<'float32'> | undefined;
    if (!mu || !w) continue;
    const custom = scheme.weightQuantizers?.get(node.name);
    const qw = custom ? custom.quantizeWeight(w, np.weight.axis) : quantizeWeight(w, { dtype: scheme.weightType, perChannel: scheme.perChannel && scheme.opset >= 13, axis: np.weight.axis, reduceRange: scheme.reduceRange, bits: scheme.weightBits });
    const shift = outputShift(np, w, qw.dequantized, mu);
    if (!shift) continue;
    const biasName = biasInput(graph, np, node, shift.length);
    if (!biasName) continue;
    const old = constant(graph, biasName)!.data as Float32Array;
    const fixed = Float32Array.from(old, (b, c) => b - shift[c]);
    const name = freshName(graph, `${biasName}_corrected`);
    graph.initializers.set(name, new Tensor('float32', fixed, [fixed.length]));
    node.inputs[np.bias!] = name;
    corrected++;
  }
  return corrected;
}

/** Per output channel: sum over the reduction of (Wq - W) * E[x]. */
function outputShift(np: NodePlan, w: Tensor<'float32'>, deq: Float32Array, mu: Float64Array): Float64Array | undefined {
  const src = w.data;
  if (np.opType === 'Conv') {
    const [m, cg] = w.dims;
    const k = src.length / (m * cg);
    const groups = mu.length / cg;
    if (!Number.isInteger(groups) || m % groups) return undefined;
    const out = new Float64Array(m);
    const mPerGroup = m / groups;
    for (let o = 0; o < m; o++) {
      const g = Math.floor(o / mPerGroup);
      let s = 0;
      for (let c = 0; c < cg; c++) {
        const mean = mu[g * cg + c];
        for (let t = 0; t < k; t++) { const i = (o * cg + c) * k + t; s += (deq[i] - src[i]) * mean; }
      }
      out[o] = s;
    }
    return out;
  }
  // B is [K, N], or [N, K] for Gemm with transB (its per-channel axis is then 0).
  const transposed = np.weight!.axis === 0;
  const [rows, cols] = w.dims;
  const kDim = transposed ? cols : rows, n = transposed ? rows : cols;
  if (mu.length !== kDim) return undefined;
  const out = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const kk = transposed ? c : r, nn = transposed ? r : c;
      out[nn] += (deq[i] - src[i]) * mu[kk];
    }
  }
  return out;
}

/** The node's float bias input, created (zeros) where it had none; undefined if not constant. */
function biasInput(graph: Graph, np: NodePlan, node: Node, channels: number): string | undefined {
  if (np.bias !== undefined && node.inputs[np.bias]) {
    const b = constant(graph, node.inputs[np.bias]);
    return b && b.dtype === 'float32' && b.size === channels ? node.inputs[np.bias] : undefined;
  }
  const name = freshName(graph, `${node.name}_bias`);
  graph.initializers.set(name, new Tensor('float32', new Float32Array(channels), [channels]));
  if (np.opType === 'MatMul') {
    if (node.domain === '') { node.domain = NQUANT_DOMAIN; node.opType = 'FusedMatMul'; }
  } else if (np.opType === 'Gemm' && node.attributes.has('beta')) {
    node.attributes.set('beta', { type: 'float', value: 1 });
  }
  while (node.inputs.length < 2) node.inputs.push('');
  node.inputs[2] = name;
  np.bias = 2;
  return name;
}
