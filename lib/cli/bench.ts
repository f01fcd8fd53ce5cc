// nquant bench model.onnx: latency of one model on deterministic inputs, and with --vs-ort the
// same model and inputs through onnxruntime-node in the same process, the ratio printed.
import type * as Ort from 'onnxruntime-node';
import { readFileSync } from 'fs';
import { cpu, getThreads, setThreads } from '../cpu';
import { LatencyStats, measureLatency } from '../report/latency';
import { randomFeeds } from '../report/random-feeds';
import type { Feeds } from '../runtime/model';
import { CliError, UsageError } from './errors';
import { formatDims, formatMs, formatTable } from './format';
import { readFeeds } from './inputs';
import { loadModelFile } from './model-file';
import { createProgress, Progress } from './progress';

export interface BenchCliOptions {
  threads?: number;
  batch?: number;
  runs?: number;
  warmup?: number;
  vsOrt?: boolean;
  /** Real inputs (the first sample is timed) instead of random ones. */
  data?: string;
}

export interface BenchResult {
  model: string;
  threads: number;
  batch: number;
  isa: string;
  inputs: { name: string; dtype: string; dims: number[] }[];
  nquant: LatencyStats;
  ort?: LatencyStats;
  /** ORT's median over nquant's: above 1, nquant is faster. */
  speedupVsOrt?: number;
  /** Where the inputs came from. */
  inputSource: 'random' | 'data';
  /** Caveats about the inputs, e.g. dynamic dims set to 1. */
  notes: string[];
}

function loadOrt(): typeof Ort {
  try {
    // Optional peer, required only for --vs-ort.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as typeof Ort;
  } catch (e) {
    throw new CliError(`--vs-ort: onnxruntime-node could not be loaded (${(e as Error).message.split('\n')[0]}); install it with npm install onnxruntime-node`);
  }
}

async function ortLatency(file: string, feeds: Feeds, threads: number, runs: number, warmup: number | undefined, onRun: (done: number, total: number) => void): Promise<LatencyStats> {
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(readFileSync(file), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  try {
    const input: { [name: string]: Ort.Tensor } = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, [...t.dims]);
    return await measureLatency(() => session.run(input), { runs, warmup, onRun });
  } finally {
    await session.release();
  }
}

export async function runBench(file: string, o: BenchCliOptions, progress: Progress = createProgress({ json: true })): Promise<BenchResult> {
  if (o.data !== undefined && o.batch !== undefined) throw new UsageError('--batch: the batch comes from --data when it is given; pass one or the other');
  const batch = o.batch ?? 1;
  const model = await loadModelFile(file);
  const notes: string[] = [];
  let feeds: Feeds;
  if (o.data !== undefined) {
    feeds = readFeeds(o.data, model.inputs, '--data')[0];
  } else {
    for (const spec of model.inputs) {
      const first = spec.dims[0];
      if (batch !== 1 && typeof first === 'number' && first >= 0 && first !== batch) {
        throw new UsageError(`--batch: input '${spec.name}' of ${file} has a fixed first dim ${first} (dims ${formatDims(spec.dims)}), so the batch cannot be ${batch}`);
      }
      if (spec.dims.slice(1).some((d) => typeof d !== 'number' || d < 0)) {
        notes.push(`input '${spec.name}' ${formatDims(spec.dims)}: dynamic dims after the first were set to 1; pass --data for real input shapes`);
      }
    }
    feeds = randomFeeds(model.inputs, { seed: 1, batch });
  }
  const runs = o.runs ?? 50;
  const before = getThreads();
  const threads = o.threads ?? before;
  setThreads(threads);
  try {
    progress.start('nquant', runs);
    const ours = await measureLatency(() => model.run(feeds), { runs, warmup: o.warmup, onRun: (d) => progress.update(d) });
    const result: BenchResult = {
      model: file, threads, batch: Object.values(feeds)[0]?.dims[0] ?? batch, isa: cpu().isa,
      inputs: Object.entries(feeds).map(([name, t]) => ({ name, dtype: t.dtype, dims: [...t.dims] })),
      nquant: ours,
      inputSource: o.data !== undefined ? 'data' : 'random',
      notes,
    };
    if (o.vsOrt) {
      progress.start('onnxruntime-node', runs);
      result.ort = await ortLatency(file, feeds, threads, runs, o.warmup, (d) => progress.update(d));
      result.speedupVsOrt = result.ort.median / ours.median;
    }
    return result;
  } finally {
    progress.stop();
    setThreads(before);
    model.dispose();
  }
}

export function formatBench(r: BenchResult): string {
  const rows = [['runtime', 'median', 'p90', 'min']];
  const line = (name: string, s: LatencyStats): string[] => [name, formatMs(s.median), formatMs(s.p90), formatMs(s.min)];
  rows.push(line('nquant', r.nquant));
  if (r.ort) rows.push(line('onnxruntime-node', r.ort));
  const lines = [
    `${r.model}: batch ${r.batch}, ${r.threads} thread(s), ${r.isa} kernels, ${r.nquant.runs} runs; ${r.inputSource} inputs ${r.inputs.map((i) => `${i.name} ${i.dtype} ${formatDims(i.dims)}`).join(', ')}`,
    formatTable(rows),
  ];
  for (const note of r.notes) lines.push(`note: ${note}`);
  if (r.speedupVsOrt !== undefined) lines.push(`nquant is ${r.speedupVsOrt.toFixed(2)}x ${r.speedupVsOrt >= 1 ? 'as fast as' : 'the speed of'} onnxruntime-node (median over median)`);
  return lines.join('\n');
}
