// nquant-internal fused ops, and how to turn them back into standard ONNX.
//
// A fused node lives in domain 'nquant' and has the base op's inputs and attributes plus:
//   activation: 'Relu' | 'Clip' | 'LeakyRelu'   (string; absent means none)
//   clip_min, clip_max: float                     (Clip bounds; absent means unbounded)
//   alpha: float                                  (LeakyRelu slope; Gemm's own alpha is kept
//                                                  as 'gemm_alpha' on FusedGemm to avoid a clash)
// Ops: FusedConv(X, W, B?), FusedGemm(A, B, C?), FusedMatMul(A, B, bias?) where bias is added
// after the product (numpy broadcast). The runtime may execute them directly; exportModel
// calls unfuseNode so written files only use standard ONNX ops that onnxruntime runs.
import { Tensor } from '../../tensor';
import { Attribute, Node } from '../ir';

export const NQUANT_DOMAIN = 'nquant';
export type FusedActivation = 'Relu' | 'Clip' | 'LeakyRelu';
export const FUSED_BASE: { [op: string]: string } = { FusedConv: 'Conv', FusedGemm: 'Gemm', FusedMatMul: 'MatMul' };
const FUSION_ATTRS = new Set(['activation', 'clip_min', 'clip_max', 'alpha', 'gemm_alpha']);

export function isFused(node: Node): boolean {
  return node.domain === NQUANT_DOMAIN && node.opType in FUSED_BASE;
}

/** The activation of a fused node, with its parameters. */
export function fusedActivation(node: Node): { kind?: FusedActivation; min: number; max: number; alpha: number } {
  const get = (k: string): Attribute | undefined => node.attributes.get(k);
  const act = get('activation');
  const num = (k: string, d: number): number => {
    const a = get(k);
    return a && (a.type === 'float' || a.type === 'int') ? a.value : d;
  };
  return {
    kind: act && act.type === 'string' ? (act.value as FusedActivation) : undefined,
    min: num('clip_min', -Infinity),
    max: num('clip_max', Infinity),
    alpha: num('alpha', 0.01),
  };
}

export interface UnfuseContext {
  /** Default-domain opset of the model being written (Clip moved bounds to inputs at 11). */
  opset: number;
  freshName(base: string): string;
  addInitializer(name: string, tensor: Tensor): void;
}

/** Standard ONNX nodes equivalent to a fused node (the node itself when it is not fused). */
export function unfuseNode(node: Node, ctx: UnfuseContext): Node[] {
  if (!isFused(node)) return [node];
  const base = FUSED_BASE[node.opType];
  const { kind, min, max, alpha } = fusedActivation(node);
  const out = node.outputs[0];
  const attributes = new Map<string, Attribute>();
  for (const [k, v] of node.attributes) if (!FUSION_ATTRS.has(k)) attributes.set(k, v);
  const gemmAlpha = node.attributes.get('gemm_alpha');
  if (base === 'Gemm' && gemmAlpha) attributes.set('alpha', gemmAlpha);
  const nodes: Node[] = [];
  const cur = kind ? ctx.freshName(`${out}_pre_${kind.toLowerCase()}`) : out;
  const baseInputs = base === 'MatMul' ? node.inputs.slice(0, 2) : node.inputs;
  const bias = base === 'MatMul' ? node.inputs[2] : undefined;
  if (bias) {
    const mm = ctx.freshName(`${out}_matmul`);
    nodes.push({ name: `${node.name}_matmul`, opType: 'MatMul', domain: '', inputs: baseInputs, outputs: [mm], attributes });
    nodes.push({ name: `${node.name}_bias`, opType: 'Add', domain: '', inputs: [mm, bias], outputs: [cur], attributes: new Map() });
  } else {
    nodes.push({ name: node.name, opType: base, domain: '', inputs: baseInputs, outputs: [cur], attributes });
  }
  if (!kind) return nodes;
  const actName = `${node.name}_${kind.toLowerCase()}`;
  if (kind === 'Relu') {
    nodes.push({ name: actName, opType: 'Relu', domain: '', inputs: [cur], outputs: [out], attributes: new Map() });
  } else if (kind === 'LeakyRelu') {
    nodes.push({ name: actName, opType: 'LeakyRelu', domain: '', inputs: [cur], outputs: [out], attributes: new Map([['alpha', { type: 'float', value: alpha }]]) });
  } else if (ctx.opset >= 11) {
    const inputs = [cur, '', ''];
    if (Number.isFinite(min)) { inputs[1] = ctx.freshName(`${out}_clip_min`); ctx.addInitializer(inputs[1], new Tensor('float32', new Float32Array([min]), [])); }
    if (Number.isFinite(max)) { inputs[2] = ctx.freshName(`${out}_clip_max`); ctx.addInitializer(inputs[2], new Tensor('float32', new Float32Array([max]), [])); }
    while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
    nodes.push({ name: actName, opType: 'Clip', domain: '', inputs, outputs: [out], attributes: new Map() });
  } else {
    const attrs = new Map<string, Attribute>();
    if (Number.isFinite(min)) attrs.set('min', { type: 'float', value: min });
    if (Number.isFinite(max)) attrs.set('max', { type: 'float', value: max });
    nodes.push({ name: actName, opType: 'Clip', domain: '', inputs: [cur], outputs: [out], attributes: attrs });
  }
  return nodes;
}
