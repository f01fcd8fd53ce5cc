// quantizeMixed: one runnable model whose weighted layers each take their own precision. Block-wise
// INT4 layers become MatMulNBits first (quantizeInt4), FP16 layers get half-precision weights next
// (toFp16, again at the end: see below), then quantizeStatic puts the rest in INT8 QDQ with each layer's weight scheme (2..8-bit
// grids, the scheme's observer) and keeps the FP32/FP16/INT4 layers out of it.
import { quantizeInt4 } from '../compress/int4';
import { toFp16 } from '../compress/fp16';
import { invalidType } from '../errors';
import { Model } from '../runtime/model';
import type { FeedSource } from './calibrate';
import { QuantizeStaticOptions, resolveStaticOptions } from './options';
import { QuantizedModel } from './quantized-model';
import { QuantScheme } from './scheme';
import { quantizeStatic } from './static';
import { assignChoices, checkChoice, choiceLabel, isBlockInt4, LayerChoice, layerBytes, MixedLayer, mixedLayers } from './mixed-layers';

/** quantizeStatic's options (they apply to activations and to 'int8' layers) plus the layer choices. */
export interface QuantizeMixedOptions extends Omit<QuantizeStaticOptions, 'weightQuantizers'> {
  /** The choice of every layer no key of layerSchemes names (default 'int8'). */
  default?: LayerChoice;
  /** Per layer: exact node name, glob ('conv_*') or '/regex/flags', to a scheme or precision. */
  layerSchemes?: { [nodeNameOrPattern: string]: LayerChoice };
}

export interface MixedLayerReport extends MixedLayer {
  /** The choice's name ('fp32', 'int8', 'w4 per-channel', ...). */
  choice: string;
  /** Bytes of weights and bias the choice implies, codes packed at their bit width. */
  bytes: number;
  /** The same layer in FP32. */
  fp32Bytes: number;
}

export interface MixedReport {
  layers: MixedLayerReport[];
  /**
   * Sum of the layers' packed bytes: the size the schemes imply with codes packed at their bit
   * width. The runnable model stores 2..8-bit codes in int8/uint8 (see sizeBytes()).
   */
  packedBytes: number;
  /** The same layers in FP32. */
  fp32Bytes: number;
}

/** A quantized model with the precision each layer received. */
export class MixedPrecisionModel extends QuantizedModel {
  constructor(base: QuantizedModel, readonly mixed: MixedReport) {
    super(base.ir, base.report, base.format);
  }
}

const MIXED_KEYS = new Set(['default', 'layerSchemes']);

/** Checks quantizeMixed's own options and returns the static ones apart. */
export function splitMixedOptions(opts: unknown): { fallback: LayerChoice; layerSchemes: { [key: string]: LayerChoice }; rest: QuantizeStaticOptions } {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidType('opts', 'an options object', opts);
  const o = opts as QuantizeMixedOptions & { weightQuantizers?: unknown };
  if (o.weightQuantizers !== undefined) throw invalidType('opts.weightQuantizers', 'undefined (quantizeMixed builds it from layerSchemes)', o.weightQuantizers);
  const fallback = o.default === undefined ? 'int8' : checkChoice('opts.default', o.default);
  const layerSchemes = o.layerSchemes ?? {};
  if (typeof layerSchemes !== 'object' || layerSchemes === null || Array.isArray(layerSchemes)) throw invalidType('opts.layerSchemes', 'an object of node name or pattern to scheme', layerSchemes);
  const rest = Object.fromEntries(Object.entries(o).filter(([k]) => !MIXED_KEYS.has(k))) as QuantizeStaticOptions;
  return { fallback, layerSchemes, rest };
}

/** Builds the model for a given choice per layer (every layer of `layers` must have one). */
export async function buildMixed(model: Model, calibration: FeedSource, layers: MixedLayer[], choices: Map<string, LayerChoice>, rest: QuantizeStaticOptions): Promise<MixedPrecisionModel> {
  const o = resolveStaticOptions(rest);
  const named = (pred: (c: LayerChoice) => boolean) => layers.filter((l) => pred(choices.get(l.name)!)).map((l) => l.name);
  const int4 = named(isBlockInt4);
  const fp16 = named((c) => c === 'fp16');
  const fp32 = named((c) => c === 'fp32');
  const allNodes = [...new Set([...model.ir.graph.nodes, ...model.executionGraph.nodes].map((n) => n.name))];
  const othersThan = (keep: string[]) => allNodes.filter((n) => !keep.includes(n));

  let stage: Model = model;
  // One block configuration per quantizeInt4 call: layers are grouped by theirs.
  const groups = new Map<string, { scheme: QuantScheme; names: string[] }>();
  for (const name of int4) {
    const c = choices.get(name)!;
    const s = c instanceof QuantScheme ? c : new QuantScheme({ bits: 4, granularity: 'per-block' });
    const key = `${s.blockSize}|${s.symmetric}`;
    if (!groups.has(key)) groups.set(key, { scheme: s, names: [] });
    groups.get(key)!.names.push(name);
  }
  for (const { scheme, names } of groups.values()) {
    const q = await quantizeInt4(stage, { blockSize: scheme.blockSize, symmetric: scheme.symmetric, nodesToExclude: othersThan(names) });
    const missed = q.report.layers.filter((l) => names.includes(l.name) && !l.quantized);
    if (missed.length > 0 || q.report.layers.filter((l) => l.quantized).length !== names.length) {
      throw new RangeError(`layer '${missed[0]?.name ?? names[0]}': expected block-wise int4 to apply, but quantizeInt4 ${missed[0]?.reason ? `refused it (${missed[0].reason})` : 'did not find it'}`);
    }
    stage = q;
  }
  if (fp16.length > 0) stage = await toFp16(stage, { nodesToExclude: othersThan(fp16) });

  const weightQuantizers = new Map<string, QuantScheme>();
  for (const l of layers) {
    const c = choices.get(l.name)!;
    if (c instanceof QuantScheme && !isBlockInt4(c)) weightQuantizers.set(l.name, c);
  }
  const q = await quantizeStatic(stage, calibration, {
    ...rest,
    nodesToExclude: [...o.nodesToExclude, ...fp32, ...fp16, ...int4],
    weightQuantizers,
  });
  // quantizeStatic works on the optimized graph, where Cast(float16 weight) is folded back to
  // float32: the FP16 layers get their half-precision weights again in the result.
  let result: QuantizedModel = q;
  if (fp16.length > 0) {
    const names = q.ir.graph.nodes.map((n) => n.name).filter((n) => !fp16.includes(n));
    const half = await toFp16(q, { nodesToExclude: names });
    result = new QuantizedModel(half.ir, q.report, q.format);
  }
  const reports: MixedLayerReport[] = layers.map((l) => {
    const c = choices.get(l.name)!;
    return { ...l, choice: choiceLabel(c), bytes: layerBytes(l, c, o), fp32Bytes: layerBytes(l, 'fp32', o) };
  });
  return new MixedPrecisionModel(result, {
    layers: reports,
    packedBytes: reports.reduce((s, r) => s + r.bytes, 0),
    fp32Bytes: reports.reduce((s, r) => s + r.fp32Bytes, 0),
  });
}

/**
 * Quantizes `model` with a precision per weighted layer: `layerSchemes` maps node names or
 * patterns to a QuantScheme (2..8-bit weight grid, per-tensor/per-channel, the scheme's observer
 * choosing ranges; per-block 4-bit for MatMul/Gemm) or to 'fp32' | 'fp16' | 'int8' | 'int4';
 * other layers take `default`. Activations between quantized nodes are INT8 as in quantizeStatic,
 * whose options apply.
 */
export async function quantizeMixed(model: Model, calibration: FeedSource, opts: QuantizeMixedOptions = {}): Promise<MixedPrecisionModel> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const { fallback, layerSchemes, rest } = splitMixedOptions(opts);
  const layers = mixedLayers(model, resolveStaticOptions(rest));
  const choices = assignChoices(layers, layerSchemes, fallback);
  return buildMixed(model, calibration, layers, choices, rest);
}
