// compare(): variants of a model side by side on the same inputs: size, accuracy against
// labels (or agreement with the first model), and latency. The rows the CLI prints and the
// HTML report charts.
import { statSync } from 'fs';
import { basename } from 'path';
import { cpu } from '../cpu';
import { invalidRange, invalidType } from '../errors';
import { sqnr } from '../quant/qparams';
import { QuantizedModel } from '../quant/quantized-model';
import type { QuantReport } from '../quant/report';
import { load } from '../runtime/load';
import { Feeds, Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { LatencyStats, measureLatency } from './latency';
import { randomFeeds } from './random-feeds';

/**
 * A model to compare: a file path, a Model, or either with a display name (and, for a Model
 * read from a file, that file's path: its size on disk is then the size reported).
 */
export type CompareInput = string | Model | { name?: string; model: string | Model; path?: string };

export interface CompareProgress {
  model: string;
  phase: 'evaluate' | 'latency';
  done: number;
  total: number;
}

export interface CompareOptions {
  /** Inputs, run through every model. Default: one deterministic random feed (agreement only). */
  feeds?: Feeds[];
  /** Class ids, one per row of the compared output over all feeds: accuracy instead of agreement. */
  labels?: ArrayLike<number>;
  /** The output compared (default the first model's first output). */
  output?: string;
  /** Timed runs per model, on the first feed (default 20). */
  runs?: number;
  /** Untimed runs before timing (default 2). */
  warmup?: number;
  /** Seed of the random feeds used without `feeds` (default 1). */
  seed?: number;
  onProgress?: (p: CompareProgress) => void;
}

export interface CompareRow {
  name: string;
  path?: string;
  /** The file's size when given a path, else the serialized model's. */
  sizeBytes: number;
  /** True for the first model, the one the others are measured against. */
  reference: boolean;
  /** Share of rows whose top-1 class matches the label (with labels). */
  accuracy?: number;
  /** Share of rows whose top-1 class matches the reference's (not for a 1-wide output). */
  top1Agreement?: number;
  /** SQNR in dB of the compared output against the reference's (Infinity when identical). */
  sqnrDb?: number;
  latencyMs: LatencyStats;
  /** Rows of the compared output evaluated (batch rows over all feeds). */
  samples: number;
  /** The quantization report, when the model is a QuantizedModel. */
  quantReport?: QuantReport;
}

export interface CompareResult {
  /** 'accuracy' with labels, else 'agreement' with the reference. */
  metric: 'accuracy' | 'agreement';
  /** Where the inputs came from. */
  inputs: 'data' | 'random';
  output: string;
  feeds: number;
  /** Dims of each input in the first feed (the one latency is measured on). */
  inputDims: { [input: string]: number[] };
  machine: { arch: string; isa: string; threads: number };
  rows: CompareRow[];
}

interface Resolved {
  name: string;
  model: Model;
  path?: string;
}

async function resolve(input: CompareInput, index: number): Promise<Resolved> {
  const wrapped = typeof input === 'object' && input !== null && !(input instanceof Model) ? input : undefined;
  const source = wrapped ? wrapped.model : input;
  const name = wrapped?.name || undefined;
  if (typeof source === 'string') return { name: name ?? basename(source), model: await load(source), path: source };
  if (source instanceof Model) {
    if (wrapped?.path) return { name: name ?? basename(wrapped.path), model: source, path: wrapped.path };
    return { name: name ?? `model ${index + 1}`, model: source };
  }
  throw invalidType(`models[${index}]`, 'a path, a Model or { name, model }', input);
}

/** Index of the largest value in each row of the last axis. */
export function argmaxRows(t: Tensor): number[] {
  const cols = t.dims.length === 0 ? 1 : t.dims[t.dims.length - 1];
  const d = t.data as ArrayLike<number>;
  const out: number[] = [];
  for (let r = 0; r * cols < d.length; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (d[r * cols + c] > d[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

function asFloat32(t: Tensor, what: string): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  if (t.dtype === 'float64' || t.dtype === 'int32' || t.dtype === 'int8' || t.dtype === 'uint8') return Float32Array.from(t.data as ArrayLike<number>);
  throw new TypeError(`${what}: expected a numeric output to compare, received dtype '${t.dtype}'`);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Runs every model on the same feeds and times it; the first model is the reference. */
export async function compare(models: readonly CompareInput[], opts: CompareOptions = {}): Promise<CompareResult> {
  if (!Array.isArray(models) || models.length === 0) throw invalidType('models', 'a non-empty array of paths or Models', models);
  const resolved: Resolved[] = [];
  for (let i = 0; i < models.length; i++) resolved.push(await resolve(models[i], i));
  const ref = resolved[0];
  const feeds = opts.feeds ?? [randomFeeds(ref.model.inputs, { seed: opts.seed ?? 1 })];
  if (!Array.isArray(feeds) || feeds.length === 0) throw invalidType('opts.feeds', 'a non-empty array of feeds', opts.feeds);
  const output = opts.output ?? ref.model.outputs[0]?.name;
  if (output === undefined) throw new RangeError(`models[0] '${ref.name}': has no outputs`);
  for (const r of resolved) {
    const names = r.model.inputs.map((i) => i.name);
    const missing = ref.model.inputs.filter((i) => !names.includes(i.name));
    if (missing.length > 0 || names.length !== ref.model.inputs.length) {
      throw invalidRange(`model '${r.name}'`, `the inputs of '${ref.name}' (${ref.model.inputs.map((i) => i.name).join(', ')})`, names.join(', '));
    }
    if (!r.model.outputs.some((o) => o.name === output)) {
      throw invalidRange(`model '${r.name}'`, `an output named '${output}' (as '${ref.name}' has)`, r.model.outputs.map((o) => o.name).join(', '));
    }
  }

  const runs = opts.runs ?? 20;
  const rows: CompareRow[] = [];
  let refValues: Float32Array | undefined;
  let refTop1: number[] | undefined;
  for (const r of resolved) {
    const values: Float32Array[] = [];
    const top1: number[] = [];
    let width = 1;
    for (let i = 0; i < feeds.length; i++) {
      const out = (await r.model.run(feeds[i]))[output];
      values.push(asFloat32(out, `model '${r.name}' output '${output}'`));
      width = out.dims.length === 0 ? 1 : out.dims[out.dims.length - 1];
      top1.push(...argmaxRows(out));
      opts.onProgress?.({ model: r.name, phase: 'evaluate', done: i + 1, total: feeds.length });
    }
    const all = concat(values);
    const row: CompareRow = {
      name: r.name,
      sizeBytes: r.path ? statSync(r.path).size : r.model.sizeBytes(),
      reference: r === ref,
      latencyMs: await measureLatency(() => r.model.run(feeds[0]), {
        runs, warmup: opts.warmup, onRun: (done, total) => opts.onProgress?.({ model: r.name, phase: 'latency', done, total }),
      }),
      samples: top1.length,
    };
    if (r.path) row.path = r.path;
    if (r.model instanceof QuantizedModel) row.quantReport = r.model.report;
    if (opts.labels !== undefined) {
      if (opts.labels.length !== top1.length) {
        throw invalidRange('labels', `${top1.length} class ids (one per row of output '${output}' over ${feeds.length} feeds)`, opts.labels.length);
      }
      row.accuracy = top1.filter((c, i) => c === Number(opts.labels![i])).length / top1.length;
    }
    if (r === ref) {
      refValues = all;
      refTop1 = top1;
    } else {
      if (all.length !== refValues!.length) throw invalidRange(`model '${r.name}' output '${output}'`, `${refValues!.length} values (as the reference)`, all.length);
      row.sqnrDb = sqnr(refValues!, all);
      if (width > 1) row.top1Agreement = top1.filter((c, i) => c === refTop1![i]).length / top1.length;
    }
    rows.push(row);
  }
  const info = cpu();
  return {
    metric: opts.labels !== undefined ? 'accuracy' : 'agreement',
    inputs: opts.feeds ? 'data' : 'random',
    output,
    feeds: feeds.length,
    inputDims: Object.fromEntries(Object.entries(feeds[0]).map(([name, t]) => [name, [...t.dims]])),
    machine: { arch: info.arch, isa: info.isa, threads: info.threads },
    rows,
  };
}
