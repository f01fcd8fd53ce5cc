// nquant compare a.onnx b.onnx ...: size, accuracy (with labels) or agreement with the first
// model, and latency, on the same inputs for every model; optionally an HTML report.
import { existsSync } from 'fs';
import { basename, dirname, resolve } from 'path';
import { compare, CompareResult, CompareRow } from '../report/compare';
import { writeReport } from '../report/render';
import { CliError, UsageError } from './errors';
import { formatBytes, formatMs, formatTable } from './format';
import { readFeeds, readLabels } from './inputs';
import { loadModelFile } from './model-file';
import { createProgress, Progress } from './progress';

export interface CompareCliOptions {
  data?: string;
  labels?: string;
  runs?: number;
  html?: string;
  /** Use at most this many samples of --data. */
  count?: number;
}

/** What `compare --json` prints: the rows without the (large) quantization reports. */
export type CompareCliResult = Omit<CompareResult, 'rows'> & { rows: Omit<CompareRow, 'quantReport'>[]; html?: string };

export async function runCompare(files: string[], o: CompareCliOptions, progress: Progress = createProgress({ json: true })): Promise<CompareCliResult> {
  if (files.length < 1) throw new UsageError('models: expected at least one .onnx file');
  if (o.labels !== undefined && o.data === undefined) throw new UsageError('--labels: needs --data (the inputs the labels belong to)');
  if (o.html !== undefined && !existsSync(dirname(resolve(o.html)))) throw new CliError(`--html: directory '${dirname(o.html)}' does not exist`);
  // Rows are named by file name when those are unique, else by the paths as given.
  const unique = new Set(files.map((f) => basename(f))).size === files.length;
  const models = [];
  for (let i = 0; i < files.length; i++) models.push({ name: unique ? basename(files[i]) : files[i], model: await loadModelFile(files[i], `models[${i}]`), path: files[i] });
  let feeds = o.data !== undefined ? readFeeds(o.data, models[0].model.inputs, '--data') : undefined;
  let labels = o.labels !== undefined ? readLabels(o.labels) : undefined;
  if (feeds && o.count !== undefined && o.count < feeds.length) {
    feeds = feeds.slice(0, o.count);
    // The labels of the samples kept: one per row of their batch axis.
    const first = models[0].model.inputs[0]?.name;
    if (labels && first !== undefined) labels = labels.slice(0, feeds.reduce((n, f) => n + (f[first].dims[0] ?? 1), 0));
  }
  let current = '';
  let result: CompareResult;
  try {
    result = await compare(models, {
      feeds, labels, runs: o.runs,
      onProgress: (p) => {
        const label = `${p.model} ${p.phase}`;
        if (label !== current) { current = label; progress.start(label.length > 28 ? `...${label.slice(-25)}` : label, p.total); }
        progress.update(p.done, p.total);
      },
    });
  } catch (e) {
    // compare() names the model or 'labels'; here those are files and flags.
    if (e instanceof RangeError && /^labels:/.test(e.message)) throw new CliError(`--labels ${o.labels}: ${e.message.slice('labels: '.length)}`);
    throw e;
  } finally {
    progress.stop();
  }
  if (o.html) await writeReport(o.html, { title: 'nquant compare', comparison: result, description: `Models: ${files.join(', ')}.` });
  const out: CompareCliResult = { ...result, rows: result.rows.map(({ quantReport: _omit, ...row }) => row) };
  if (o.html) out.html = o.html;
  return out;
}

export function formatCompare(r: CompareCliResult): string {
  const ref = r.rows[0];
  const quality = r.metric === 'accuracy' ? 'accuracy' : 'top-1 agree';
  const rows = [['model', 'size', 'ratio', quality, 'SQNR', 'median', 'p90', 'speed-up']];
  for (const row of r.rows) {
    rows.push([
      row.name,
      formatBytes(row.sizeBytes),
      `${(ref.sizeBytes / row.sizeBytes).toFixed(2)}x`,
      r.metric === 'accuracy' ? `${(row.accuracy! * 100).toFixed(2)}%` : row.reference ? 'ref' : row.top1Agreement !== undefined ? `${(row.top1Agreement * 100).toFixed(1)}%` : '—',
      row.reference ? 'ref' : row.sqnrDb === undefined ? '—' : Number.isFinite(row.sqnrDb) ? `${row.sqnrDb.toFixed(1)} dB` : 'identical',
      formatMs(row.latencyMs.median),
      formatMs(row.latencyMs.p90),
      `${(ref.latencyMs.median / row.latencyMs.median).toFixed(2)}x`,
    ]);
  }
  const dims = Object.entries(r.inputDims).map(([name, d]) => `${name} [${d.join(', ')}]`).join(', ');
  const source = r.inputs === 'data' ? `${r.feeds} input batch(es) of the given data (first: ${dims})` : `deterministic random inputs ${dims} (dynamic dims set to 1; pass --data for real inputs)`;
  const lines = [formatTable(rows), '', `${source}; output '${r.output}', ${ref.samples} rows; latency over ${ref.latencyMs.runs} runs on ${r.machine.isa} with ${r.machine.threads} threads`];
  if (r.html) lines.push(`report written to ${r.html}`);
  return lines.join('\n');
}
