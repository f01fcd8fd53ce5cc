// Options of searchMixedPrecision, and the checks that turn a bad option into an error naming it.
import { invalidRange, invalidType } from '../errors';
import type { Model } from '../runtime/model';
import { checkChoice, LayerChoice } from './mixed-layers';
import type { QuantizeMixedOptions } from './mixed';
import { QuantScheme } from './scheme';

/** The user's metric of a model (accuracy, say): higher is better unless `lowerIsBetter`. */
export type EvalFn = (model: Model) => Promise<number>;

export interface SearchProgress {
  /** 'reference': FP32 and the activation-only model; 'sensitivity': one layer quantized; 'verify': a whole assignment. */
  phase: 'reference' | 'sensitivity' | 'verify';
  /** Evaluations done so far, and the sensitivity phase's total. */
  step: number;
  total: number;
  layer?: string;
  choice?: string;
  /** Metric drop (evalFn) or output SQNR in dB (without evalFn) this step measured. */
  value?: number;
}

export interface SearchMixedOptions extends Omit<QuantizeMixedOptions, 'default' | 'onProgress'> {
  /** Budget with evalFn: the largest metric drop from FP32 allowed (in evalFn's units). */
  maxDrop?: number;
  /** Budget without evalFn: the smallest output SQNR (dB, vs FP32, on the report batches) allowed. */
  minSqnr?: number;
  /** Budget on size: packed bytes of all weighted layers, fixed ones included (MixedReport.packedBytes). */
  targetBytes?: number;
  /** Precisions a layer may take besides FP32 (default: 'int8' and 4-bit per-channel). */
  candidates?: LayerChoice[];
  /** evalFn's metric falls as models get better (a loss). Default false. */
  lowerIsBetter?: boolean;
  /** Called after every evaluation. */
  onProgress?: (p: SearchProgress) => void;
}

export interface ResolvedSearchOptions {
  budget: { kind: 'maxDrop' | 'minSqnr' | 'targetBytes'; value: number };
  candidates: LayerChoice[];
  lowerIsBetter: boolean;
  onProgress?: (p: SearchProgress) => void;
  /** The rest, for quantizeMixed. */
  mixed: QuantizeMixedOptions;
}

const SEARCH_KEYS = new Set(['maxDrop', 'minSqnr', 'targetBytes', 'candidates', 'lowerIsBetter', 'onProgress']);

export function resolveSearchOptions(evalFn: unknown, opts: unknown): ResolvedSearchOptions {
  if (evalFn !== undefined && typeof evalFn !== 'function') throw invalidType('evalFn', 'a function (model) => Promise<number>, or undefined to search on output SQNR', evalFn);
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidType('opts', 'an options object with maxDrop, minSqnr or targetBytes', opts);
  const o = opts as SearchMixedOptions & { default?: unknown };
  if (o.default !== undefined) throw invalidType('opts.default', 'undefined (the search chooses each layer; fix some with layerSchemes)', o.default);
  const given = (['maxDrop', 'minSqnr', 'targetBytes'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw invalidRange('opts', 'exactly one budget: maxDrop (with evalFn), minSqnr (without evalFn) or targetBytes', given.length ? given.join(' and ') : 'none');
  const kind = given[0];
  const value = o[kind];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidType(`opts.${kind}`, 'a finite number', value);
  if ((kind === 'maxDrop' && value < 0) || (kind === 'targetBytes' && value <= 0)) throw invalidRange(`opts.${kind}`, kind === 'maxDrop' ? 'a number >= 0' : 'a number > 0', value);
  if (kind === 'maxDrop' && evalFn === undefined) throw invalidType('evalFn', 'a function when opts.maxDrop is the budget (without evalFn use minSqnr)', evalFn);
  if (kind === 'minSqnr' && evalFn !== undefined) throw invalidRange('opts.minSqnr', 'undefined when evalFn is given (use maxDrop)', value);
  const raw = o.candidates ?? ['int8', new QuantScheme({ bits: 4 })];
  if (!Array.isArray(raw) || raw.length === 0) throw invalidType('opts.candidates', 'a non-empty array of QuantScheme or precision names', raw);
  const candidates = raw.map((c, i) => checkChoice(`opts.candidates[${i}]`, c)).filter((c) => c !== 'fp32');
  if (candidates.length === 0) throw invalidRange('opts.candidates', "at least one choice other than 'fp32' (FP32 is always allowed)", raw);
  if (o.lowerIsBetter !== undefined && typeof o.lowerIsBetter !== 'boolean') throw invalidType('opts.lowerIsBetter', 'a boolean', o.lowerIsBetter);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidType('opts.onProgress', 'a function', o.onProgress);
  const mixed = Object.fromEntries(Object.entries(o).filter(([k]) => !SEARCH_KEYS.has(k))) as QuantizeMixedOptions;
  return { budget: { kind, value }, candidates, lowerIsBetter: o.lowerIsBetter ?? false, onProgress: o.onProgress, mixed };
}
