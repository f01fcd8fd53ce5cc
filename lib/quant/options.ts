// Options of quantizeDynamic / quantizeStatic, their defaults, and the checks that turn a bad
// option into an error naming it.
import { invalidRange, invalidType } from '../errors';
import { cpu } from '../cpu';
import type { CalibrationMethod } from './calibration/observers';
import type { QuantType } from './qparams';
import type { WeightQuantizer } from './weights';

/** A node to leave in float: its exact name, or a pattern over names. */
export type NodeSelector = string | RegExp;

/** A fixed range or fixed parameters for one tensor, bypassing calibration. */
export type TensorOverride = { min: number; max: number } | { scale: number; zeroPoint: number };

export interface CalibrationProgress {
  phase: 'calibrate' | 'report';
  /** Batches done in this phase. */
  batch: number;
  /** Batches in this phase when known (arrays and other sized inputs). */
  total?: number;
}

export interface QuantizeDynamicOptions {
  /** Weight type (default 'int8'). */
  weightType?: QuantType;
  /** One scale per output channel (default true). */
  perChannel?: boolean;
  /** Op types to quantize (default MatMul, Gemm, Conv). */
  opTypes?: string[];
  /** Nodes to keep in float. */
  nodesToExclude?: NodeSelector[];
  /**
   * 7-bit weights, for CPUs whose u8 x s8 dot products saturate (x86 without VNNI in other
   * runtimes; nquant's own kernels never saturate). 'auto' (default): on x86 without VNNI.
   */
  reduceRange?: boolean | 'auto';
}

export interface QuantizeStaticOptions {
  /** How activation ranges come from calibration data (default 'minmax'). */
  method?: CalibrationMethod;
  /** Percent of values kept by method 'percentile' (default 99.999). */
  percentile?: number;
  /** Histogram bins of percentile/entropy/mse (default 2048). */
  bins?: number;
  /** One scale per output channel for weights (default true). */
  perChannel?: boolean;
  /** Activation type (default 'uint8'). */
  activationType?: QuantType;
  /** Weight type (default 'int8'). */
  weightType?: QuantType;
  /**
   * Bits of the weight grid (2..8, default 8): int8 weights rounded to ±(2^(bits-1) − 1) steps, a
   * custom low-bit scheme that still runs on the INT8 kernels and exports as plain int8 QDQ.
   */
  weightBits?: number;
  /** Activations with zero point 0 (int8) / 128 (uint8) (default false). */
  symmetricActivations?: boolean;
  /** 'qdq' (default): QuantizeLinear/DequantizeLinear around float ops; 'qoperator': QLinear* ops. */
  format?: 'qdq' | 'qoperator';
  /** Op types to quantize (default: every supported one, see SUPPORTED_STATIC_OPS). */
  opTypes?: string[];
  /** Nodes to keep in float. */
  nodesToExclude?: NodeSelector[];
  /** Per-tensor ranges or parameters, by tensor name. */
  overrides?: { [tensor: string]: TensorOverride };
  /**
   * Per-node weight quantization by exact node name (quantizeMixed's per-layer schemes); nodes
   * not listed use weightType / weightBits / perChannel.
   */
  weightQuantizers?: ReadonlyMap<string, WeightQuantizer>;
  /** As in QuantizeDynamicOptions. */
  reduceRange?: boolean | 'auto';
  /** Correct each output channel's bias for the mean error its quantized weights add (default false). */
  biasCorrection?: boolean;
  /** Accept NaN/Infinity in calibration activations (skipped from ranges). Default false: error. */
  allowNonFinite?: boolean;
  /** Calibration batches kept to measure per-tensor SQNR for the report (default 2; 0 skips it). */
  reportBatches?: number;
  /** Called after each calibration batch. */
  onProgress?: (p: CalibrationProgress) => void;
}

/** Ops quantizeStatic can put in INT8 (Relu/Clip count as fused into their producer). */
export const SUPPORTED_STATIC_OPS = ['Conv', 'Gemm', 'MatMul', 'Add', 'Mul', 'Concat', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Relu', 'Clip', 'Sigmoid', 'Softmax'];
/** Quantized only when asked by opTypes: INT8 loses too much on them in typical models. */
export const OPT_IN_STATIC_OPS = new Set(['Sigmoid', 'Softmax']);
export const SUPPORTED_DYNAMIC_OPS = ['MatMul', 'Gemm', 'Conv'];
const METHODS = ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'];

function quantType(name: string, v: unknown, fallback: QuantType): QuantType {
  if (v === undefined) return fallback;
  if (v !== 'int8' && v !== 'uint8') throw invalidRange(name, "'int8' or 'uint8'", v);
  return v;
}

function bool(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidType(name, 'a boolean', v);
  return v;
}

function opTypes(name: string, v: unknown, supported: string[], fallback: string[]): Set<string> {
  if (v === undefined) return new Set(fallback);
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string')) throw invalidType(name, 'an array of op type names', v);
  for (const t of v as string[]) if (!supported.includes(t)) throw invalidRange(name, `op types among ${supported.join(', ')}`, t);
  return new Set(v as string[]);
}

function selectors(name: string, v: unknown): NodeSelector[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' && !(s instanceof RegExp))) throw invalidType(name, 'an array of node names or RegExps', v);
  return v as NodeSelector[];
}

function weightQuantizers(v: unknown): ReadonlyMap<string, WeightQuantizer> {
  if (v === undefined) return new Map();
  if (!(v instanceof Map)) throw invalidType('opts.weightQuantizers', 'a Map of node name to { quantizeWeight(w, axis) }', v);
  for (const [k, q] of v) {
    if (typeof k !== 'string') throw invalidType('opts.weightQuantizers key', 'a node name (string)', k);
    if (typeof q !== 'object' || q === null || typeof (q as WeightQuantizer).quantizeWeight !== 'function') {
      throw invalidType(`opts.weightQuantizers.get('${k}')`, 'an object with quantizeWeight(w, axis)', q);
    }
  }
  return v as ReadonlyMap<string, WeightQuantizer>;
}

export function isExcluded(nodeName: string, list: NodeSelector[]): boolean {
  return list.some((s) => (typeof s === 'string' ? s === nodeName : s.test(nodeName)));
}

function weightBits(v: unknown, weightType: unknown, reduce: unknown): number {
  if (v === undefined) return 8;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > 8) throw invalidRange('opts.weightBits', 'an integer from 2 to 8', v);
  if (v < 8 && weightType !== undefined && weightType !== 'int8') throw invalidRange('opts.weightType', "'int8' when weightBits < 8 (the narrow grid is symmetric)", weightType);
  if (v < 8 && reduce === true) throw invalidRange('opts.reduceRange', 'false when weightBits < 8', reduce);
  return v;
}

// A narrow weight grid already leaves the products far from overflow: 'auto' stays off for it.
const narrowWeights = (bits: unknown): boolean => typeof bits === 'number' && bits < 8;

/** Whether reduceRange 'auto' applies on this machine. */
function autoReduceRange(): boolean {
  const info = cpu();
  if (info.arch !== 'x64') return false;
  return !info.features.some((f) => f === 'avx512vnni' || f === 'avxvnni');
}

function reduceRange(v: unknown): boolean {
  if (v === undefined || v === 'auto') return autoReduceRange();
  if (typeof v !== 'boolean') throw invalidType('opts.reduceRange', "a boolean or 'auto'", v);
  return v;
}

export interface ResolvedDynamicOptions {
  weightType: QuantType;
  perChannel: boolean;
  opTypes: Set<string>;
  nodesToExclude: NodeSelector[];
  reduceRange: boolean;
}

export function resolveDynamicOptions(opts: unknown): ResolvedDynamicOptions {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', 'an options object', opts);
  const o = opts as QuantizeDynamicOptions;
  return {
    weightType: quantType('opts.weightType', o.weightType, 'int8'),
    perChannel: bool('opts.perChannel', o.perChannel, true),
    opTypes: opTypes('opts.opTypes', o.opTypes, SUPPORTED_DYNAMIC_OPS, SUPPORTED_DYNAMIC_OPS),
    nodesToExclude: selectors('opts.nodesToExclude', o.nodesToExclude),
    reduceRange: reduceRange(o.reduceRange),
  };
}

export interface ResolvedStaticOptions {
  method: CalibrationMethod;
  percentile: number;
  bins: number;
  perChannel: boolean;
  activationType: QuantType;
  weightType: QuantType;
  weightBits: number;
  symmetricActivations: boolean;
  format: 'qdq' | 'qoperator';
  opTypes: Set<string>;
  nodesToExclude: NodeSelector[];
  overrides: Map<string, TensorOverride>;
  weightQuantizers: ReadonlyMap<string, WeightQuantizer>;
  reduceRange: boolean;
  biasCorrection: boolean;
  allowNonFinite: boolean;
  reportBatches: number;
  onProgress?: (p: CalibrationProgress) => void;
}

function override(name: string, v: unknown): TensorOverride {
  if (typeof v !== 'object' || v === null) throw invalidType(name, '{ min, max } or { scale, zeroPoint }', v);
  const o = v as { [k: string]: unknown };
  const finite = (k: string) => {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) throw invalidType(`${name}.${k}`, 'a finite number', o[k]);
    return o[k] as number;
  };
  if ('scale' in o) {
    const scale = finite('scale');
    if (scale <= 0) throw invalidRange(`${name}.scale`, 'a positive number', scale);
    const zeroPoint = finite('zeroPoint');
    if (!Number.isInteger(zeroPoint)) throw invalidRange(`${name}.zeroPoint`, 'an integer', zeroPoint);
    return { scale, zeroPoint };
  }
  const min = finite('min'), max = finite('max');
  if (min > max) throw invalidRange(`${name}`, 'min <= max', `min ${min}, max ${max}`);
  return { min, max };
}

export function resolveStaticOptions(opts: unknown): ResolvedStaticOptions {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null) throw invalidType('opts', 'an options object', opts);
  const o = opts as QuantizeStaticOptions;
  const method = o.method ?? 'minmax';
  if (!METHODS.includes(method)) throw invalidRange('opts.method', METHODS.map((m) => `'${m}'`).join(', '), method);
  const percentile = o.percentile ?? 99.999;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) throw invalidRange('opts.percentile', 'a number in (50, 100]', percentile);
  const bins = o.bins ?? 2048;
  if (!Number.isInteger(bins) || bins < 128 || bins > 1 << 16) throw invalidRange('opts.bins', 'an integer in [128, 65536]', bins);
  const format = o.format ?? 'qdq';
  if (format !== 'qdq' && format !== 'qoperator') throw invalidRange('opts.format', "'qdq' or 'qoperator'", format);
  const reportBatches = o.reportBatches ?? 2;
  if (!Number.isInteger(reportBatches) || reportBatches < 0) throw invalidRange('opts.reportBatches', 'a non-negative integer', reportBatches);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidType('opts.onProgress', 'a function', o.onProgress);
  const overrides = new Map<string, TensorOverride>();
  if (o.overrides !== undefined) {
    if (typeof o.overrides !== 'object' || o.overrides === null) throw invalidType('opts.overrides', 'an object of tensor name to range', o.overrides);
    for (const [k, v] of Object.entries(o.overrides)) overrides.set(k, override(`opts.overrides['${k}']`, v));
  }
  const supported = SUPPORTED_STATIC_OPS;
  return {
    method,
    percentile,
    bins,
    perChannel: bool('opts.perChannel', o.perChannel, true),
    activationType: quantType('opts.activationType', o.activationType, 'uint8'),
    weightType: quantType('opts.weightType', o.weightType, 'int8'),
    weightBits: weightBits(o.weightBits, o.weightType, o.reduceRange),
    symmetricActivations: bool('opts.symmetricActivations', o.symmetricActivations, false),
    format,
    opTypes: opTypes('opts.opTypes', o.opTypes, supported, supported.filter((t) => !OPT_IN_STATIC_OPS.has(t))),
    nodesToExclude: selectors('opts.nodesToExclude', o.nodesToExclude),
    overrides,
    weightQuantizers: weightQuantizers(o.weightQuantizers),
    reduceRange: narrowWeights(o.weightBits) && (o.reduceRange === undefined || o.reduceRange === 'auto') ? false : reduceRange(o.reduceRange),
    biasCorrection: bool('opts.biasCorrection', o.biasCorrection, false),
    allowNonFinite: bool('opts.allowNonFinite', o.allowNonFinite, false),
    reportBatches,
    onProgress: o.onProgress,
  };
}
