// QDQ -> integer operators. A quantized model is kept as QDQ (DequantizeLinear -> float op ->
// QuantizeLinear, onnxruntime's format), which is easy to rewrite and to read; to run it on the
// INT8 kernels, each such island is replaced by one integer op that reads the quantized input
// and writes the quantized output directly, so consecutive INT8 ops never go through float.
//
// Two targets:
//   'runtime': may use nquant-domain ops (QLinearConv/QLinearMatMul with a fused clamp, an
//              int32 bias, float output) that only this runtime executes.
//   'onnx':    only ONNX and com.microsoft ops onnxruntime runs (the QOperator export format);
//              islands it cannot express stay in QDQ form, which is still valid ONNX.
import { Attribute, Graph, Node, attrInt, nodeName } from '../graph/ir';
import { FusedActivation, fusedActivation, isFused, FUSED_BASE } from '../graph/passes/fused';
import { constant, freshName, isGraphOutput, readers, transposeMatrix } from '../graph/passes/util';
import { eliminateDeadNodes, sortGraph } from '../graph/topo';
import { roundHalfToEven } from '../numeric';
import { dequantizeLinear } from './ops/quantization';
import { Tensor } from '../tensor';
import { fuseLookupRegions } from './qdq-lookup';
import { native } from '../native';

export type LoweringTarget = 'runtime' | 'onnx';

export interface LoweringReport {
  /** Islands replaced, by the op that replaced them. */
  lowered: { [op: string]: number };
  /** Q(DQ(x)) pairs with equal parameters removed. */
  pairsRemoved: number;
  /** Weight DequantizeLinear nodes left over and folded to float constants (runtime only). */
  weightsDequantized: number;
}

export const MS_DOMAIN = 'com.microsoft';
const NQ_DOMAIN = 'nquant';

type ByteType = 'uint8' | 'int8';

/** A DequantizeLinear feeding a value: where its quantized input and parameters come from. */
interface Dq {
  node: Node;
  q: string;
  scale: string;
  zeroPoint: string;
  scaleT: Tensor<'float32'>;
  zpT?: Tensor;
  axis: number;
  perTensor: boolean;
}

/** The single QuantizeLinear that consumes a value (per-tensor, constant parameters). */
interface Q {
  node: Node;
  scale: string;
  zeroPoint: string;
  scaleValue: number;
  zp: number;
  dtype: ByteType;
}

const PASS_THROUGH = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

function byteRange(t: ByteType): [number, number] {
  return t === 'uint8' ? [0, 255] : [-128, 127];
}

class Lowering {
  private users: Map<string, Node[]>;
  private producers: Map<string, Node>;
  readonly report: LoweringReport = { lowered: {}, pairsRemoved: 0, weightsDequantized: 0 };

  constructor(private readonly g: Graph, private readonly target: LoweringTarget) {
    this.users = readers(g);
    this.producers = g.producers();
  }

  run(): void {
    sortGraph(this.g);
    if (this.target === 'runtime' && !/__ref$/.test(native.cpuInfo().kernels.lookup ?? '__ref')) {
      // Before the per-op rules take the chain's Add/Mul apart: see qdq-lookup.ts. Only where
      // the lookup is SIMD: a scalar table read per byte is slower than the vectorised chain.
      const lookups = fuseLookupRegions(this.g);
      if (lookups > 0) this.report.lowered['nquant:QLinearLookup'] = lookups;
      this.refresh();
    }
    for (const node of [...this.g.nodes]) {
      if (!this.g.nodes.includes(node)) continue;
      const replaced = this.lowerNode(node);
      if (replaced) {
        this.report.lowered[replaced] = (this.report.lowered[replaced] ?? 0) + 1;
        this.refresh();
      }
    }
    this.removeRedundantPairs();
    if (this.target === 'runtime') {
      for (const node of [...this.g.nodes]) if (node.opType === 'MatMulInteger' && node.domain === '' && this.lowerDynamicMatMul(node)) {
        this.report.lowered[`${MS_DOMAIN}:DynamicQuantizeMatMul`] = (this.report.lowered[`${MS_DOMAIN}:DynamicQuantizeMatMul`] ?? 0) + 1;
        this.refresh();
      }
      eliminateDeadNodes(this.g);  // weight DQs the integer ops replaced need no folding
      this.foldWeightDequantizers();
    }
    eliminateDeadNodes(this.g);
    sortGraph(this.g);
  }

  private refresh(): void {
    this.users = readers(this.g);
    this.producers = this.g.producers();
  }

  private dq(name: string): Dq | undefined {
    const node = this.producers.get(name);
    if (!node || node.opType !== 'DequantizeLinear' || node.domain !== '') return undefined;
    const scaleT = constant(this.g, node.inputs[1]);
    if (!scaleT || scaleT.dtype !== 'float32') return undefined;
    const zpName = node.inputs[2] ?? '';
    const zpT = zpName ? constant(this.g, zpName) : undefined;
    if (zpName && !zpT) return undefined;
    if (node.attributes.has('block_size') && attrInt(node, 'block_size') !== 0) return undefined;
    return {
      node, q: node.inputs[0], scale: node.inputs[1], zeroPoint: zpName, scaleT: scaleT as Tensor<'float32'>, zpT,
      axis: attrInt(node, 'axis', 1), perTensor: scaleT.size === 1,
    };
  }

  private qOutputType(name: string): ByteType | undefined {
    const p = this.producers.get(name);
    if (p && p.opType === 'QuantizeLinear') {
      const zp = p.inputs[2] ? constant(this.g, p.inputs[2]) : undefined;
      if (zp) return zp.dtype === 'int8' ? 'int8' : zp.dtype === 'uint8' ? 'uint8' : undefined;
      const otype = p.attributes.get('output_dtype');
      if (otype && otype.type === 'int' && otype.value !== 0) return otype.value === 3 ? 'int8' : otype.value === 2 ? 'uint8' : undefined;
      return 'uint8';
    }
    const vi = this.g.valueInfo.get(name)?.dtype ?? constant(this.g, name)?.dtype;
    return vi === 'uint8' || vi === 'int8' ? vi : undefined;
  }

  /** The quantized type a DQ reads: zero point dtype, the constant's dtype, or its producer's. */
  private activationType(d: Dq): ByteType | undefined {
    const t = d.zpT?.dtype ?? this.qOutputType(d.q);
    return t === 'uint8' || t === 'int8' ? t : undefined;
  }

  /** The only reader of `name` when it is a per-tensor QuantizeLinear with constant parameters. */
  private soleQ(name: string): Q | undefined {
    if (isGraphOutput(this.g, name)) return undefined;
    const list = this.users.get(name);
    if (!list || list.length !== 1) return undefined;
    const node = list[0];
    if (node.opType !== 'QuantizeLinear' || node.domain !== '' || node.inputs[0] !== name) return undefined;
    const s = constant(this.g, node.inputs[1]);
    if (!s || s.dtype !== 'float32' || s.size !== 1) return undefined;
    const zpName = node.inputs[2] ?? '';
    const zpT = zpName ? constant(this.g, zpName) : undefined;
    if (zpName && !zpT) return undefined;
    const dtype = this.qOutputType(node.outputs[0]);
    if (!dtype || (zpT && zpT.dtype !== dtype)) return undefined;
    return { node, scale: node.inputs[1], zeroPoint: zpName, scaleValue: (s.data as Float32Array)[0], zp: zpT ? Number(zpT.data[0]) : 0, dtype };
  }

  /** A zero point input for ops that require one: the existing name or a new constant 0. */
  private zeroPointInput(name: string, dtype: ByteType): string {
    if (name) return name;
    const n = freshName(this.g, `zero_point_${dtype}`);
    this.g.initializers.set(n, dtype === 'uint8' ? new Tensor('uint8', new Uint8Array(1), []) : new Tensor('int8', new Int8Array(1), []));
    return n;
  }

  private replace(remove: Node[], add: Node): void {
    const first = this.g.nodes.findIndex((n) => remove.includes(n));
    this.g.nodes = this.g.nodes.filter((n) => !remove.includes(n));
    this.g.nodes.splice(Math.max(0, Math.min(first, this.g.nodes.length)), 0, add);
  }

  /** Nodes are removed only when nothing else reads their outputs. */
  private exclusive(node: Node, reader: Node): boolean {
    return node.outputs.every((o) => !o || (!isGraphOutput(this.g, o) && (this.users.get(o) ?? []).every((u) => u === reader)));
  }

  private lowerNode(node: Node): string | undefined {
    const base = isFused(node) ? FUSED_BASE[node.opType] : node.domain === '' ? node.opType : undefined;
    switch (base) {
      case 'Conv': return this.lowerConv(node);
      case 'MatMul': case 'Gemm': return this.lowerMatMul(node, base);
      case 'Add': case 'Mul': return this.lowerBinary(node, base);
      case 'Concat': return this.lowerConcat(node);
      case 'GlobalAveragePool': case 'AveragePool': case 'Sigmoid': case 'LeakyRelu': return this.lowerUnary(node, base);
      default:
        if (base && PASS_THROUGH.has(base)) return this.lowerPassThrough(node);
        return undefined;
    }
  }

  /**
   * The clamp a fused activation becomes on the quantized output, or undefined when it cannot
   * be one (LeakyRelu).
   */
  private clampOf(node: Node, q: Q): { qmin: number; qmax: number } | undefined {
    const [lo, hi] = byteRange(q.dtype);
    if (!isFused(node)) return { qmin: lo, qmax: hi };
    const act = fusedActivation(node);
    const quant = (x: number) => Math.min(hi, Math.max(lo, roundHalfToEven(x / q.scaleValue) + q.zp));
    switch (act.kind as FusedActivation | undefined) {
      case undefined: return { qmin: lo, qmax: hi };
      case 'Relu': return { qmin: Math.max(lo, q.zp), qmax: hi };
      case 'Clip': return { qmin: Number.isFinite(act.min) ? quant(act.min) : lo, qmax: Number.isFinite(act.max) ? quant(act.max) : hi };
      default: return undefined;
    }
  }

  private clampAttrs(attrs: Map<string, Attribute>, clamp: { qmin: number; qmax: number }, dtype: ByteType): void {
    const [lo, hi] = byteRange(dtype);
    if (clamp.qmin !== lo) attrs.set('qmin', { type: 'int', value: clamp.qmin });
    if (clamp.qmax !== hi) attrs.set('qmax', { type: 'int', value: clamp.qmax });
  }

  private baseAttributes(node: Node, drop: string[] = []): Map<string, Attribute> {
    const out = new Map<string, Attribute>();
    const fusion = new Set(['activation', 'clip_min', 'clip_max', 'alpha', 'gemm_alpha', ...drop]);
    for (const [k, v] of node.attributes) if (!(isFused(node) && fusion.has(k)) && !drop.includes(k)) out.set(k, v);
    return out;
  }

  /**
   * An int32 bias input for scale sx * sw[c]: a DQ of int32 with that scale is used as is; a
   * float constant is quantized here (how onnxruntime's quantizer does it).
   */
  private int32Bias(name: string, sx: number, sw: Float32Array, channels: number): string | undefined {
    if (!name) return '';
    const scaleOf = (c: number) => Math.fround(sx * sw[sw.length === 1 ? 0 : c]);
    const d = this.dq(name);
    if (d) {
      const data = constant(this.g, d.q);
      if (!data || data.dtype !== 'int32' || data.size !== channels) return undefined;
      if (d.zpT && Array.from(d.zpT.data as Int32Array).some((v) => v !== 0)) return undefined;
      const s = d.scaleT.data as Float32Array;
      for (let c = 0; c < channels; c++) {
        const want = scaleOf(c), got = s[s.length === 1 ? 0 : c];
        if (Math.abs(got - want) > 1e-3 * Math.abs(want)) return undefined;
      }
      return d.q;
    }
    const f = constant(this.g, name);
    if (!f || f.dtype !== 'float32' || f.size !== channels) return undefined;
    const q = new Int32Array(channels);
    const fd = f.data as Float32Array;
    for (let c = 0; c < channels; c++) {
      const v = roundHalfToEven(fd[c] / scaleOf(c));
      q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v));
    }
    const n = freshName(this.g, `${name}_quantized`);
    this.g.initializers.set(n, new Tensor('int32', q, [channels]));
    return n;
  }

  private lowerConv(node: Node): string | undefined {
    const x = this.dq(node.inputs[0]);
    const w = this.dq(node.inputs[1]);
    if (!x || !w || !x.perTensor) return undefined;
    const xt = this.activationType(x);
    const wData = constant(this.g, w.q);
    if (!xt || !wData || (wData.dtype !== 'int8' && wData.dtype !== 'uint8')) return undefined;
    const m = wData.dims[0];
    if (!w.perTensor && (w.axis !== 0 || w.scaleT.size !== m)) return undefined;
    const bias = this.int32Bias(node.inputs[2] ?? '', (x.scaleT.data as Float32Array)[0], w.scaleT.data as Float32Array, m);
    if (bias === undefined) return undefined;
    const q = this.soleQ(node.outputs[0]);
    const clamp = q ? this.clampOf(node, q) : undefined;
    const attrs = this.baseAttributes(node);
    let opType = 'QLinearConv', domain = NQ_DOMAIN;
    if (this.target === 'onnx') {
      // Standard QLinearConv: quantized output, and any activation must be implied by the range.
      if (!q || !clamp) return undefined;
      const [lo, hi] = byteRange(q.dtype);
      if (clamp.qmin !== lo || clamp.qmax !== hi) {
        const act = fusedActivation(node).kind;
        if (!(act === 'Relu' && q.zp === lo)) return undefined;
      }
      domain = '';
    } else if (q) {
      if (!clamp) return undefined;
      this.clampAttrs(attrs, clamp, q.dtype);
    } else if (isFused(node) && fusedActivation(node).kind) {
      return undefined;  // a float output with an activation stays in float
    }
    const inputs = [
      x.q, x.scale, this.zeroPointInput(x.zeroPoint, xt), w.q, w.scale, this.zeroPointInput(w.zeroPoint, wData.dtype as ByteType),
      q ? q.scale : '', q ? this.zeroPointInput(q.zeroPoint, q.dtype) : '',
    ];
    if (bias) inputs.push(bias);
    while (inputs[inputs.length - 1] === '') inputs.pop();
    const out = q ? q.node.outputs[0] : node.outputs[0];
    const lowered: Node = { name: node.name, opType, domain, inputs, outputs: [out], attributes: attrs };
    const remove = [node, ...(q ? [q.node] : [])];
    this.replace(remove, lowered);
    return `${domain || 'ai.onnx'}:${opType}`;
  }

  private lowerMatMul(node: Node, base: 'MatMul' | 'Gemm'): string | undefined {
    const a = this.dq(node.inputs[0]);
    const b = this.dq(node.inputs[1]);
    if (!a || !b || !a.perTensor) return undefined;
    const at = this.activationType(a);
    if (!at) return undefined;
    let bName = b.q, bScale = b.scale, bZp = b.zeroPoint;
    let bData = constant(this.g, b.q);
    const bt = bData ? bData.dtype : this.activationType(b);
    if (bt !== 'int8' && bt !== 'uint8') return undefined;
    let n: number | undefined;
    if (base === 'Gemm') {
      const alpha = node.attributes.get(isFused(node) ? 'gemm_alpha' : 'alpha');
      const beta = node.attributes.get('beta');
      if (attrInt(node, 'transA', 0) !== 0 || (alpha && alpha.type === 'float' && alpha.value !== 1)) return undefined;
      if (beta && beta.type === 'float' && beta.value !== 1 && node.inputs[2]) return undefined;
      if (!bData || bData.dims.length !== 2) return undefined;
      const transB = attrInt(node, 'transB', 0) === 1;
      const perAxis = !b.perTensor;
      if (perAxis && b.axis !== (transB ? 0 : 1)) return undefined;
      if (transB) {
        // Weights transposed once here, so the kernel sees B as [K, N] like MatMul's.
        bName = freshName(this.g, `${b.q}_t`);
        bData = transposeMatrix(bData);
        this.g.initializers.set(bName, bData);
      }
      n = bData.dims[1];
    } else {
      if (bData) {
        if (bData.dims.length !== 2) return undefined;
        n = bData.dims[1];
        if (!b.perTensor && !(b.axis === 1 || b.axis === -1)) return undefined;
      } else if (!b.perTensor) return undefined;
    }
    if (!b.perTensor && n !== undefined && b.scaleT.size !== n) return undefined;
    const biasInput = base === 'Gemm' ? node.inputs[2] ?? '' : isFused(node) ? node.inputs[2] ?? '' : '';
    if (biasInput && n === undefined) return undefined;
    const bias = biasInput ? this.int32Bias(biasInput, (a.scaleT.data as Float32Array)[0], b.scaleT.data as Float32Array, n as number) : '';
    if (bias === undefined) return undefined;
    const q = this.soleQ(node.outputs[0]);
    const clamp = q ? this.clampOf(node, q) : undefined;
    if (q && !clamp) return undefined;
    if (!q && isFused(node) && fusedActivation(node).kind) return undefined;
    bZp = this.zeroPointInput(bZp, bt);
    const aZp = this.zeroPointInput(a.zeroPoint, at);
    const out = q ? q.node.outputs[0] : node.outputs[0];
    const remove = [node, ...(q ? [q.node] : [])];
    const attrs = new Map<string, Attribute>();
    let opType = 'QLinearMatMul', domain = NQ_DOMAIN;
    const inputs = [a.q, a.scale, aZp, bName, bScale, bZp, q ? q.scale : '', q ? this.zeroPointInput(q.zeroPoint, q.dtype) : ''];
    if (this.target === 'onnx') {
      const [lo, hi] = q ? byteRange(q.dtype) : [0, 0];
      const implied = q && clamp && (clamp.qmin === lo || (fusedActivation(node).kind === 'Relu' && q.zp === lo)) && clamp.qmax === hi;
      if (q && implied && !bias) {
        domain = '';
      } else if (this.rankOf(a.q) === 2 && (!q || implied)) {
        // com.microsoft QGemm takes the bias and can write float.
        opType = 'QGemm';
        domain = MS_DOMAIN;
        const qg = [a.q, a.scale, aZp, bName, bScale, bZp, bias || '', ...(q ? [q.scale, inputs[7]] : [])];
        while (qg[qg.length - 1] === '') qg.pop();
        this.replace(remove, { name: node.name, opType, domain, inputs: qg, outputs: [out], attributes: attrs });
        return `${domain}:${opType}`;
      } else return undefined;
    } else {
      if (q && clamp) this.clampAttrs(attrs, clamp, q.dtype);
      if (bias) inputs.push(bias);
    }
    while (inputs[inputs.length - 1] === '') inputs.pop();
    this.replace(remove, { name: node.name, opType, domain, inputs, outputs: [out], attributes: attrs });
    return `${domain || 'ai.onnx'}:${opType}`;
  }

  private rankOf(name: string): number | undefined {
    return this.g.valueInfo.get(name)?.dims?.length ?? this.g.inputs.find((i) => i.name === name)?.dims?.length;
  }

  private lowerBinary(node: Node, op: 'Add' | 'Mul'): string | undefined {
    const a = this.dq(node.inputs[0]);
    const b = this.dq(node.inputs[1]);
    const q = this.soleQ(node.outputs[0]);
    if (!a || !b || !q || !a.perTensor || !b.perTensor) return undefined;
    const at = this.activationType(a), bt = this.activationType(b);
    if (!at || at !== bt || at !== q.dtype) return undefined;
    const inputs = [a.q, a.scale, this.zeroPointInput(a.zeroPoint, at), b.q, b.scale, this.zeroPointInput(b.zeroPoint, at), q.scale, this.zeroPointInput(q.zeroPoint, q.dtype)];
    const opType = `QLinear${op}`;
    this.replace([node, q.node], { name: node.name, opType, domain: MS_DOMAIN, inputs, outputs: [q.node.outputs[0]], attributes: new Map() });
    return `${MS_DOMAIN}:${opType}`;
  }

  private lowerConcat(node: Node): string | undefined {
    const q = this.soleQ(node.outputs[0]);
    if (!q) return undefined;
    const inputs = [q.scale, this.zeroPointInput(q.zeroPoint, q.dtype)];
    for (const i of node.inputs) {
      const d = this.dq(i);
      if (!d || !d.perTensor || this.activationType(d) !== q.dtype) return undefined;
      inputs.push(d.q, d.scale, this.zeroPointInput(d.zeroPoint, q.dtype));
    }
    this.replace([node, q.node], { name: node.name, opType: 'QLinearConcat', domain: MS_DOMAIN, inputs, outputs: [q.node.outputs[0]], attributes: new Map(node.attributes) });
    return `${MS_DOMAIN}:QLinearConcat`;
  }

  private lowerUnary(node: Node, op: string): string | undefined {
    const x = this.dq(node.inputs[0]);
    const q = this.soleQ(node.outputs[0]);
    if (!x || !q || !x.perTensor || this.activationType(x) !== q.dtype) return undefined;
    if (op === 'AveragePool' && node.outputs.length > 1) return undefined;
    const inputs = [x.q, x.scale, this.zeroPointInput(x.zeroPoint, q.dtype), q.scale, this.zeroPointInput(q.zeroPoint, q.dtype)];
    const opType = `QLinear${op}`;
    const attrs = new Map(node.attributes);
    if (op === 'GlobalAveragePool') attrs.set('channels_last', { type: 'int', value: 0 });
    this.replace([node, q.node], { name: node.name, opType, domain: MS_DOMAIN, inputs, outputs: [q.node.outputs[0]], attributes: attrs });
    return `${MS_DOMAIN}:${opType}`;
  }

  /** DQ -> data movement -> Q with equal parameters: the op runs on the quantized bytes. */
  private lowerPassThrough(node: Node): string | undefined {
    if (node.opType === 'MaxPool' && node.outputs.filter(Boolean).length > 1) return undefined;
    const x = this.dq(node.inputs[0]);
    const q = this.soleQ(node.outputs[0]);
    if (!x || !q || !x.perTensor || this.activationType(x) !== q.dtype) return undefined;
    const zx = x.zpT ? Number(x.zpT.data[0]) : 0;
    if ((x.scaleT.data as Float32Array)[0] !== q.scaleValue || zx !== q.zp) return undefined;
    const lowered: Node = { ...node, inputs: [x.q, ...node.inputs.slice(1)], outputs: [q.node.outputs[0]], attributes: new Map(node.attributes) };
    this.replace([node, q.node], lowered);
    return `ai.onnx:${node.opType}`;
  }

  private only(name: string, opType: string): Node | undefined {
    if (isGraphOutput(this.g, name)) return undefined;
    const list = this.users.get(name);
    return list && list.length === 1 && list[0].opType === opType && list[0].domain === '' ? list[0] : undefined;
  }

  /**
   * DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(by a_scale * b_scale) [-> Add bias]
   * (quantize_dynamic's pattern) -> one DynamicQuantizeMatMul: the activation is quantized and
   * multiplied in one step, scales and bias applied in the GEMM's output stage.
   */
  private lowerDynamicMatMul(mi: Node): boolean {
    const [aq, wq, az, wz] = mi.inputs;
    const d = this.producers.get(aq);
    if (!d || d.opType !== 'DynamicQuantizeLinear' || d.outputs[0] !== aq || d.outputs[2] !== az) return false;
    const w = constant(this.g, wq);
    if (!w || w.dims.length !== 2 || (wz && !constant(this.g, wz))) return false;
    const cast = this.only(mi.outputs[0], 'Cast');
    if (!cast || attrInt(cast, 'to', 0) !== 1) return false;
    const mul = this.only(cast.outputs[0], 'Mul');
    if (!mul) return false;
    const scaleName = mul.inputs[0] === cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
    const sp = this.producers.get(scaleName);
    if (!sp || sp.opType !== 'Mul' || !this.only(scaleName, 'Mul')) return false;
    const ws = sp.inputs[0] === d.outputs[1] ? sp.inputs[1] : sp.inputs[1] === d.outputs[1] ? sp.inputs[0] : undefined;
    const wsT = ws ? constant(this.g, ws) : undefined;
    const n = w.dims[1];
    if (!ws || !wsT || wsT.dtype !== 'float32' || (wsT.size !== 1 && !(wsT.size === n && wsT.dims.length === 1))) return false;
    let out = mul.outputs[0];
    const remove = [mi, cast, mul, sp];
    let bias = '';
    const addNode = this.only(out, 'Add');
    if (addNode) {
      const other = addNode.inputs[0] === out ? addNode.inputs[1] : addNode.inputs[0];
      const b = constant(this.g, other);
      if (b && b.dtype === 'float32' && b.size === n && b.dims[b.dims.length - 1] === n) {
        bias = other;
        out = addNode.outputs[0];
        remove.push(addNode);
      }
    }
    const inputs = [d.inputs[0], wq, ws, wz ?? '', bias];
    while (inputs[inputs.length - 1] === '') inputs.pop();
    this.replace(remove, { name: mi.name, opType: 'DynamicQuantizeMatMul', domain: MS_DOMAIN, inputs, outputs: [out], attributes: new Map() });
    return true;
  }

  /** Q(DQ(x)) with the same scale and zero point is x. */
  private removeRedundantPairs(): void {
    this.refresh();
    for (const node of [...this.g.nodes]) {
      if (node.opType !== 'QuantizeLinear' || node.domain !== '') continue;
      const d = this.dq(node.inputs[0]);
      if (!d || !d.perTensor) continue;
      const q = this.soleQLike(node);
      if (!q) continue;
      const zd = d.zpT ? Number(d.zpT.data[0]) : 0;
      if ((d.scaleT.data as Float32Array)[0] !== q.scaleValue || zd !== q.zp || this.activationType(d) !== q.dtype) continue;
      const out = node.outputs[0];
      if (isGraphOutput(this.g, out)) continue;
      for (const u of this.users.get(out) ?? []) u.inputs = u.inputs.map((i) => (i === out ? d.q : i));
      this.g.nodes = this.g.nodes.filter((n) => n !== node);
      this.report.pairsRemoved++;
      this.refresh();
    }
  }

  private soleQLike(node: Node): Q | undefined {
    const s = constant(this.g, node.inputs[1]);
    if (!s || s.size !== 1 || s.dtype !== 'float32') return undefined;
    const zpT = node.inputs[2] ? constant(this.g, node.inputs[2]) : undefined;
    if (node.inputs[2] && !zpT) return undefined;
    const dtype = this.qOutputType(node.outputs[0]);
    if (!dtype) return undefined;
    return { node, scale: node.inputs[1], zeroPoint: node.inputs[2] ?? '', scaleValue: (s.data as Float32Array)[0], zp: zpT ? Number(zpT.data[0]) : 0, dtype };
  }

  /** Weights whose consumer stayed in float: dequantized once here rather than every run. */
  private foldWeightDequantizers(): void {
    for (const node of [...this.g.nodes]) {
      if (node.opType !== 'DequantizeLinear' || node.domain !== '') continue;
      const d = this.dq(node.outputs[0]);
      const data = d ? constant(this.g, d.q) : undefined;
      if (!d || !data || isGraphOutput(this.g, node.outputs[0])) continue;
      if (data.dtype !== 'int8' && data.dtype !== 'uint8' && data.dtype !== 'int32') continue;
      // Per tensor: scalar parameters, whatever rank the file gave them.
      const scale = d.perTensor ? d.scaleT.reshape([]) : d.scaleT;
      const zp = d.zpT && d.perTensor ? d.zpT.reshape([]) : d.zpT;
      let out: Tensor;
      try {
        out = dequantizeLinear(data as Tensor<'int8'>, scale, zp as Tensor<'int8'> | undefined, d.axis);
      } catch (e) {
        // The op helper names only its argument: say which node and weight of the model it was.
        const E = e instanceof RangeError ? RangeError : e instanceof TypeError ? TypeError : Error;
        throw new E(`DequantizeLinear node '${nodeName(node)}' (weight '${d.q}'): ${(e as Error).message}`);
      }
      this.g.initializers.set(node.outputs[0], out);
      this.g.nodes = this.g.nodes.filter((n) => n !== node);
      this.report.weightsDequantized++;
    }
  }
}

/** True when the graph has QDQ islands or quantized ops (worth lowering). */
export function hasQdq(graph: Graph): boolean {
  return graph.nodes.some((n) => (n.opType === 'DequantizeLinear' || n.opType === 'MatMulInteger') && n.domain === '');
}

/** Rewrites QDQ islands into integer ops in place; returns what changed. */
export function lowerQdq(graph: Graph, target: LoweringTarget): LoweringReport {
  const l = new Lowering(graph, target);
  l.run();
  return l.report;
}
