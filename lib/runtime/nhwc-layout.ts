// Channels-last layout for CNNs. The INT8 convolution works on NHWC pixels (each patch row is
// a run of channels); fed NCHW it transposes its input in and its output back, which for the
// large early layers costs as much as the arithmetic. The float convolution's NHWC form
// needs no patch matrix at all (a 1x1 conv is a GEMM over pixels, a kxk window a few
// contiguous runs). This pass keeps chains of such ops in NHWC and transposes only where the
// chain meets an op that needs NCHW (like onnxruntime's NHWC transformer for its QLinear ops).
import { Dim, Graph, Node } from '../graph/ir';
import { freshName, isGraphOutput } from '../graph/passes/util';
import { sortGraph } from '../graph/topo';
import { MS_DOMAIN } from './qdq-lowering';

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

export const TO_NCHW_PERM = TO_NCHW;

type DimsOf = (v: string) => readonly Dim[] | undefined;

/**
 * A float Conv/FusedConv the native NHWC convolution runs: 2-D, constant weights (packed once
 * per plan), group 1 or depthwise (group = C = M).
 */
function nhwcFloatConv(node: Node, dimsOf: DimsOf, isInitializer: (v: string) => boolean): boolean {
  const isConv = (node.domain === '' && node.opType === 'Conv') || (node.domain === 'nquant' && node.opType === 'FusedConv');
  if (!isConv || !isInitializer(node.inputs[1])) return false;
  const x = dimsOf(node.inputs[0]), w = dimsOf(node.inputs[1]);
  if (x?.length !== 4 || w?.length !== 4) return false;
  const act = node.attributes.get('activation');
  if (act && !(act.type === 'string' && (act.value === 'Relu' || act.value === 'Clip' || act.value === ''))) return false;
  const group = groupOf(node);
  return group === 1 || (group === x[1] && group === w[0] && w[1] === 1);
}

function groupOf(node: Node): number {
  const g = node.attributes.get('group');
  return g?.type === 'int' ? g.value : 1;
}

interface LayoutRule {
  apply: (n: Node) => void;
  /** The op is worth moving to NHWC even when its input is NCHW (a transpose is inserted). */
  startsChain: boolean;
}

/** Ops that take an NHWC form (their data input 0 and output 0 become channels-last). */
function layoutOp(node: Node, rankOf: (v: string) => number | undefined, dtypeOf: (v: string) => string | undefined,
                  dimsOf: DimsOf, isInitializer: (v: string) => boolean, floatConvs: boolean): LayoutRule | undefined {
  const rule = layoutFn(node, rankOf, dtypeOf, dimsOf, isInitializer, floatConvs);
  if (!rule) return undefined;
  // Float pools only continue a chain: moving an isolated one would just add transposes.
  const floatPool = node.domain === '' && (node.opType === 'MaxPool' || node.opType === 'GlobalAveragePool') && dtypeOf(node.inputs[0]) === 'float32';
  return { apply: rule, startsChain: !floatPool };
}

function layoutFn(node: Node, rankOf: (v: string) => number | undefined, dtypeOf: (v: string) => string | undefined,
                  dimsOf: DimsOf, isInitializer: (v: string) => boolean, floatConvs: boolean): ((n: Node) => void) | undefined {
  if (rankOf(node.inputs[0]) !== 4) return undefined;
  if (floatConvs && dtypeOf(node.inputs[0]) === 'float32') {
    if (nhwcFloatConv(node, dimsOf, isInitializer)) {
      return (n) => {
        n.domain = 'nquant';
        n.opType = 'FusedConv';
        n.attributes.set('channels_last', { type: 'int', value: 1 });
      };
    }
    if (node.domain === '' && ((node.opType === 'MaxPool' && node.outputs.filter(Boolean).length === 1) || node.opType === 'GlobalAveragePool')) {
      return (n) => {
        n.attributes.set('channels_last', { type: 'int', value: 1 });
        n.attributes.delete('storage_order');
      };
    }
  }
  if (node.domain === 'nquant' && node.opType === 'QLinearConv') {
    return (n) => n.attributes.set('channels_last', { type: 'int', value: 1 });
  }
  if (node.domain === MS_DOMAIN && (node.opType === 'QLinearGlobalAveragePool' || node.opType === 'QLinearAveragePool')) {
    return (n) => n.attributes.set('channels_last', { type: 'int', value: 1 });
  }
  const t = dtypeOf(node.inputs[0]);
  if (node.domain === '' && node.opType === 'MaxPool' && (t === 'uint8' || t === 'int8') && node.outputs.filter(Boolean).length === 1) {
    return (n) => {
      n.domain = MS_DOMAIN;
      n.opType = 'NhwcMaxPool';
      n.attributes.delete('storage_order');
    };
  }
  return undefined;
}

// Float ops applied element by element (their other inputs, like Clip's bounds, are scalars).
const FLOAT_UNARY = new Set(['Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'LeakyRelu', 'Identity']);
const FLOAT_BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * Element-wise ops: layout does not matter when every data input has the same one (rank-4
 * inputs that broadcast in NCHW broadcast the same way once all are permuted). Besides the
 * integer ops this covers per-tensor Quantize/DequantizeLinear and float element-wise ops, so
 * a float island inside an integer chain (MobileNetV3's HardSigmoid gates) stays channels-last.
 */
function elementwiseInputs(node: Node, isScalar: (v: string) => boolean): number[] | undefined {
  if (node.domain === MS_DOMAIN) {
    if (node.opType === 'QLinearAdd' || node.opType === 'QLinearMul') return [0, 3];
    if (node.opType === 'QLinearSigmoid' || node.opType === 'QLinearLeakyRelu') return [0];
    return undefined;
  }
  if (node.domain === 'nquant' && node.opType === 'QLinearLookup') return [0];
  if (node.domain !== '') return undefined;
  if (node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') return isScalar(node.inputs[1]) ? [0] : undefined;
  if (FLOAT_UNARY.has(node.opType)) return node.inputs.slice(1).every((v) => !v || isScalar(v)) ? [0] : undefined;
  if (FLOAT_BINARY.has(node.opType)) return [0, 1];
  return undefined;
}

export interface NhwcLayoutOptions {
  /** Float Conv chains (with their pools) go channels-last too, not only integer ones. */
  floatConvs?: boolean;
  /**
   * With floatConvs, when given: float Conv -> Add (-> Relu) chains are fused into one conv and the values
   * that disappear (the conv's and the Add's own outputs) are added here.
   */
  fusedAway?: Set<string>;
}

/**
 * Rewrites the graph in place. Returns, for each value that now exists only channels-last,
 * the name of its NHWC form (so a caller capturing it can transpose it back).
 */
export function toNhwcLayout(graph: Graph, opts: NhwcLayoutOptions = {}): Map<string, string> {
  const rankOf = (v: string) => graph.valueInfo.get(v)?.dims?.length ?? graph.inputs.find((i) => i.name === v)?.dims?.length;
  const dtypeOf = (v: string) => graph.valueInfo.get(v)?.dtype ?? graph.inputs.find((i) => i.name === v)?.dtype;
  const unitSpatial = (v: string) => {
    const dims = graph.initializers.get(v)?.dims ?? graph.valueInfo.get(v)?.dims;
    return dims !== undefined && dims.length === 4 && dims[2] === 1 && dims[3] === 1;
  };
  const dimsOf: DimsOf = (v) => graph.initializers.get(v)?.dims ?? graph.valueInfo.get(v)?.dims ?? graph.inputs.find((i) => i.name === v)?.dims;
  const isInitializer = (v: string) => graph.initializers.has(v);
  const isScalar = (v: string) => {
    const dims = graph.initializers.get(v)?.dims ?? graph.valueInfo.get(v)?.dims;
    return dims !== undefined && dims.every((d) => d === 1);
  };
  sortGraph(graph);
  // NHWC name of a value available in NHWC; values listed in `nhwcOnly` no longer exist in NCHW.
  const nhwc = new Map<string, string>();
  const nhwcOnly = new Set<string>();
  const out: Node[] = [];
  const transpose = (from: string, to: string, perm: number[]): Node => ({
    name: freshName(graph, `${to}_transpose`), opType: 'Transpose', domain: '', inputs: [from], outputs: [to],
    attributes: new Map([['perm', { type: 'ints' as const, value: perm }]]),
  });
  const nhwcOf = (v: string): string => {
    const known = nhwc.get(v);
    if (known) return known;
    const name = freshName(graph, `${v}_nhwc`);
    out.push(transpose(v, name, TO_NHWC));
    nhwc.set(v, name);
    return name;
  };
  // NCHW reads of an NHWC-only value get a transpose back under the original name.
  const restored = new Set<string>();
  const needNchw = (v: string): void => {
    if (!nhwcOnly.has(v) || restored.has(v)) return;
    out.push(transpose(nhwc.get(v)!, v, TO_NCHW));
    restored.add(v);
  };
  // What each layout would cost an element-wise op in full-size transposes: NHWC needs its other
  // rank-4 inputs permuted (one already in NHWC, or with 1x1 spatial dims, is free), NCHW needs
  // its NHWC-only inputs restored (once each). Ties stay NCHW, the layout the graph was written in.
  const transposesToNhwc = (inputs: string[]): number => inputs.filter((v) => rankOf(v) === 4 && !nhwc.has(v) && !isScalar(v) && !unitSpatial(v)).length;
  const transposesToNchw = (inputs: string[]): number => inputs.filter((v) => nhwcOnly.has(v) && !restored.has(v)).length;
  const produceNhwc = (node: Node): void => {
    const y = node.outputs[0];
    const name = freshName(graph, `${y}_nhwc`);
    node.outputs = [name, ...node.outputs.slice(1)];
    nhwc.set(y, name);
    nhwcOnly.add(y);
  };

  // Readers of each value (a graph output counts as one): a conv output read only by an Add
  // can become that Add.
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const v of n.inputs) if (v) readers.set(v, (readers.get(v) ?? 0) + 1);
  for (const o of graph.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);
  // Channels-last float convs that may still take a residual sum, by their original output.
  const residualConv = new Map<string, Node>();
  // Convs that took an Add (by the Add's original output): a Relu after it may fold in too.
  const fusedAdd = new Map<string, Node>();
  const sameDims = (a: string, b: string): boolean => {
    const da = dimsOf(a), db = dimsOf(b);
    return da !== undefined && db !== undefined && da.length === db.length && da.every((d, i) => d !== null && d === db[i]);
  };
  // The conv now produces `node`'s output (the Add or Relu it absorbed); its own output is gone.
  const absorb = (conv: Node, node: Node, gone: string): void => {
    conv.outputs = [node.outputs[0]];
    produceNhwc(conv);
    nhwc.delete(gone);
    nhwcOnly.delete(gone);
  };
  // Conv -> Add(same shape) [-> Relu] becomes one conv with the Add's other operand as its
  // residual input Z and the Relu as its activation, applied in the GEMM epilogue (as
  // onnxruntime's Conv+Add+Relu fusion): two passes over the activation saved per block.
  const fuseResidual = (node: Node): boolean => {
    if (node.domain !== '' || !opts.fusedAway || !opts.floatConvs) return false;
    if (node.opType === 'Add' && node.inputs.length === 2 && sameDims(node.inputs[0], node.inputs[1])) {
      for (const k of [0, 1]) {
        const y = node.inputs[k], other = node.inputs[1 - k];
        const conv = residualConv.get(y);
        if (!conv || readers.get(y) !== 1 || y === other) continue;
        conv.inputs = [conv.inputs[0], conv.inputs[1], conv.inputs[2] ?? '', nhwcOf(other)];
        residualConv.delete(y);
        const sum = node.outputs[0];
        absorb(conv, node, y);
        opts.fusedAway.add(y);
        fusedAdd.set(sum, conv);
        return true;
      }
    }
    if (node.opType === 'Relu') {
      const conv = fusedAdd.get(node.inputs[0]);
      if (!conv || readers.get(node.inputs[0]) !== 1) return false;
      conv.attributes.set('activation', { type: 'string', value: 'Relu' });
      fusedAdd.delete(node.inputs[0]);
      absorb(conv, node, node.inputs[0]);
      opts.fusedAway.add(node.inputs[0]);
      return true;
    }
    return false;
  };

  for (const node of graph.nodes) {
    const rule = layoutOp(node, rankOf, dtypeOf, dimsOf, isInitializer, opts.floatConvs ?? false);
    const apply = rule && (rule.startsChain || nhwc.has(node.inputs[0])) ? rule.apply : undefined;
    const ew = elementwiseInputs(node, isScalar);
    if (apply) {
      // A conv that starts a chain reads its NCHW input itself (cheaper than a Transpose step);
      // the float one only without groups (its depthwise kernel reads NHWC pixels).
      const intConv = node.domain === 'nquant' && node.opType === 'QLinearConv';
      const floatConv = dtypeOf(node.inputs[0]) === 'float32' && groupOf(node) === 1 &&
        ((node.domain === '' && node.opType === 'Conv') || (node.domain === 'nquant' && node.opType === 'FusedConv'));
      const firstOfChain = !nhwc.has(node.inputs[0]) && (intConv || floatConv);
      if (!firstOfChain) node.inputs = [nhwcOf(node.inputs[0]), ...node.inputs.slice(1)];
      for (const i of node.inputs.slice(firstOfChain ? 0 : 1)) if (i) needNchw(i);
      apply(node);
      // The conv transposes an NCHW input itself (faster than a Transpose step).
      if (firstOfChain) node.attributes.set('channels_last', { type: 'int', value: 2 });
      const y = node.outputs[0];
      produceNhwc(node);
      const act = node.attributes.get('activation');
      if (floatConv && node.inputs.length <= 3 && (!act || (act.type === 'string' && act.value === '')) && !isGraphOutput(graph, y)) residualConv.set(y, node);
    } else if (ew && ew.every((i) => rankOf(node.inputs[i]) === 4 || isScalar(node.inputs[i])) && node.outputs.filter(Boolean).length === 1 &&
               transposesToNhwc(ew.map((i) => node.inputs[i])) < transposesToNchw(ew.map((i) => node.inputs[i]))) {
      // NHWC inputs (a residual add, a gate): the op runs on them as they are; another rank-4
      // operand (a per-channel gate [N, C, 1, 1]) is permuted to match, which is cheap, and a
      // single value broadcasts the same in either layout.
      if (fuseResidual(node)) continue;
      node.inputs = node.inputs.map((v, i) => (ew.includes(i) && rankOf(v) === 4 ? nhwcOf(v) : v));
      for (const [i, v] of node.inputs.entries()) if (!ew.includes(i) && v) needNchw(v);
      produceNhwc(node);
    } else {
      for (const v of node.inputs) if (v) needNchw(v);
    }
    out.push(node);
  }
  for (const o of graph.outputs) if (isGraphOutput(graph, o.name)) needNchw(o.name);
  graph.nodes = out;
  sortGraph(graph);
  const moved = new Map<string, string>();
  for (const v of nhwcOnly) if (!restored.has(v)) moved.set(v, nhwc.get(v)!);
  return moved;
}
