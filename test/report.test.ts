// The HTML report: built from a real comparison (the npm MobileNetV3 classifier, FP32 vs
// dynamic and static INT8), one inline <svg> per chart carrying the plotted values, no script
// or external URL, and a page headless Chromium renders without errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { PNG } from 'pngjs';
import { argmaxRows, compare, CompareResult } from '../lib/report/compare';
import { renderReport, reportCharts, writeReport, ReportData } from '../lib/report/render';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { quantizeStatic } from '../lib/quant/static';
import { load } from '../lib/runtime/load';
import { findChromium, screenshot } from './helpers/chromium';
import { REAL_MODELS, rng } from './helpers/ort-models';

const dir = mkdtempSync(join(tmpdir(), 'nquant-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ppocr = REAL_MODELS.find((m) => m.name === 'ppocr_cls')!;
const STATIC_NAME = 'INT8 <static> & co';

let result: CompareResult;
let data: ReportData;
let html: string;

beforeAll(async () => {
  const model = await load(ppocr.path);
  const r = rng(11);
  const feeds = Array.from({ length: 4 }, () => ppocr.feeds(r));
  const dynamic = await quantizeDynamic(model);
  const stat = await quantizeStatic(model, feeds.slice(0, 3), { method: 'minmax', reportBatches: 1 });
  // Labels: the float model's classes, except one flipped, so accuracies differ from 100%.
  const labels: number[] = [];
  for (const f of feeds) labels.push(...argmaxRows((await model.run(f))[model.outputs[0].name]));
  labels[0] = 1 - labels[0];
  result = await compare([{ name: 'FP32', model }, { name: 'INT8 dynamic', model: dynamic }, { name: STATIC_NAME, model: stat }], { feeds, labels, runs: 3 });
  data = { title: 'ppocr classifier', comparison: result, createdAt: new Date('2026-01-02T03:04:05Z') };
  html = await renderReport(data);
});

/** The <figure> of each chart, in order. */
const figures = (page: string): string[] => [...page.matchAll(/<figure id="chart-[^"]*">([\s\S]*?)<\/figure>/g)].map((m) => m[1]);

const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('renderReport', () => {
  test('the comparison behind the report is real: accuracy against labels, per-layer SQNR', () => {
    expect(result.rows[0].accuracy).toBe(0.75);
    expect(result.rows[2].quantReport?.nodes.some((n) => n.output?.sqnr !== undefined)).toBe(true);
  });

  test('one <svg> per chart: accuracy, output SQNR, latency, size and per-layer SQNR', () => {
    const charts = reportCharts(data);
    expect(charts.map((c) => c.id)).toEqual(['quality', 'sqnr', 'latency', 'size', `layers:${STATIC_NAME}`]);
    expect(html.match(/<svg[\s>]/g)).toHaveLength(charts.length);
    expect(figures(html)).toHaveLength(charts.length);
  });

  test('each chart draws one bar per value, labelled, with the value and the axis title in the SVG', () => {
    const charts = reportCharts(data);
    figures(html).forEach((raw, i) => {
      const chart = charts[i];
      const svg = unescape(raw);
      const bars = [...svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"/g)].map((m) => m[1]);
      expect(bars).toHaveLength(chart.bars.length);
      chart.bars.forEach((b, k) => {
        // Vega labels a bar '<axis title>: <value>; label: <category>'.
        const [value, label] = bars[k].split('; label: ');
        expect(label).toBe(b.label);
        expect(Number(value.slice(value.lastIndexOf(': ') + 2))).toBeCloseTo(b.value, 2);
        expect(svg).toContain(`>${b.text}<`);
      });
      expect(svg).toContain(`>${chart.axis}<`);
      expect(svg).toContain(`>${chart.title}<`);
    });
    // The values plotted are the comparison's.
    expect(charts[0].bars.map((b) => b.value)).toEqual(result.rows.map((r) => r.accuracy! * 100));
    expect(charts[3].bars.map((b) => b.value)).toEqual(result.rows.map((r) => r.sizeBytes / 1024));
    expect(charts[4].bars.length).toBe(result.rows[2].quantReport!.nodes.filter((n) => Number.isFinite(n.output?.sqnr)).length);
  });

  test('a summary table with every variant, names escaped', () => {
    const table = /<table class="summary">([\s\S]*?)<\/table>/.exec(html)![1];
    expect(table.match(/<tr>/g)).toHaveLength(1 + result.rows.length);
    expect(table).toContain('INT8 &lt;static&gt; &amp; co');
    expect(table).toContain('75.00%');
    expect(html).not.toContain('<static>');
  });

  test('self-contained: no script, stylesheet link, image or external URL', () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    // The only URLs are the SVG namespace names, which are never fetched.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink']));
  });

  test('errors name the argument', async () => {
    await expect(renderReport({ comparison: { ...result, rows: [] } })).rejects.toThrow(/data\.comparison: expected the result of compare\(\)/);
    await expect(writeReport('', data)).rejects.toThrow(/path: expected a file path/);
  });
});

const chromium = findChromium();
if (!chromium) {
  test.skip('renders in headless Chromium (skipped: no chromium binary; apt-get install chromium)', () => undefined);
} else {
  test('renders in headless Chromium without errors: a non-blank screenshot of the window size', async () => {
    const page = join(dir, 'report.html');
    await writeReport(page, data);
    expect(readFileSync(page, 'utf8')).toBe(html);
    const png = join(dir, 'report.png');
    const shot = screenshot(chromium, page, png, 1200, 1600);
    expect(shot.consoleLines).toEqual([]);
    expect(shot.status).toBe(0);
    const image = PNG.sync.read(readFileSync(png));
    expect([image.width, image.height]).toEqual([1200, 1600]);
    // Not blank: many non-white pixels, and luminance that varies.
    let sum = 0, sumSq = 0, inked = 0;
    const n = image.width * image.height;
    for (let i = 0; i < n; i++) {
      const y = 0.299 * image.data[4 * i] + 0.587 * image.data[4 * i + 1] + 0.114 * image.data[4 * i + 2];
      sum += y;
      sumSq += y * y;
      if (y < 200) inked++;
    }
    const variance = sumSq / n - (sum / n) ** 2;
    console.log(`report screenshot: ${(inked / n * 100).toFixed(2)}% inked pixels, luminance variance ${variance.toFixed(0)}`);
    expect(inked / n).toBeGreaterThan(0.02);
    expect(variance).toBeGreaterThan(100);

    // The same check sees a page's errors (so an empty list above means something).
    const broken = join(dir, 'broken.html');
    writeFileSync(broken, '<!DOCTYPE html><p>x</p><script>console.error("report-check"); missingFunction();</script>');
    const bad = screenshot(chromium, broken, join(dir, 'broken.png'), 320, 240);
    expect(bad.consoleLines.join('\n')).toMatch(/missingFunction is not defined/);
  });
}

describe('compare', () => {
  const deepa = REAL_MODELS.find((m) => m.name === 'hello_deepa')!;

  test('without feeds: deterministic random inputs from the input specs, agreement metric', async () => {
    const a = await compare([deepa.path, { name: 'same file', model: deepa.path }], { runs: 1, warmup: 0 });
    expect(a.metric).toBe('agreement');
    expect(a.inputs).toBe('random');
    expect(a.inputDims).toEqual({ 'onnx::Flatten_0': [1, 25, 96] });
    expect(a.rows.map((r) => r.name)).toEqual(['hello_deepa.onnx', 'same file']);
    // The same model on the same inputs: nothing lost; a 1-wide output has no top-1 class.
    expect(a.rows[1].sqnrDb).toBe(Infinity);
    expect(a.rows[1].top1Agreement).toBeUndefined();
    expect(a.rows[0].accuracy).toBeUndefined();
  });

  test('models that cannot be compared are errors naming them', async () => {
    await expect(compare([])).rejects.toThrow(/^models: expected a non-empty array/);
    await expect(compare([42 as never])).rejects.toThrow(/models\[0\]: expected a path, a Model or \{ name, model \}, received 42/);
    await expect(compare([ppocr.path, deepa.path], { runs: 1 })).rejects.toThrow(/model 'hello_deepa\.onnx': expected the inputs of 'ch_ppocr_mobile_v2\.0_cls_infer\.onnx' \(x\)/);
    await expect(compare([deepa.path], { runs: 1, output: 'nope' })).rejects.toThrow(/an output named 'nope'/);
  });
});
