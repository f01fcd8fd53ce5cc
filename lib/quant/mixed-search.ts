// searchMixedPrecision: which precision each weighted layer can afford. Sensitivity first: every
// layer alone at every candidate (the others FP32), measured with the user's metric or, without
// one, the output SQNR. Then a greedy assignment on those numbers, taking costs as additive (metric
// drops add, and so do noise powers): under a quality budget it starts every layer at its smallest
// candidate and buys back quality where it costs the fewest bytes, then builds the model, measures
// it, and keeps raising layers while the measurement misses the budget; under a size budget it
// starts from FP32 and narrows the layers that lose least per byte saved.
import { invalidType } from '../errors';
import { Model } from '../runtime/model';
import type { Feeds } from '../runtime/model';
import { FeedSource, isFeedSource } from './calibrate';
import { resolveStaticOptions } from './options';
import { applies, assignChoices, choiceLabel, keyMatcher, LayerChoice, layerBytes, mixedLayers } from './mixed-layers';
import { buildMixed, MixedPrecisionModel, splitMixedOptions } from './mixed';
import { EvalFn, resolveSearchOptions, SearchMixedOptions } from './mixed-search-options';

export interface LayerSensitivity {
  choice: string;
  /** Packed bytes of the layer under this choice. */
  bytes: number;
  /** With evalFn: metric drop from FP32 with only this layer at this choice. */
  drop?: number;
  /** Without evalFn: output SQNR in dB with only this layer at this choice. */
  sqnr?: number;
}

export interface SearchedLayer {
  name: string;
  opType: string;
  weights: number;
  choice: string;
  bytes: number;
  fp32Bytes: number;
  /** Each option the layer had (FP32 included), smallest first. */
  sensitivity: LayerSensitivity[];
  /** Why this choice: how the greedy search reached it. */
  reason: string;
}

export interface MixedSearchResult {
  model: MixedPrecisionModel;
  layers: SearchedLayer[];
  /** Packed bytes of the searched layers, and the same layers in FP32. */
  packedBytes: number;
  fp32Bytes: number;
  budget: { kind: 'maxDrop' | 'minSqnr' | 'targetBytes'; value: number; met: boolean };
  /** evalFn of FP32, of activations alone in INT8 (every layer FP32), and of the result; without evalFn, undefined. */
  metric?: { fp32: number; activationsOnly: number; final: number; drop: number };
  /** Output SQNR of the result in dB (report batches). */
  outputSqnr: number;
  /** Models built and measured. */
  evaluations: number;
}

interface Option { choice: LayerChoice; label: string; bytes: number; cost: number; measured: number }

function minOutputSqnr(m: MixedPrecisionModel): number {
  const v = Object.values(m.report.outputSqnr);
  return v.length ? Math.min(...v) : NaN;
}

const noiseOf = (sqnrDb: number) => 10 ** (-sqnrDb / 10);

async function materialize(source: FeedSource): Promise<Feeds[]> {
  if (!isFeedSource(source)) throw invalidType('calibration', 'an Iterable or AsyncIterable of feeds ({ [input]: Tensor })', source);
  if (Array.isArray(source)) return source as Feeds[];
  const out: Feeds[] = [];
  for await (const f of source as AsyncIterable<Feeds>) out.push(f);
  return out;
}

/**
 * Searches a precision per weighted layer that meets a budget: `maxDrop` (metric drop from FP32,
 * with `evalFn`), `minSqnr` (output SQNR in dB, without `evalFn`) or `targetBytes` (packed bytes of
 * the layers). The result holds the runnable model, each layer's choice with its sensitivity and
 * the reason, the size reached and the measured metric.
 */
export async function searchMixedPrecision(model: Model, calibration: FeedSource, evalFn: EvalFn | undefined, opts: SearchMixedOptions): Promise<MixedSearchResult> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const so = resolveSearchOptions(evalFn, opts);
  const { layerSchemes, rest } = splitMixedOptions(so.mixed);
  const batches = await materialize(calibration);
  const ro = resolveStaticOptions(rest);
  const allLayers = mixedLayers(model, ro);
  const fixed = assignChoices(allLayers, layerSchemes, 'fp32');
  // Layers layerSchemes names keep their choice; the others are searched.
  const matchers = Object.keys(layerSchemes).map(keyMatcher);
  const fixedNames = new Set(allLayers.filter((l) => matchers.some((m) => m(l.name))).map((l) => l.name));
  const layers = allLayers.filter((l) => !fixedNames.has(l.name));
  const sign = so.lowerIsBetter ? -1 : 1;
  const total = 2 + layers.reduce((s, l) => s + so.candidates.filter((c) => applies(c, l)).length, 0);
  let step = 0;
  const progress = (phase: 'reference' | 'sensitivity' | 'verify', value: number, layer?: string, choice?: string) =>
    so.onProgress?.({ phase, step: ++step, total, layer, choice, value });

  const fp32Metric = evalFn ? await evalFn(model) : NaN;
  if (evalFn && !Number.isFinite(fp32Metric)) throw invalidType('evalFn(model)', 'a finite number', fp32Metric);
  const measure = async (choices: Map<string, LayerChoice>): Promise<{ model: MixedPrecisionModel; cost: number; measured: number }> => {
    const m = await buildMixed(model, batches, allLayers, choices, rest);
    if (!evalFn) {
      const s = minOutputSqnr(m);
      return { model: m, cost: noiseOf(s), measured: s };
    }
    const v = await evalFn(m);
    if (!Number.isFinite(v)) throw invalidType('evalFn(model)', 'a finite number', v);
    const drop = sign * (fp32Metric - v);
    return { model: m, cost: drop, measured: drop };
  };
  const withChoices = (over: [string, LayerChoice][]) => {
    const m = new Map(fixed);
    for (const l of layers) m.set(l.name, 'fp32');
    for (const [n, c] of over) m.set(n, c);
    return m;
  };

  progress('reference', fp32Metric);
  const base = await measure(withChoices([]));
  progress('reference', base.measured);

  const options = new Map<string, Option[]>();
  for (const l of layers) {
    const list: Option[] = [{ choice: 'fp32', label: 'fp32', bytes: layerBytes(l, 'fp32', ro), cost: base.cost, measured: base.measured }];
    for (const c of so.candidates) {
      if (!applies(c, l)) continue;
      const r = await measure(withChoices([[l.name, c]]));
      list.push({ choice: c, label: choiceLabel(c), bytes: layerBytes(l, c, ro), cost: r.cost, measured: r.measured });
      progress('sensitivity', r.measured, l.name, choiceLabel(c));
    }
    list.sort((a, b) => a.bytes - b.bytes);
    options.set(l.name, list);
  }
  // What a layer adds over the activation-only model: costs are taken as additive on top of it.
  const extra = (o: Option) => Math.max(0, o.cost - base.cost);
  const at = new Map<string, number>();
  const reasons = new Map<string, string[]>();
  const note = (name: string, s: string) => reasons.get(name)!.push(s);
  const fmt = (v: number) => (evalFn ? `drop ${v.toFixed(4)}` : `SQNR ${v.toFixed(1)} dB`);
  const estimate = () => base.cost + layers.reduce((s, l) => s + extra(options.get(l.name)![at.get(l.name)!]), 0);
  // Layers fixed by layerSchemes count toward the size budget too.
  const fixedBytes = allLayers.filter((l) => fixedNames.has(l.name)).reduce((s, l) => s + layerBytes(l, fixed.get(l.name)!, ro), 0);
  const bytes = () => fixedBytes + layers.reduce((s, l) => s + options.get(l.name)![at.get(l.name)!].bytes, 0);
  const current = () => withChoices(layers.map((l) => [l.name, options.get(l.name)![at.get(l.name)!].choice]));

  let result: { model: MixedPrecisionModel; cost: number; measured: number };
  let met: boolean;
  if (so.budget.kind === 'targetBytes') {
    for (const l of layers) { at.set(l.name, options.get(l.name)!.length - 1); reasons.set(l.name, []); }
    // Narrow the layer that adds the least cost per byte saved, until the size fits.
    while (bytes() > so.budget.value) {
      let best: { name: string; j: number; ratio: number } | undefined;
      for (const l of layers) {
        const list = options.get(l.name)!, i = at.get(l.name)!;
        for (let j = 0; j < i; j++) {
          const saved = list[i].bytes - list[j].bytes;
          if (saved <= 0) continue;
          const ratio = (extra(list[j]) - extra(list[i])) / saved;
          if (!best || ratio < best.ratio) best = { name: l.name, j, ratio };
        }
      }
      if (!best) break;
      const list = options.get(best.name)!;
      note(best.name, `narrowed ${list[at.get(best.name)!].label} -> ${list[best.j].label}: least added cost per byte saved (${fmt(list[best.j].measured)} alone)`);
      at.set(best.name, best.j);
    }
    result = await measure(current());
    progress('verify', result.measured);
    met = result.model.mixed.packedBytes <= so.budget.value;
  } else {
    const limit = so.budget.kind === 'maxDrop' ? so.budget.value : noiseOf(so.budget.value);
    for (const l of layers) {
      at.set(l.name, 0);
      reasons.set(l.name, [`started at its smallest option ${options.get(l.name)![0].label} (${fmt(options.get(l.name)![0].measured)} alone)`]);
    }
    // The upgrade that removes the most estimated cost per byte added; `force` takes one even
    // when the estimate sees no gain (the measurement disagreed with the estimate).
    const upgrade = (force: boolean, why: string): boolean => {
      let best: { name: string; j: number; ratio: number } | undefined;
      for (const l of layers) {
        const list = options.get(l.name)!, i = at.get(l.name)!;
        for (let j = i + 1; j < list.length; j++) {
          const added = Math.max(1, list[j].bytes - list[i].bytes);
          const gain = extra(list[i]) - extra(list[j]);
          const ratio = gain / added;
          if ((gain > 0 || force) && (!best || ratio > best.ratio || (ratio === best.ratio && extra(list[i]) > extra(options.get(best.name)![at.get(best.name)!])))) best = { name: l.name, j, ratio };
        }
      }
      if (!best) return false;
      const list = options.get(best.name)!;
      note(best.name, `raised ${list[at.get(best.name)!].label} -> ${list[best.j].label} ${why} (${fmt(list[best.j].measured)} alone)`);
      at.set(best.name, best.j);
      return true;
    };
    while (estimate() > limit && upgrade(false, 'as the cheapest estimated gain per byte')) { /* raise until the estimate fits */ }
    result = await measure(current());
    progress('verify', result.measured);
    while (result.cost > limit && (upgrade(false, `after the built model measured ${fmt(result.measured)}`) || upgrade(true, `after the built model measured ${fmt(result.measured)}`))) {
      result = await measure(current());
      progress('verify', result.measured);
    }
    met = result.cost <= limit;
  }

  const searched = new Map(layers.map((l) => [l.name, options.get(l.name)!]));
  const out: SearchedLayer[] = result.model.mixed.layers.map((r) => {
    const list = searched.get(r.name);
    const sensitivity = list
      ? list.map((o) => ({ choice: o.label, bytes: o.bytes, ...(evalFn ? { drop: o.measured } : { sqnr: o.measured }) }))
      : [];
    const reason = list ? reasons.get(r.name)!.join('; ') : 'fixed by opts.layerSchemes';
    return { name: r.name, opType: r.opType, weights: r.weights, choice: r.choice, bytes: r.bytes, fp32Bytes: r.fp32Bytes, sensitivity, reason };
  });
  const final = evalFn ? fp32Metric - sign * result.measured : NaN;
  return {
    model: result.model,
    layers: out,
    packedBytes: result.model.mixed.packedBytes,
    fp32Bytes: result.model.mixed.fp32Bytes,
    budget: { ...so.budget, met },
    metric: evalFn ? { fp32: fp32Metric, activationsOnly: fp32Metric - sign * base.measured, final, drop: result.measured } : undefined,
    outputSqnr: minOutputSqnr(result.model),
    evaluations: step,
  };
}

