// Options of toFp16, their defaults, and the checks that turn a bad option into an error
// naming it.
import { assertInteger, invalidRange, invalidType } from '../errors';
import type { NodeSelector } from '../quant/options';

export interface ToFp16Options {
  /**
   * Also keep activations in half precision: float32 graph inputs and outputs become float16,
   * and every float32 value passed between nodes is stored as float16 (each node still computes
   * in float32). Default false: only weights are half precision.
   */
  activations?: boolean;
  /** float32 initializers with fewer elements stay float32 (default 16): no size to gain. */
  minElements?: number;
  /** Nodes whose weights stay float32 (and, with activations, whose outputs stay float32). */
  nodesToExclude?: NodeSelector[];
}

export interface ResolvedFp16Options {
  activations: boolean;
  minElements: number;
  nodesToExclude: NodeSelector[];
}

const KNOWN = new Set(['activations', 'minElements', 'nodesToExclude']);

export function resolveFp16Options(opts: unknown): ResolvedFp16Options {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidType('opts', 'an options object', opts);
  const o = opts as { [key: string]: unknown };
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw invalidRange('opts', `only the options ${[...KNOWN].join(', ')}`, key);
  if (o.activations !== undefined && typeof o.activations !== 'boolean') throw invalidType('opts.activations', 'a boolean', o.activations);
  const ex = o.nodesToExclude;
  if (ex !== undefined && (!Array.isArray(ex) || ex.some((s) => typeof s !== 'string' && !(s instanceof RegExp)))) {
    throw invalidType('opts.nodesToExclude', 'an array of node names or RegExps', ex);
  }
  return {
    activations: (o.activations as boolean | undefined) ?? false,
    minElements: o.minElements === undefined ? 16 : assertInteger('opts.minElements', o.minElements, 1),
    nodesToExclude: (ex as NodeSelector[] | undefined) ?? [],
  };
}
