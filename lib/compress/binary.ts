// binarizeWeights: chosen MatMul/Gemm weights become 1-bit signs with one scale per output
// channel (XNOR-Net's weight binarization: w ≈ α_j·sign(w), α_j = mean |w_j|). Each chosen
// node becomes com.nquant BinaryMatMul (A, sign bits, α), which our runtime runs on the
// sign-GEMM kernels (native/kernels/bgemm.h: masked sums of the activations, no multiplies),
// or with activations: 'binary' on the XNOR-popcount kernels (x ≈ β·sign(x) too).
// onnxruntime has no such op, so toOnnx() writes the same weights as plain float MatMuls
// over {−α, +α} (plus Less/Not/Where/Abs/ReduceMean/Mul for binarized activations): ORT runs
// that and computes the same function; toPackedOnnx() writes the 1-bit graph nquant loads back.
import { cloneGraph } from '../graph/clone';
import { Attribute, Graph, ModelIR, Node, attrFloat, attrInt } from '../graph/ir';
import { constant, freshName, transposeMatrix } from '../graph/passes/util';
import { eliminateDeadNodes, sortGraph } from '../graph/topo';
import { exportModel } from '../onnx/export';
import { invalidRange, invalidType } from '../errors';
import { native } from '../native';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { layerMatcher, LayerPattern } from './compressible-weights';

/** Domain of the packed op: a file-level custom domain (the 'nquant' one is runtime-internal and never exported). */
export const BINARY_DOMAIN = 'com.nquant';

export interface BinarizeOptions {
  /** Which MatMul/Gemm nodes (node or weight names, globs, RegExps); default every eligible one. */
  layers?: LayerPattern[];
  /**
   * 'float' (default): activations stay float, the sign-GEMM (masked sums) runs.
   * 'binary': each activation row is binarized too, x ≈ β·sign(x) with β = mean |x| (XNOR-Net),
   * and the XNOR-popcount kernel runs: faster, much less accurate.
   */
  activations?: 'float' | 'binary';
}

export interface BinaryLayerReport {
  name: string;
  opType: string;
  binarized: boolean;
  /** Why the node stays in float. */
  reason?: string;
  /** Weight shape as BinaryMatMul sees it: K inputs, N outputs. */
  k?: number;
  n?: number;
  /** Signal-to-error ratio of the binarized weight in dB (weight energy / error energy). */
  weightSqnr?: number;
}

/** A binarized node: its weights as the packed graph holds them. */
export interface BinaryLayer {
  /** The BinaryMatMul node's name. */
  node: string;
  /** Initializers: uint8 [N, ceil(K/8)] sign bits and float32 [N] scales. */
  bits: string;
  alpha: string;
  k: number;
  n: number;
  /** The activations are binarized too (XNOR-popcount). */
  binaryActivations: boolean;
}

export interface BinaryReport {
  layers: BinaryLayerReport[];
  /** Float32 bytes of the weights replaced, and what replaced them: ceil(K/8)·N bit bytes + 4·N scale bytes. */
  weightBytes: { before: number; after: number; ratio: number };
  /** Serialized bytes: the float model, the packed 1-bit model (toPackedOnnx) and the ORT export (toOnnx). */
  sizeBytes: { before: number; packed: number; floatExport: number };
}

/** A model whose chosen MatMul/Gemm weights are 1-bit signs + per-channel scales. */
export class BinaryModel extends Model {
  constructor(ir: ModelIR, readonly binary: BinaryLayer[], readonly report: BinaryReport) {
    super(ir);
  }

  /** ONNX bytes onnxruntime runs: each BinaryMatMul as a MatMul over float weights in {−α, +α}. */
  override toOnnx(): Uint8Array {
    return exportModel(floatExportIr(this.ir, this.binary));
  }

  /** ONNX bytes of the 1-bit graph (com.nquant BinaryMatMul nodes): what nquant's load() runs packed. */
  toPackedOnnx(): Uint8Array {
    return exportModel(this.ir);
  }

  /** Size of the packed (1-bit) serialization; toOnnx() is the float one ORT needs. */
  override sizeBytes(): number {
    return this.toPackedOnnx().byteLength;
  }
}

/** The BinaryMatMul nodes of a loaded graph, recovered from their initializers. */
export function binaryLayersOf(graph: Graph): BinaryLayer[] {
  return graph.nodes.filter((n) => n.domain === BINARY_DOMAIN && n.opType === 'BinaryMatMul').map((n) => ({
    node: n.name, bits: n.inputs[1], alpha: n.inputs[2], k: attrInt(n, 'K'), n: attrInt(n, 'N'),
    binaryActivations: attrInt(n, 'binary_activations', 0) === 1,
  }));
}

function floatExportIr(ir: ModelIR, layers: BinaryLayer[]): ModelIR {
  const graph = cloneGraph(ir.graph);
  const byNode = new Map(layers.map((l) => [l.node, l]));
  const decoded = new Map<string, string>();
  graph.nodes = graph.nodes.map((node) => {
    const l = byNode.get(node.name);
    if (!l || node.opType !== 'BinaryMatMul') return node;
    let w = decoded.get(l.bits);
    if (!w) {
      const bits = graph.initializers.get(l.bits)!.data as Uint8Array;
      const alpha = graph.initializers.get(l.alpha)!.data as Float32Array;
      const rows = new Float32Array(l.n * l.k);
      native.signUnpack(bits, alpha, l.n, l.k, rows);
      w = freshName(graph, `${l.bits}_decoded`);
      graph.initializers.set(w, transposeMatrix(new Tensor('float32', rows, [l.n, l.k])));  // [K, N]
      decoded.set(l.bits, w);
    }
    const nodes: Node[] = [];
    let a = node.inputs[0];
    if (l.binaryActivations) {
      // β·sign(a), sign(0) = +1 as in our kernels: Where(Not(Less(a, 0)), 1, -1) · ReduceMean(|a|).
      const p = freshName(graph, `${node.name}_binarize`);
      const c = (suffix: string, t: Tensor): string => { graph.initializers.set(`${p}/${suffix}`, t); return `${p}/${suffix}`; };
      const zero = c('zero', new Tensor('float32', Float32Array.of(0), []));
      const one = c('one', new Tensor('float32', Float32Array.of(1), []));
      const minusOne = c('minus_one', new Tensor('float32', Float32Array.of(-1), []));
      const opset = ir.meta.opsets.get('') ?? ir.meta.opsets.get('ai.onnx') ?? 13;
      const mean: Node = opset >= 18
        ? { name: `${p}/mean`, opType: 'ReduceMean', domain: '', inputs: [`${p}/abs`, c('axes', new Tensor('int64', BigInt64Array.of(-1n), [1]))], outputs: [`${p}/beta`], attributes: new Map([['keepdims', { type: 'int', value: 1 }]]) }
        : { name: `${p}/mean`, opType: 'ReduceMean', domain: '', inputs: [`${p}/abs`], outputs: [`${p}/beta`], attributes: new Map<string, Attribute>([['axes', { type: 'ints', value: [-1] }], ['keepdims', { type: 'int', value: 1 }]]) };
      nodes.push(
        { name: `${p}/less`, opType: 'Less', domain: '', inputs: [a, zero], outputs: [`${p}/negative`], attributes: new Map() },
        { name: `${p}/not`, opType: 'Not', domain: '', inputs: [`${p}/negative`], outputs: [`${p}/positive`], attributes: new Map() },
        { name: `${p}/sign`, opType: 'Where', domain: '', inputs: [`${p}/positive`, one, minusOne], outputs: [`${p}/sign`], attributes: new Map() },
        { name: `${p}/abs`, opType: 'Abs', domain: '', inputs: [a], outputs: [`${p}/abs`], attributes: new Map() },
        mean,
        { name: `${p}/scale`, opType: 'Mul', domain: '', inputs: [`${p}/sign`, `${p}/beta`], outputs: [`${p}/binary`], attributes: new Map() },
      );
      a = `${p}/binary`;
    }
    const matmul: Node = { name: node.name, opType: 'MatMul', domain: '', inputs: [a, w], outputs: [...node.outputs], attributes: new Map() };
    if (!node.inputs[3]) return [...nodes, matmul];
    const mid = freshName(graph, `${node.outputs[0]}_matmul`);
    return [...nodes, { ...matmul, outputs: [mid] }, { name: `${node.name}_bias`, opType: 'Add', domain: '', inputs: [mid, node.inputs[3]], outputs: [...node.outputs], attributes: new Map() }];
  }).flat();
  eliminateDeadNodes(graph);
  const opsets = new Map(ir.meta.opsets);
  if (!graph.nodes.some((n) => n.domain === BINARY_DOMAIN)) opsets.delete(BINARY_DOMAIN);
  return { graph, meta: { ...ir.meta, opsets } };
}

/** Why a node cannot be binarized, or undefined when it can. */
function refusal(graph: Graph, node: Node): string | undefined {
  const w = constant(graph, node.inputs[1]);
  if (!w || w.dtype !== 'float32') return 'weight is not a float32 initializer';
  if (w.dims.length !== 2) return `weight is not a matrix (dims [${w.dims.join(', ')}])`;
  if (w.size === 0) return 'weight is empty';
  if (node.opType === 'Gemm' && (attrInt(node, 'transA', 0) !== 0 || attrFloat(node, 'alpha', 1) !== 1 || (node.inputs[2] && attrFloat(node, 'beta', 1) !== 1))) {
    return 'Gemm with transA or alpha/beta other than 1';
  }
  const data = w.data as Float32Array;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return 'weight has NaN/Inf values';
  return undefined;
}

function sqnrDb(w: Float32Array, decoded: Float32Array): number {
  let energy = 0, error = 0;
  for (let i = 0; i < w.length; i++) {
    energy += w[i] * w[i];
    error += (w[i] - decoded[i]) ** 2;
  }
  return error === 0 ? Infinity : 10 * Math.log10(energy / error);
}

/**
 * Replaces the chosen MatMul/Gemm weights by 1-bit signs and per-output-channel scales
 * (α_j = mean |w_j|). Conv weights are not binarized (yet): they stay float and are reported.
 */
export function binarizeWeights(model: Model, opts: BinarizeOptions = {}): BinaryModel {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', 'an options object', opts);
  const activations = opts.activations ?? 'float';
  if (activations !== 'float' && activations !== 'binary') throw invalidRange('opts.activations', "'float' or 'binary'", activations);
  const binaryActivations = activations === 'binary';
  const chosen = layerMatcher(opts.layers, 'binarizeWeights opts.layers');
  const graph = cloneGraph(model.ir.graph);
  const layers: BinaryLayerReport[] = [];
  const binary: BinaryLayer[] = [];
  const weightBytes = { before: 0, after: 0, ratio: 1 };
  // A weight read by several nodes is packed once per orientation.
  const done = new Map<string, { bits: string; alpha: string; k: number; n: number; sqnr: number }>();
  const rewritten: Node[] = [];
  for (const node of graph.nodes) {
    const isGemmLike = node.domain === '' && (node.opType === 'MatMul' || node.opType === 'Gemm');
    if (!isGemmLike && !(node.domain === '' && node.opType === 'Conv')) { rewritten.push(node); continue; }
    if (!chosen(node.name, node.inputs[1] ?? '')) { rewritten.push(node); continue; }
    const r: BinaryLayerReport = { name: node.name, opType: node.opType, binarized: false };
    layers.push(r);
    const why = node.opType === 'Conv' ? 'Conv weights are not binarized (only MatMul/Gemm run on the sign-GEMM)' : refusal(graph, node);
    if (why) { r.reason = why; rewritten.push(node); continue; }

    const wName = node.inputs[1];
    const transposed = node.opType === 'MatMul' || attrInt(node, 'transB', 0) === 0;
    const key = `${wName}|${transposed}`;
    let q = done.get(key);
    if (!q) {
      const w = constant(graph, wName) as Tensor<'float32'>;
      const rows = transposed ? transposeMatrix(w) : w;  // [N, K]: one row per output channel
      const [n, k] = rows.dims;
      const { bits, scales } = native.signPack(rows.data as Float32Array, n, k);
      const decoded = new Float32Array(n * k);
      native.signUnpack(bits, scales, n, k, decoded);
      const add = (base: string, t: Tensor): string => {
        const name = freshName(graph, base);
        graph.initializers.set(name, t);
        return name;
      };
      q = {
        k, n, sqnr: sqnrDb(rows.data as Float32Array, decoded),
        bits: add(`${wName}_sign_bits`, new Tensor('uint8', bits, [n, Math.ceil(k / 8)])),
        alpha: add(`${wName}_alpha`, new Tensor('float32', scales, [n])),
      };
      done.set(key, q);
      weightBytes.before += w.size * 4;
      weightBytes.after += bits.byteLength + scales.byteLength;
    }
    const bias = node.opType === 'Gemm' && node.inputs[2] ? node.inputs[2] : '';
    const out = bias ? freshName(graph, `${node.outputs[0]}_binary`) : node.outputs[0];
    const name = `${node.name}_binary`;
    rewritten.push({
      name, opType: 'BinaryMatMul', domain: BINARY_DOMAIN, inputs: [node.inputs[0], q.bits, q.alpha], outputs: [out],
      attributes: new Map([['K', { type: 'int' as const, value: q.k }], ['N', { type: 'int' as const, value: q.n }],
        ['binary_activations', { type: 'int' as const, value: binaryActivations ? 1 : 0 }]]),
    });
    if (bias) rewritten.push({ name: `${node.name}_bias`, opType: 'Add', domain: '', inputs: [out, bias], outputs: [node.outputs[0]], attributes: new Map() });
    binary.push({ node: name, bits: q.bits, alpha: q.alpha, k: q.k, n: q.n, binaryActivations });
    Object.assign(r, { binarized: true, k: q.k, n: q.n, weightSqnr: q.sqnr });
  }
  if (opts.layers !== undefined && binary.length === 0) {
    throw new RangeError(`binarizeWeights opts.layers: expected patterns matching at least one float MatMul/Gemm weight, received ${opts.layers.map(String).join(', ')}` +
      (layers.length ? ` (matched: ${layers.map((l) => `${l.name}: ${l.reason}`).join('; ')})` : ''));
  }
  graph.nodes = rewritten;
  eliminateDeadNodes(graph);
  sortGraph(graph);
  weightBytes.ratio = weightBytes.after > 0 ? weightBytes.before / weightBytes.after : 1;
  const opsets = new Map(model.ir.meta.opsets);
  if (binary.length && !opsets.has(BINARY_DOMAIN)) opsets.set(BINARY_DOMAIN, 1);
  const report: BinaryReport = { layers, weightBytes, sizeBytes: { before: model.sizeBytes(), packed: 0, floatExport: 0 } };
  const result = new BinaryModel({ graph, meta: { ...model.ir.meta, opsets } }, binary, report);
  report.sizeBytes.packed = result.sizeBytes();
  report.sizeBytes.floatExport = result.toOnnx().byteLength;
  return result;
}
