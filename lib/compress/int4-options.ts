// Options of quantizeInt4, their defaults, and the checks that turn a bad option into an error
// naming it.
import { invalidRange, invalidType } from '../errors';
import type { NodeSelector } from '../quant/options';
import { DEFAULT_MSE_GRID, Int4Method } from './int4-blocks';

export type Int4BlockSize = 32 | 64 | 128;

export interface QuantizeInt4Options {
  /** Weights per block along K, each block with its own scale (default 32). */
  blockSize?: Int4BlockSize;
  /** true (default): zero point 8 implied; false: a 4-bit zero point per block. */
  symmetric?: boolean;
  /** 'rtn' (default): round to nearest over the block's range; 'mse': per-block clip search. */
  method?: Int4Method;
  /** Clip ratios 'mse' tries, each in (0, 1] (default 1.0, 0.975, ..., 0.5). */
  mseGrid?: number[];
  /** Op types to quantize (default MatMul and Gemm). */
  opTypes?: ('MatMul' | 'Gemm')[];
  /** Nodes to keep in float: exact names or patterns. */
  nodesToExclude?: NodeSelector[];
  /**
   * Quantize activations to int8 per block inside the GEMM (faster, small extra error). Written
   * to the file as MatMulNBits accuracy_level 4, which onnxruntime reads the same way.
   * Default false: float activations, FP32 accumulation.
   */
  int8Activations?: boolean;
}

export interface ResolvedInt4Options {
  blockSize: Int4BlockSize;
  symmetric: boolean;
  method: Int4Method;
  mseGrid: readonly number[];
  opTypes: Set<string>;
  nodesToExclude: NodeSelector[];
  int8Activations: boolean;
}

const KNOWN = new Set(['blockSize', 'symmetric', 'method', 'mseGrid', 'opTypes', 'nodesToExclude', 'int8Activations']);

function bool(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidType(name, 'a boolean', v);
  return v;
}

export function resolveInt4Options(opts: unknown): ResolvedInt4Options {
  if (opts === undefined) opts = {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidType('opts', 'an options object', opts);
  const o = opts as { [key: string]: unknown };
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw invalidRange('opts', `only the options ${[...KNOWN].join(', ')}`, key);
  const blockSize = o.blockSize ?? 32;
  if (blockSize !== 32 && blockSize !== 64 && blockSize !== 128) throw invalidRange('opts.blockSize', '32, 64 or 128', blockSize);
  const method = o.method ?? 'rtn';
  if (method !== 'rtn' && method !== 'mse') throw invalidRange('opts.method', "'rtn' or 'mse'", method);
  let mseGrid: readonly number[] = DEFAULT_MSE_GRID;
  if (o.mseGrid !== undefined) {
    if (!Array.isArray(o.mseGrid) || o.mseGrid.length === 0) throw invalidType('opts.mseGrid', 'a non-empty array of clip ratios', o.mseGrid);
    for (const r of o.mseGrid) if (typeof r !== 'number' || !(r > 0 && r <= 1)) throw invalidRange('opts.mseGrid', 'clip ratios in (0, 1]', r);
    mseGrid = [...(o.mseGrid as number[])];
  }
  let opTypes = new Set(['MatMul', 'Gemm']);
  if (o.opTypes !== undefined) {
    if (!Array.isArray(o.opTypes) || o.opTypes.some((t) => t !== 'MatMul' && t !== 'Gemm')) throw invalidRange('opts.opTypes', "an array of 'MatMul' and/or 'Gemm'", o.opTypes);
    opTypes = new Set(o.opTypes as string[]);
  }
  const ex = o.nodesToExclude;
  if (ex !== undefined && (!Array.isArray(ex) || ex.some((s) => typeof s !== 'string' && !(s instanceof RegExp)))) {
    throw invalidType('opts.nodesToExclude', 'an array of node names or RegExps', ex);
  }
  return {
    blockSize, symmetric: bool('opts.symmetric', o.symmetric, true), method, mseGrid, opTypes,
    nodesToExclude: (ex as NodeSelector[] | undefined) ?? [], int8Activations: bool('opts.int8Activations', o.int8Activations, false),
  };
}
