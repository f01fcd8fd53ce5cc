// The layers a mixed-precision assignment chooses for (nodes with a constant weight that static
// quantization can put in INT8), how a layer choice is written, and the bytes each choice implies.
import { invalidRange, invalidType } from '../errors';
import { constant } from '../graph/passes/util';
import type { Model } from '../runtime/model';
import { QuantScheme } from './scheme';
import { ResolvedStaticOptions } from './options';
import { staticPlan } from './static';

/** What one layer becomes: a scheme, or a named precision ('int8' follows quantizeStatic's options). */
export type LayerChoice = QuantScheme | 'fp32' | 'fp16' | 'int8' | 'int4';

export const NAMED_CHOICES = ['fp32', 'fp16', 'int8', 'int4'] as const;

export interface MixedLayer {
  name: string;
  /** Conv, Gemm or MatMul. */
  opType: string;
  /** Weight values. */
  weights: number;
  /** Output channels (the per-channel axis) and values per channel. */
  channels: number;
  k: number;
  /** Bias values (0 without a bias). */
  bias: number;
}

export function choiceLabel(c: LayerChoice): string {
  return typeof c === 'string' ? c : c.name;
}

export function checkChoice(name: string, c: unknown): LayerChoice {
  if (c instanceof QuantScheme) return c;
  if (typeof c === 'string' && (NAMED_CHOICES as readonly string[]).includes(c)) return c as LayerChoice;
  throw invalidType(name, `a QuantScheme or one of ${NAMED_CHOICES.map((n) => `'${n}'`).join(', ')}`, c);
}

/** True when the choice becomes MatMulNBits (block-wise INT4), which only MatMul/Gemm have. */
export function isBlockInt4(c: LayerChoice): boolean {
  return c === 'int4' || (c instanceof QuantScheme && c.granularity === 'per-block');
}

export function applies(c: LayerChoice, layer: MixedLayer): boolean {
  return !isBlockInt4(c) || layer.opType === 'MatMul' || layer.opType === 'Gemm';
}

/** The weighted layers of `model` that static quantization with `o` would quantize. */
export function mixedLayers(model: Model, o: ResolvedStaticOptions): MixedLayer[] {
  const { graph, plan } = staticPlan(model, o);
  const out: MixedLayer[] = [];
  for (const np of plan.nodes) {
    if (!np.quantized || !np.weight) continue;
    const w = constant(graph, np.node.inputs[np.weight.input]);
    if (!w) continue;
    const axis = np.weight.axis < 0 ? np.weight.axis + w.dims.length : np.weight.axis;
    const channels = w.dims[axis] ?? 1;
    const b = np.bias !== undefined && np.node.inputs[np.bias] ? constant(graph, np.node.inputs[np.bias]) : undefined;
    out.push({ name: np.node.name, opType: np.opType, weights: w.size, channels, k: w.size / channels, bias: b ? b.size : 0 });
  }
  return out;
}

/** Bytes a layer takes under a choice, weights packed at their bit width (see QuantScheme.packedBytes). */
export function layerBytes(layer: MixedLayer, c: LayerChoice, o: ResolvedStaticOptions): number {
  const { weights, channels, k, bias } = layer;
  if (c === 'fp32') return 4 * (weights + bias);
  // toFp16 leaves tensors under 16 values in float32.
  if (c === 'fp16') return 2 * weights + (bias >= 16 ? 2 : 4) * bias;
  const scheme = c === 'int8'
    ? new QuantScheme({ bits: o.weightBits, signed: o.weightType === 'int8', symmetric: o.weightType === 'int8', granularity: o.perChannel ? 'per-channel' : 'per-tensor' })
    : c === 'int4' ? new QuantScheme({ bits: 4, granularity: 'per-block' }) : c;
  // Biases: int32 on the INT8 path, float32 beside MatMulNBits.
  return scheme.packedBytes(weights, channels, k) + 4 * bias;
}

/** A layerSchemes key: an exact name, a glob ('conv_*', 'gemm_?'), or '/regex/flags'. */
export function keyMatcher(key: string): (name: string) => boolean {
  const re = /^\/(.+)\/([a-z]*)$/.exec(key);
  if (re) {
    let r: RegExp;
    try { r = new RegExp(re[1], re[2]); } catch { throw invalidRange(`opts.layerSchemes['${key}']`, 'a valid /regex/flags key', key); }
    return (n) => r.test(n);
  }
  if (/[*?]/.test(key)) {
    const r = new RegExp(`^${key.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return (n) => r.test(n);
  }
  return (n) => n === key;
}

/** Each layer's choice: the first exact key naming it, else the first pattern matching it, else `fallback`. */
export function assignChoices(layers: MixedLayer[], layerSchemes: { [key: string]: LayerChoice }, fallback: LayerChoice): Map<string, LayerChoice> {
  const entries = Object.entries(layerSchemes).map(([key, c]) => ({ key, choice: checkChoice(`opts.layerSchemes['${key}']`, c), match: keyMatcher(key) }));
  for (const e of entries) {
    if (!layers.some((l) => e.match(l.name))) {
      throw invalidRange(`opts.layerSchemes['${e.key}']`, `a name or pattern of a weighted layer (${layers.map((l) => l.name).join(', ')})`, e.key);
    }
  }
  const out = new Map<string, LayerChoice>();
  for (const l of layers) {
    const exact = entries.find((e) => e.key === l.name);
    const c = exact ? exact.choice : entries.find((e) => e.match(l.name))?.choice ?? fallback;
    if (!applies(c, l)) throw invalidRange(`layer '${l.name}' (${l.opType})`, 'a choice other than block-wise int4, which applies to MatMul/Gemm only (use a 4-bit per-channel QuantScheme for Conv)', choiceLabel(c));
    out.set(l.name, c);
  }
  return out;
}
