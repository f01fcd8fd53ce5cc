// Unary QDQ regions -> one byte lookup. When a quantized tensor feeds a chain of elementwise
// float ops whose other operands are scalar constants (hard-swish as exporters write it:
// DQ -> Add 3 -> Q -> DQ -> Clip 0..6 -> Q -> DQ -> Mul by x -> Q -> DQ -> Div 6 -> Q), every
// output byte is a function of one input byte. The chain is evaluated once per input byte,
// Q/DQ roundings included, and replaced by nquant's QLinearLookup (one table read per
// element). Only ops whose float32 results JavaScript reproduces exactly are taken (+ - * /,
// clamps), so the table holds exactly what the float ops would have computed.
import { Graph, Node, attrFloat } from '../graph/ir';
import { constant, freshName, isGraphOutput, readers } from '../graph/passes/util';
import { roundHalfToEven } from '../numeric';
import { Tensor } from '../tensor';

type ByteType = 'uint8' | 'int8';
const COMPUTE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Clip', 'Relu', 'Neg', 'Abs', 'Max', 'Min', 'HardSigmoid', 'HardSwish']);
const f = Math.fround;

/** A constant usable as a scalar operand: one value, rank 0 or 1 (so it cannot raise the rank). */
function scalarConstant(g: Graph, name: string): number | undefined {
  const t = constant(g, name);
  if (!t || t.size !== 1 || t.dims.length > 1) return undefined;
  if (t.dtype === 'float32' || t.dtype === 'uint8' || t.dtype === 'int8') return Number(t.data[0]);
  return undefined;
}

/**
 * A scalar float operand that is constant: a float32 scalar, or the DequantizeLinear of a
 * scalar quantized constant (how quantizeStatic writes Add 3 / Div 6 operands).
 */
function scalarOperand(g: Graph, name: string, producers: Map<string, Node>): number | undefined {
  const t = constant(g, name);
  if (t) return t.dtype === 'float32' ? scalarConstant(g, name) : undefined;
  const p = producers.get(name);
  if (!p || p.opType !== 'DequantizeLinear' || p.domain !== '') return undefined;
  const code = scalarConstant(g, p.inputs[0]);
  const q = qParams(g, p);
  if (code === undefined || !q || byteTypeOf(constant(g, p.inputs[0])) !== q.type) return undefined;
  return f((code - q.zp) * q.scale);
}

function byteTypeOf(t: Tensor | undefined): ByteType | undefined {
  return t?.dtype === 'uint8' || t?.dtype === 'int8' ? t.dtype : undefined;
}

/** The per-tensor parameters of a QuantizeLinear/DequantizeLinear with constant scalar ones. */
function qParams(g: Graph, node: Node): { scale: number; zp: number; type: ByteType } | undefined {
  const scale = scalarConstant(g, node.inputs[1]);
  if (scale === undefined || constant(g, node.inputs[1])!.dtype !== 'float32') return undefined;
  if (!node.inputs[2]) return node.attributes.has('output_dtype') ? undefined : { scale, zp: 0, type: 'uint8' };
  const type = byteTypeOf(constant(g, node.inputs[2]));
  const zp = scalarConstant(g, node.inputs[2]);
  return type && zp !== undefined ? { scale, zp, type } : undefined;
}

function clampTo(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** One node's float32 (or code, for QuantizeLinear) result from its operands' values. */
function evaluate(g: Graph, node: Node, value: (name: string) => number | undefined, producers: Map<string, Node>): number {
  const operand = (i: number) => value(node.inputs[i]) ?? f(scalarOperand(g, node.inputs[i], producers)!);
  switch (node.opType) {
    case 'DequantizeLinear': {
      const p = qParams(g, node)!;
      return f((value(node.inputs[0])! - p.zp) * p.scale);
    }
    case 'QuantizeLinear': {
      const p = qParams(g, node)!;
      const [lo, hi] = p.type === 'uint8' ? [0, 255] : [-128, 127];
      return clampTo(roundHalfToEven(f(value(node.inputs[0])! / p.scale)) + p.zp, lo, hi);
    }
    case 'Add': return f(operand(0) + operand(1));
    case 'Sub': return f(operand(0) - operand(1));
    case 'Mul': return f(operand(0) * operand(1));
    case 'Div': return f(operand(0) / operand(1));
    case 'Max': return node.inputs.reduce((m, _, i) => Math.max(m, operand(i)), -Infinity);
    case 'Min': return node.inputs.reduce((m, _, i) => Math.min(m, operand(i)), Infinity);
    case 'Relu': return Math.max(operand(0), 0);
    case 'Neg': return -operand(0);
    case 'Abs': return Math.abs(operand(0));
    case 'Clip': {
      const v = operand(0);
      const lo = node.inputs[1] ? operand(1) : f(attrFloat(node, 'min', -Infinity));
      const hi = node.inputs[2] ? operand(2) : f(attrFloat(node, 'max', Infinity));
      return v < lo ? lo : v > hi ? hi : v;
    }
    case 'HardSigmoid': {  // as the native kernel: v * alpha + beta, two roundings, clamped
      const t = f(f(operand(0) * f(attrFloat(node, 'alpha', 0.2))) + f(attrFloat(node, 'beta', 0.5)));
      return t < 0 ? 0 : t > 1 ? 1 : t;
    }
    case 'HardSwish': {  // as the native kernel: v * clamp(v + 3, 0, 6) * (1/6)
      const v = operand(0);
      const t = clampTo(f(v + 3), 0, 6);
      return f(f(v * t) * f(1 / 6));
    }
    default: throw new Error(`qdq-lookup: no rule for ${node.opType}`);
  }
}

/** Whether node can join a region whose values are `inside`: every input inside or a scalar. */
function joins(g: Graph, node: Node, inside: Set<string>, producers: Map<string, Node>): boolean {
  if (node.domain !== '' || node.outputs.length !== 1) return false;
  const isQ = node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear';
  if (!isQ && !COMPUTE_OPS.has(node.opType)) return false;
  if (isQ && !qParams(g, node)) return false;
  if (node.opType === 'HardSigmoid' || node.opType === 'HardSwish' || node.opType === 'Relu' || node.opType === 'Neg' || node.opType === 'Abs') {
    if (node.inputs.length !== 1) return false;
  }
  const operands = isQ ? [node.inputs[0]] : node.inputs.filter(Boolean);
  return operands.some((i) => inside.has(i)) && operands.every((i) => inside.has(i) || scalarOperand(g, i, producers) !== undefined);
}

/**
 * Replaces every unary QDQ region of `g` by a QLinearLookup (domain nquant); returns how many.
 * A region starts at a quantized tensor read by per-tensor DequantizeLinear nodes and must end
 * in exactly one per-tensor QuantizeLinear output that anything outside reads.
 */
export function fuseLookupRegions(g: Graph): number {
  let fused = 0;
  const tried = new Set<string>();
  for (;;) {
    const users = readers(g);
    let changed = false;
    for (const start of g.nodes) {
      if (start.opType !== 'DequantizeLinear' || start.domain !== '' || tried.has(start.inputs[0])) continue;
      const src = start.inputs[0];
      const srcType = byteTypeOf(constant(g, start.inputs[2] ?? '')) ?? (start.inputs[2] ? undefined : 'uint8');
      // A source may hold several regions (a gate and a hard-swish on one tensor): it is
      // tried again after each replacement, and retired when it yields none.
      if (!srcType || constant(g, src) || !qParams(g, start) || !replaceRegion(g, src, srcType, users)) {
        tried.add(src);
        continue;
      }
      fused++;
      changed = true;
      break;  // the node list changed: rescan
    }
    if (!changed) return fused;
  }
}

function replaceRegion(g: Graph, src: string, srcType: ByteType, users: Map<string, Node[]>): boolean {
  // Grow in topological order (the graph is sorted): a node joins when all it reads is inside.
  const inside = new Set<string>([src]);
  const region: Node[] = [];
  const producers = g.producers();
  for (const node of g.nodes) {
    if (node.opType === 'DequantizeLinear' && node.inputs[0] === src && node.inputs[2] && byteTypeOf(constant(g, node.inputs[2])) !== srcType) continue;
    if (joins(g, node, inside, producers)) {
      region.push(node);
      inside.add(node.outputs[0]);
    }
  }
  const producer = new Map(region.map((n) => [n.outputs[0], n] as const));
  // The result: the last QuantizeLinear whose chain does all its float work for it alone
  // (no float value of the chain is read elsewhere), so the float ops really go away.
  for (let i = region.length - 1; i >= 0; i--) {
    const out = region[i];
    if (out.opType !== 'QuantizeLinear') continue;
    const chain = new Set<Node>([out]);
    for (let j = i; j >= 0; j--) {
      const n = region[j];
      if (!chain.has(n)) continue;
      for (const input of n.inputs) {
        const p = producer.get(input);
        if (p) chain.add(p);
      }
    }
    const ordered = region.filter((n) => chain.has(n));
    const compute = ordered.filter((n) => COMPUTE_OPS.has(n.opType));
    if (compute.length === 0) continue;
    const sharedFloat = compute.some((n) => isGraphOutput(g, n.outputs[0]) || (users.get(n.outputs[0]) ?? []).some((u) => !chain.has(u)));
    if (sharedFloat) continue;
    replaceWithLookup(g, src, srcType, ordered, out, producers);
    return true;
  }
  return false;
}

/** Adds QLinearLookup(src) -> out's value and removes out's QuantizeLinear; the chain's other
 *  nodes are left for dead-node elimination (those still read elsewhere stay). */
function replaceWithLookup(g: Graph, src: string, srcType: ByteType, chain: Node[], out: Node, producers: Map<string, Node>): void {
  const outType = qParams(g, out)!.type;
  const table = outType === 'uint8' ? new Uint8Array(256) : new Int8Array(256);
  const values = new Map<string, number>();
  for (let byte = 0; byte < 256; byte++) {
    values.set(src, srcType === 'uint8' ? byte : (byte << 24) >> 24);
    for (const n of chain) values.set(n.outputs[0], evaluate(g, n, (name) => values.get(name), producers));
    table[byte] = values.get(out.outputs[0])!;
  }
  const tableName = freshName(g, `${out.outputs[0]}/lookup_table`);
  g.initializers.set(tableName, outType === 'uint8' ? new Tensor('uint8', table as Uint8Array, [256]) : new Tensor('int8', table as Int8Array, [256]));
  const at = g.nodes.indexOf(out);
  g.nodes[at] = {
    name: `${out.name}/lookup`, opType: 'QLinearLookup', domain: 'nquant', inputs: [src, tableName], outputs: [out.outputs[0]], attributes: new Map(),
  };
}
