// nquant quantize model.onnx -o out.onnx --mode dynamic|static|qat|int4|fp16: PTQ, QAT and the
// weight-only formats from the command line, with data read from .npy/.json files or a directory.
import { existsSync, statSync } from 'fs';
import { dirname } from 'path';
import type { Graph } from '../graph/ir';
import type { CalibrationMethod } from '../quant/calibration/observers';
import { quantizeDynamic } from '../quant/dynamic';
import type { QuantizedModel } from '../quant/quantized-model';
import type { QuantReport } from '../quant/report';
import { quantizeStatic } from '../quant/static';
import { quantizeInt4 } from '../compress/int4';
import { toFp16 } from '../compress/fp16';
import { CliError, UsageError } from './errors';
import { formatBytes } from './format';
import { readFeeds, readLabels } from './inputs';
import { loadModelFile } from './model-file';
import { createProgress, Progress } from './progress';
import { QatSummary, trainQat } from './qat';

export const QUANTIZE_MODES = ['dynamic', 'static', 'qat', 'int4', 'fp16'] as const;
/** Weight-only modes: no activation quantization, no calibration, no QDQ/QOperator choice. */
const WEIGHT_ONLY = ['int4', 'fp16'];
export const METHODS: CalibrationMethod[] = ['minmax', 'movingAverage', 'percentile', 'entropy', 'mse'];
export const FORMATS = ['qdq', 'qoperator'] as const;

export interface QuantizeCliOptions {
  output: string;
  mode: string;
  calib?: string;
  calibCount?: number;
  method?: string;
  perChannel?: boolean;
  format?: string;
  exclude?: string[];
  /** --mode qat: labelled training data, and how to train. */
  data?: string;
  labels?: string;
  epochs?: number;
  lr?: number;
  batchSize?: number;
}

export interface QuantizeResult {
  input: string;
  output: string;
  mode: (typeof QUANTIZE_MODES)[number];
  /** int4 files hold com.microsoft MatMulNBits, fp16 files float16 weights + Cast. */
  format: 'qdq' | 'qoperator' | 'matmulnbits' | 'float16';
  method?: CalibrationMethod;
  calibrationSamples?: number;
  sizeBytes: QuantReport['sizeBytes'];
  /** The file written, on disk. */
  outputBytes: number;
  nodes: { total: number; quantized: number };
  /** Whether quantized weights carry one scale per output channel. */
  perChannel: boolean;
  float: QuantReport['float'];
  outputSqnr: QuantReport['outputSqnr'];
  /** --mode qat: the training run. */
  qat?: QatSummary;
}

function allNodeNames(g: Graph, into = new Set<string>()): Set<string> {
  for (const n of g.nodes) {
    into.add(n.name);
    for (const a of n.attributes.values()) {
      if (a.type === 'graph') allNodeNames(a.value, into);
      else if (a.type === 'graphs') for (const sub of a.value) allNodeNames(sub, into);
    }
  }
  return into;
}

/** Checks the flags before any file is read, so usage errors come first. */
export function checkQuantizeOptions(o: QuantizeCliOptions): void {
  if (!o.output) throw new UsageError('--output: required (the quantized .onnx file to write)');
  if (!(QUANTIZE_MODES as readonly string[]).includes(o.mode)) throw new UsageError(`--mode: expected one of ${QUANTIZE_MODES.join(', ')}, received '${o.mode}'`);
  if (o.method !== undefined && !(METHODS as string[]).includes(o.method)) throw new UsageError(`--method: expected one of ${METHODS.join(', ')}, received '${o.method}'`);
  if (o.format !== undefined && !(FORMATS as readonly string[]).includes(o.format)) throw new UsageError(`--format: expected one of ${FORMATS.join(', ')}, received '${o.format}'`);
  if (o.mode === 'static' && o.calib === undefined) throw new UsageError('--calib: required with --mode static (a .npy file, a .json file or a directory of .npy files with calibration inputs)');
  if (o.calibCount !== undefined && o.mode !== 'static') throw new UsageError(`--calib-count: only --mode static calibrates (received --mode ${o.mode})`);
  if (o.mode !== 'qat') {
    for (const [flag, v] of [['--data', o.data], ['--labels', o.labels], ['--epochs', o.epochs], ['--lr', o.lr], ['--batch-size', o.batchSize]] as const) {
      if (v !== undefined) throw new UsageError(`${flag}: only --mode qat trains (received --mode ${o.mode})`);
    }
  } else {
    if (o.data === undefined || o.labels === undefined) throw new UsageError(`${o.data === undefined ? '--data' : '--labels'}: required with --mode qat (labelled training inputs: --data FILE|DIR --labels FILE)`);
    if (o.calib !== undefined) throw new UsageError('--calib: --mode qat learns activation ranges from --data');
    if (o.method !== undefined) throw new UsageError('--method: --mode qat learns activation ranges in training; only --mode static calibrates');
    if (o.lr !== undefined && !(o.lr > 0 && o.lr < 1)) throw new UsageError(`--lr: expected a learning rate in (0, 1), received ${o.lr}`);
  }
  if (WEIGHT_ONLY.includes(o.mode)) {
    if (o.calib !== undefined) throw new UsageError(`--calib: --mode ${o.mode} converts weights only and needs no calibration data`);
    if (o.method !== undefined) throw new UsageError('--method: only --mode static calibrates');
    if (o.format !== undefined) throw new UsageError(`--format: --mode ${o.mode} writes its own format (${o.mode === 'int4' ? 'com.microsoft MatMulNBits' : 'float16 weights + Cast'})`);
  }
  if (o.mode === 'dynamic') {
    if (o.calib !== undefined) throw new UsageError('--calib: only --mode static uses calibration data (dynamic quantization computes activation ranges at run time)');
    if (o.method !== undefined) throw new UsageError('--method: only --mode static calibrates');
    if (o.format === 'qdq') throw new UsageError("--format: dynamic quantization writes MatMulInteger/ConvInteger ('qoperator'); 'qdq' needs --mode static");
  }
  const outDir = dirname(o.output);
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new CliError(`--output: directory '${outDir}' does not exist`);
}

export async function runQuantize(input: string, o: QuantizeCliOptions, progress: Progress = createProgress({ json: true })): Promise<QuantizeResult> {
  checkQuantizeOptions(o);
  const model = await loadModelFile(input);
  const nodesToExclude = o.exclude?.filter((s) => s.length > 0);
  // The API ignores names it does not find; on the command line that is most likely a typo.
  const names = allNodeNames(model.ir.graph);
  for (const name of nodesToExclude ?? []) {
    if (!names.has(name)) throw new CliError(`--exclude: no node named '${name}' in ${input} (nquant inspect ${input} --nodes lists them)`);
  }
  if (o.mode === 'int4' || o.mode === 'fp16') return runWeightOnly(input, model, o, nodesToExclude);
  let q: QuantizedModel;
  let samples: number | undefined;
  let qat: QatSummary | undefined;
  if (o.mode === 'dynamic') {
    q = await quantizeDynamic(model, { perChannel: o.perChannel, nodesToExclude });
  } else if (o.mode === 'qat') {
    const feeds = readFeeds(o.data!, model.inputs, '--data');
    const labels = readLabels(o.labels!);
    const trained = await trainQat(model, feeds, labels, o.data!, { epochs: o.epochs ?? 1, lr: o.lr ?? 1e-4, batchSize: o.batchSize ?? 32, format: o.format as 'qdq' | 'qoperator' | undefined, perChannel: o.perChannel, nodesToExclude }, progress);
    q = trained.quantized;
    qat = trained.summary;
  } else {
    let feeds = readFeeds(o.calib!, model.inputs, '--calib');
    if (o.calibCount !== undefined) feeds = feeds.slice(0, o.calibCount);
    samples = feeds.length;
    progress.start('calibrating', feeds.length);
    let phase = 'calibrate';
    try {
      q = await quantizeStatic(model, feeds, {
        method: o.method as CalibrationMethod | undefined,
        perChannel: o.perChannel,
        format: o.format as 'qdq' | 'qoperator' | undefined,
        nodesToExclude,
        onProgress: (p) => {
          if (p.phase !== phase) {
            phase = p.phase;
            progress.start('measuring SQNR', p.total ?? p.batch);
          }
          progress.update(p.batch, p.total);
        },
      });
    } finally {
      progress.stop();
    }
  }
  await q.save(o.output);
  const r = q.report;
  const result: QuantizeResult = {
    input,
    output: o.output,
    mode: o.mode as QuantizeResult['mode'],
    format: q.format,
    sizeBytes: r.sizeBytes,
    outputBytes: statSync(o.output).size,
    nodes: { total: r.nodes.length, quantized: r.nodes.filter((n) => n.quantized).length },
    perChannel: r.nodes.some((n) => n.weight?.perChannel),
    float: r.float,
    outputSqnr: r.outputSqnr,
  };
  if (r.method && o.mode === 'static') result.method = r.method;
  if (qat) result.qat = qat;
  if (samples !== undefined) result.calibrationSamples = samples;
  return result;
}

async function runWeightOnly(input: string, model: Awaited<ReturnType<typeof loadModelFile>>, o: QuantizeCliOptions, nodesToExclude: string[] | undefined): Promise<QuantizeResult> {
  const result = (m: { save(p: string): Promise<void> }, sizeBytes: QuantReport['sizeBytes'], quantized: number, total: number, float: QuantReport['float'], format: QuantizeResult['format']) => ({ m, sizeBytes, quantized, total, float, format });
  let r: ReturnType<typeof result>;
  if (o.mode === 'int4') {
    const q = await quantizeInt4(model, { nodesToExclude });
    const done = q.report.layers.filter((l) => l.quantized);
    r = result(q, q.report.sizeBytes, done.length, q.report.layers.length,
      q.report.layers.filter((l) => !l.quantized).map((l) => ({ name: l.name, opType: l.opType, reason: l.reason ?? 'not quantized' })), 'matmulnbits');
  } else {
    const h = await toFp16(model, { nodesToExclude });
    r = result(h, h.report.sizeBytes, h.report.converted.length, h.report.converted.length + h.report.kept.length,
      h.report.kept.map((k) => ({ name: k.name, opType: 'initializer', reason: k.reason })), 'float16');
  }
  await r.m.save(o.output);
  return {
    input, output: o.output, mode: o.mode as QuantizeResult['mode'], format: r.format, sizeBytes: r.sizeBytes,
    outputBytes: statSync(o.output).size, nodes: { total: r.total, quantized: r.quantized }, perChannel: false, float: r.float, outputSqnr: {},
  };
}

export function formatQuantize(r: QuantizeResult): string {
  const lines = [
    `${r.input} -> ${r.output}: ${r.mode}${r.method ? ` (${r.method}, ${r.calibrationSamples} calibration samples)` : ''}${r.qat ? ` (${r.qat.epochs} epoch(s) on ${r.qat.samples} samples, final loss ${r.qat.loss[r.qat.loss.length - 1]?.toFixed(4)})` : ''}, ${r.format}`,
    `size ${formatBytes(r.sizeBytes.before)} -> ${formatBytes(r.outputBytes)} (${(r.sizeBytes.before / r.outputBytes).toFixed(2)}x smaller)`,
    r.format === 'matmulnbits' ? `${r.nodes.quantized} of ${r.nodes.total} MatMul/Gemm nodes with block-wise INT4 weights`
      : r.format === 'float16' ? `${r.nodes.quantized} of ${r.nodes.total} weights stored as float16`
        : `${r.nodes.quantized} of ${r.nodes.total} candidate nodes quantized, weights per ${r.perChannel ? 'channel' : 'tensor'}`,
  ];
  const sqnr = Object.entries(r.outputSqnr);
  if (sqnr.length > 0) lines.push(`output SQNR on the calibration batches: ${sqnr.map(([n, v]) => `'${n}' ${Number.isFinite(v) ? `${v.toFixed(1)} dB` : String(v)}`).join(', ')}`);
  // Grouped by reason: most float nodes share one (an op the mode does not cover).
  const byReason = new Map<string, Map<string, number>>();
  for (const f of r.float) {
    const ops = byReason.get(f.reason) ?? new Map<string, number>();
    ops.set(f.opType, (ops.get(f.opType) ?? 0) + 1);
    byReason.set(f.reason, ops);
  }
  if (byReason.size > 0) {
    lines.push('', `left in float (${r.float.length} nodes; --json lists each):`);
    for (const [reason, ops] of byReason) {
      lines.push(`  ${[...ops].map(([op, n]) => (n > 1 ? `${op} x${n}` : op)).join(', ')}: ${reason}`);
    }
  }
  return lines.join('\n');
}
