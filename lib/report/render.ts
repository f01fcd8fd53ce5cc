// The comparison report: one self-contained HTML file (inline CSS and SVG, no script, no
// external URL) with a summary table and charts of quality, latency, size and per-layer SQNR.
import { promises as fs } from 'fs';
import { invalidType } from '../errors';
import type { QuantReport } from '../quant/report';
import { BarChart, barSpec, renderSvg } from './charts';
import type { CompareResult, CompareRow } from './compare';

export interface ReportData {
  /** Page title (default 'nquant comparison'). */
  title?: string;
  /** A paragraph under the title: what was compared, on what data. */
  description?: string;
  comparison: CompareResult;
  /** Per-layer SQNR charts; default: the reports of the compared QuantizedModels. */
  quantReports?: { variant: string; report: QuantReport }[];
  /** When the numbers were measured (default now). */
  createdAt?: Date;
}

export interface ReportChart extends BarChart {
  /** What the chart is, for ids and tests: 'quality' | 'sqnr' | 'latency' | 'size' | 'layers:<variant>'. */
  id: string;
}

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

const percent = (v: number): string => `${(v * 100).toFixed(2)}%`;
const db = (v: number): string => (v === Infinity ? 'identical' : `${v.toFixed(1)} dB`);
const ms = (v: number): string => `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ms`;

function quantReportsOf(data: ReportData): { variant: string; report: QuantReport }[] {
  return data.quantReports ?? data.comparison.rows.filter((r) => r.quantReport).map((r) => ({ variant: r.name, report: r.quantReport! }));
}

/** The charts a report shows, in order, with the values they plot. */
export function reportCharts(data: ReportData): ReportChart[] {
  const { rows, metric } = data.comparison;
  const ref = rows.find((r) => r.reference) ?? rows[0];
  const charts: ReportChart[] = [];
  if (metric === 'accuracy') {
    charts.push({ id: 'quality', title: 'Accuracy per variant', axis: 'top-1 accuracy (%)', domain: [0, 100],
      bars: rows.map((r) => ({ label: r.name, value: r.accuracy! * 100, text: percent(r.accuracy!) })) });
  } else if (rows.some((r) => r.top1Agreement !== undefined)) {
    charts.push({ id: 'quality', title: `Top-1 agreement with ${ref.name}`, axis: 'rows with the same top-1 class (%)', domain: [0, 100],
      bars: rows.filter((r) => r.reference || r.top1Agreement !== undefined).map((r) => {
        const v = r.reference ? 1 : r.top1Agreement!;
        return { label: r.name, value: v * 100, text: r.reference ? '100% (reference)' : percent(v) };
      }) });
  }
  const withSqnr = rows.filter((r) => !r.reference && r.sqnrDb !== undefined && Number.isFinite(r.sqnrDb));
  if (withSqnr.length > 0) {
    charts.push({ id: 'sqnr', title: `Output SQNR against ${ref.name}`, axis: `SQNR of '${data.comparison.output}' (dB)`,
      bars: withSqnr.map((r) => ({ label: r.name, value: r.sqnrDb!, text: db(r.sqnrDb!) })) });
  }
  charts.push({ id: 'latency', title: 'Latency per variant (median)', axis: 'median run time (ms)',
    bars: rows.map((r) => ({ label: r.name, value: r.latencyMs.median, text: ms(r.latencyMs.median) })) });
  charts.push({ id: 'size', title: 'Size per variant', axis: 'model size (KiB)',
    bars: rows.map((r) => ({ label: r.name, value: r.sizeBytes / 1024,
      text: r === ref ? formatBytes(r.sizeBytes) : `${formatBytes(r.sizeBytes)} (${(ref.sizeBytes / r.sizeBytes).toFixed(2)}x smaller)` })) });
  for (const { variant, report } of quantReportsOf(data)) {
    const layers = report.nodes.filter((n) => n.output?.sqnr !== undefined && Number.isFinite(n.output.sqnr));
    if (layers.length === 0) continue;
    charts.push({ id: `layers:${variant}`, title: `Per-layer SQNR: ${variant}`, axis: 'SQNR of the layer output against float (dB)', uniform: true,
      bars: layers.map((n) => ({ label: `${n.name} (${n.opType})`, value: n.output!.sqnr!, text: db(n.output!.sqnr!) })) });
  }
  return charts;
}

function summaryTable(data: ReportData): string {
  const { rows, metric } = data.comparison;
  const ref = rows.find((r) => r.reference) ?? rows[0];
  const quality = (r: CompareRow): string => {
    if (metric === 'accuracy') return percent(r.accuracy!);
    if (r.reference) return 'reference';
    return r.top1Agreement !== undefined ? percent(r.top1Agreement) : '—';
  };
  const head = ['Variant', 'Size', 'Compression', metric === 'accuracy' ? 'Accuracy' : 'Top-1 agreement', 'Output SQNR', 'Latency median', 'Latency p90', 'Speed-up'];
  const body = rows.map((r) => [
    r.name,
    formatBytes(r.sizeBytes),
    `${(ref.sizeBytes / r.sizeBytes).toFixed(2)}x`,
    quality(r),
    r.reference ? '—' : r.sqnrDb !== undefined ? db(r.sqnrDb) : '—',
    ms(r.latencyMs.median),
    ms(r.latencyMs.p90),
    `${(ref.latencyMs.median / r.latencyMs.median).toFixed(2)}x`,
  ]);
  return `<table class="summary"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>\n<tbody>${
    body.map((cells) => `<tr>${cells.map((c, i) => `<td${i === 0 ? '' : ' class="num"'}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

function floatNodesSection(data: ReportData): string {
  const parts: string[] = [];
  for (const { variant, report } of quantReportsOf(data)) {
    const quantized = report.nodes.filter((n) => n.quantized).length;
    const floats = report.float.slice(0, 40);
    parts.push(`<h3>${escapeHtml(variant)}: ${quantized} of ${report.nodes.length} nodes quantized (${escapeHtml(report.mode)}${report.method ? `, ${escapeHtml(report.method)}` : ''})</h3>`);
    if (floats.length > 0) {
      parts.push(`<table class="float"><thead><tr><th>Node left in float</th><th>Op</th><th>Why</th></tr></thead><tbody>${
        floats.map((f) => `<tr><td>${escapeHtml(f.name)}</td><td>${escapeHtml(f.opType)}</td><td>${escapeHtml(f.reason)}</td></tr>`).join('\n')}</tbody></table>`);
      if (report.float.length > floats.length) parts.push(`<p class="note">and ${report.float.length - floats.length} more.</p>`);
    }
  }
  return parts.length ? `<section><h2>Quantization</h2>${parts.join('\n')}</section>` : '';
}

const STYLE = `
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
p.meta, p.note { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 16px 0; } figure svg { max-width: 100%; height: auto; }
`;

/** The report as one self-contained HTML document. */
export async function renderReport(data: ReportData): Promise<string> {
  if (typeof data !== 'object' || data === null || !data.comparison || !Array.isArray(data.comparison.rows) || data.comparison.rows.length === 0) {
    throw new TypeError('data.comparison: expected the result of compare() with at least one row');
  }
  const title = data.title ?? 'nquant comparison';
  const charts = reportCharts(data);
  const figures: string[] = [];
  for (const chart of charts) {
    const svg = await renderSvg(barSpec(chart));
    figures.push(`<figure id="chart-${escapeHtml(chart.id.replace(/[^A-Za-z0-9_-]/g, '-'))}">${svg}</figure>`);
  }
  const c = data.comparison;
  const meta = `Measured ${escapeHtml((data.createdAt ?? new Date()).toISOString())} on ${escapeHtml(c.machine.arch)} (${escapeHtml(c.machine.isa)} kernels, ${c.machine.threads} threads); ` +
    `${c.feeds} input batch${c.feeds === 1 ? '' : 'es'} (${c.inputs === 'data' ? 'given data' : 'deterministic random inputs'}), output '${escapeHtml(c.output)}', ` +
    `latency over ${c.rows[0].latencyMs.runs} runs.`;
  const skipped = quantReportsOf(data).filter(({ report }) => !report.nodes.some((n) => n.output?.sqnr !== undefined && Number.isFinite(n.output.sqnr)));
  const notes = skipped.map(({ variant, report }) => `<p class="note">No per-layer SQNR for ${escapeHtml(variant)}: ${report.mode === 'dynamic' ? 'dynamic quantization measures none' : 'no report batches were kept'}.</p>`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${data.description ? `<p>${escapeHtml(data.description)}</p>` : ''}
<p class="meta">${meta}</p>
<section><h2>Summary</h2>
${summaryTable(data)}
</section>
<section><h2>Charts</h2>
${figures.join('\n')}
${notes.join('\n')}
</section>
${floatNodesSection(data)}
</body>
</html>
`;
}

/** Renders the report and writes it to `path`. */
export async function writeReport(path: string, data: ReportData): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw invalidType('path', 'a file path', path);
  await fs.writeFile(path, await renderReport(data));
}
