// quantizeInt4: weight-only, block-wise 4-bit MatMul/Gemm weights. Each quantized node becomes
// com.microsoft MatMulNBits (bits 4, onnxruntime's contrib op, which onnxruntime-node runs on
// its CPU provider), followed by an Add for a Gemm's bias. nquant runs the same node on its
// INT4 GEMM kernels (native op MatMulNBits), so both runtimes read the same 4-bit values.
import { cloneGraph } from '../graph/clone';
import { Graph, ModelIR, Node, attrFloat, attrInt } from '../graph/ir';
import { constant, freshName, transposeMatrix } from '../graph/passes/util';
import { eliminateDeadNodes, sortGraph } from '../graph/topo';
import { invalidType } from '../errors';
import { isExcluded } from '../quant/options';
import { Model, ModelOptions } from '../runtime/model';
import { MS_DOMAIN } from '../runtime/qdq-lowering';
import { Tensor } from '../tensor';
import { Int4Blocks, quantizeInt4Blocks } from './int4-blocks';
import { QuantizeInt4Options, resolveInt4Options, ResolvedInt4Options } from './int4-options';

export interface Int4LayerReport {
  name: string;
  opType: string;
  quantized: boolean;
  /** Why the node stays in float. */
  reason?: string;
  /** Weight shape as MatMulNBits sees it: K inputs, N outputs. */
  k?: number;
  n?: number;
  /** Signal-to-quantization-noise ratio of the weight in dB (weight energy / error energy). */
  weightSqnr?: number;
}

export interface Int4Report {
  blockSize: number;
  symmetric: boolean;
  method: ResolvedInt4Options['method'];
  layers: Int4LayerReport[];
  /** Bytes of the float weights replaced, and of what replaced them (codes, scales, zero points). */
  weightBytes: { before: number; after: number; ratio: number };
  /** Serialized model bytes. */
  sizeBytes: { before: number; after: number; ratio: number };
}

/** A model whose MatMul/Gemm weights are block-wise INT4 (MatMulNBits nodes). */
export class Int4Model extends Model {
  constructor(ir: ModelIR, readonly report: Int4Report, options: ModelOptions = {}) {
    super(ir, options);
  }
}

/** Why a node cannot be quantized, or undefined when it can. */
function refusal(graph: Graph, node: Node): string | undefined {
  const w = constant(graph, node.inputs[1]);
  if (!w || w.dtype !== 'float32') return 'weight is not a float32 initializer';
  if (w.dims.length !== 2) return `weight is not a matrix (dims [${w.dims.join(', ')}])`;
  if (node.opType === 'Gemm') {
    if (attrInt(node, 'transA', 0) !== 0 || attrFloat(node, 'alpha', 1) !== 1 || (node.inputs[2] && attrFloat(node, 'beta', 1) !== 1)) {
      return 'Gemm with transA or alpha/beta other than 1';
    }
  }
  return undefined;
}

function weightSqnr(w: Float32Array, q: Int4Blocks): number {
  let energy = 0;
  for (const v of w) energy += v * v;
  return q.squaredError === 0 ? Infinity : 10 * Math.log10(energy / q.squaredError);
}

export async function quantizeInt4(model: Model, opts: QuantizeInt4Options = {}): Promise<Int4Model> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const o = resolveInt4Options(opts);
  const graph = cloneGraph(model.ir.graph);
  if (graph.nodes.some((n) => n.domain === MS_DOMAIN && n.opType === 'MatMulNBits')) {
    throw new TypeError('model: expected a float model, received one that already has MatMulNBits nodes');
  }
  const layers: Int4LayerReport[] = [];
  const weightBytes = { before: 0, after: 0, ratio: 1 };
  // A weight read by several nodes is quantized once per orientation.
  const done = new Map<string, { b: string; scales: string; zp: string; k: number; n: number; sqnr: number }>();
  const rewritten: Node[] = [];
  for (const node of graph.nodes) {
    if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) { rewritten.push(node); continue; }
    const r: Int4LayerReport = { name: node.name, opType: node.opType, quantized: false };
    layers.push(r);
    const why = !o.opTypes.has(node.opType) ? `op type ${node.opType} not in opts.opTypes`
      : isExcluded(node.name, o.nodesToExclude) ? 'excluded by opts.nodesToExclude' : refusal(graph, node);
    if (why) { r.reason = why; rewritten.push(node); continue; }

    const wName = node.inputs[1];
    const transposed = node.opType === 'MatMul' || attrInt(node, 'transB', 0) === 0;
    const key = `${wName}|${transposed}`;
    let q = done.get(key);
    if (!q) {
      const w = constant(graph, wName) as Tensor<'float32'>;
      const rows = transposed ? transposeMatrix(w) : w;  // [N, K]: one row per output channel
      const [n, k] = rows.dims;
      const blocks = quantizeInt4Blocks(rows.data as Float32Array, n, k, o);
      const add = (base: string, t: Tensor): string => {
        const name = freshName(graph, base);
        graph.initializers.set(name, t);
        return name;
      };
      q = {
        k, n, sqnr: weightSqnr(rows.data as Float32Array, blocks),
        b: add(`${wName}_int4`, new Tensor('uint8', blocks.packed, [n, blocks.nBlocks, o.blockSize / 2])),
        scales: add(`${wName}_int4_scales`, new Tensor('float32', blocks.scales, [n * blocks.nBlocks])),
        zp: blocks.zeroPoints ? add(`${wName}_int4_zero_points`, new Tensor('uint8', blocks.zeroPoints, [blocks.zeroPoints.length])) : '',
      };
      done.set(key, q);
      weightBytes.before += w.size * 4;
      weightBytes.after += blocks.packed.length + blocks.scales.byteLength + (blocks.zeroPoints?.length ?? 0);
    }
    const bias = node.opType === 'Gemm' && node.inputs[2] ? node.inputs[2] : '';
    const out = bias ? freshName(graph, `${node.outputs[0]}_int4`) : node.outputs[0];
    rewritten.push({
      name: `${node.name}_int4`, opType: 'MatMulNBits', domain: MS_DOMAIN,
      inputs: q.zp ? [node.inputs[0], q.b, q.scales, q.zp] : [node.inputs[0], q.b, q.scales],
      outputs: [out],
      attributes: new Map([
        ['K', { type: 'int' as const, value: q.k }], ['N', { type: 'int' as const, value: q.n }],
        ['bits', { type: 'int' as const, value: 4 }], ['block_size', { type: 'int' as const, value: o.blockSize }],
        ['accuracy_level', { type: 'int' as const, value: o.int8Activations ? 4 : 0 }],
      ]),
    });
    if (bias) rewritten.push({ name: `${node.name}_bias`, opType: 'Add', domain: '', inputs: [out, bias], outputs: [node.outputs[0]], attributes: new Map() });
    r.quantized = true;
    r.k = q.k;
    r.n = q.n;
    r.weightSqnr = q.sqnr;
  }
  graph.nodes = rewritten;
  eliminateDeadNodes(graph);
  sortGraph(graph);
  weightBytes.ratio = weightBytes.after > 0 ? weightBytes.before / weightBytes.after : 1;
  const opsets = new Map(model.ir.meta.opsets);
  if (!opsets.has(MS_DOMAIN)) opsets.set(MS_DOMAIN, 1);
  const report: Int4Report = {
    blockSize: o.blockSize, symmetric: o.symmetric, method: o.method, layers, weightBytes,
    sizeBytes: { before: model.sizeBytes(), after: 0, ratio: 1 },
  };
  const result = new Int4Model({ graph, meta: { ...model.ir.meta, opsets } }, report);
  report.sizeBytes.after = result.sizeBytes();
  report.sizeBytes.ratio = report.sizeBytes.before / report.sizeBytes.after;
  return result;
}
