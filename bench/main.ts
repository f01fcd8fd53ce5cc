// `npm run bench -- <suite>`: side-by-side benchmarks with onnxruntime-node in one process.
import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cpu } from '../lib/cpu';
import { benchGemm, GemmRow } from './gemm';
import { benchModels, ModelRow } from './models';
import { benchQuant, QuantRow } from './quant';
import { benchTrain, TrainRow } from './train';
import { benchCompress, compressMarkdown } from './compress';
import { benchClustering, benchSparse, sparseMarkdown } from './compress-sparse';
import { benchServe, serveMarkdown } from './serve';
import { benchBinary, binaryMarkdown } from './binary';

/**
 * x86 family and model from /proc/cpuinfo: a VM's CPU name can be just "AMD EPYC", and Zen 4
 * (family 25) runs 512-bit operations at half the rate of Zen 5 (family 26), which moves every
 * ratio. '' where unknown.
 */
function cpuGeneration(): string {
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const family = /^cpu family\s*:\s*(\d+)/m.exec(text)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(text)?.[1];
    return family && model ? ` (x86 family ${family}, model ${model})` : '';
  } catch {
    return '';
  }
}

function machineLine(): string {
  const info = cpu();
  return `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}${cpuGeneration()}, ${os.cpus().length} logical cores, ` +
    `kernels at ${info.isa} (${info.supportedIsas.join(', ')}), Node ${process.version}`;
}

function gemmMarkdown(rows: GemmRow[]): string {
  const lines = [
    '| shape MxNxK | threads | kind | ours | GOPS | peer | peer GOPS | ours/peer |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.shape} | ${r.threads} | ${r.kind} | ${r.impl} | ${r.gops.toFixed(1)} | ${r.peer} | ${r.peerGops.toFixed(1)} | ${r.ratio.toFixed(2)} |`);
  }
  return lines.join('\n');
}

function modelsMarkdown(rows: ModelRow[]): string {
  const lines = [
    '| model | batch | threads | nquant ms | onnxruntime ms | nquant/ORT latency | max rel diff |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.model} | ${r.batch} | ${r.threads} | ${r.oursMs.toFixed(2)} | ${r.ortMs.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.maxRelDiff.toExponential(1)} |`);
  }
  return lines.join('\n');
}

function quantMarkdown(rows: QuantRow[]): string {
  const lines = [
    '| model | batch | threads | FP32 ms | FP32 direct-conv ms | INT8 ms | ORT INT8 ms | FP32/INT8 | FP32 direct/INT8 | ours/ORT INT8 | agreement with ORT |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.model} | ${r.batch} | ${r.threads} | ${r.fp32Ms.toFixed(2)} | ${r.fp32DirectMs.toFixed(2)} | ${r.int8Ms.toFixed(2)} | ${r.ortInt8Ms.toFixed(2)} | ${r.speedup.toFixed(2)} | ${r.speedupDirect.toFixed(2)} | ${r.vsOrt.toFixed(2)} | ${Number.isFinite(r.agreementDb) ? `${r.agreementDb.toFixed(1)} dB` : 'bit-identical'} |`);
  }
  return lines.join('\n');
}

function trainMarkdown(rows: TrainRow[]): string {
  const lines = [
    '| threads | nquant img/s | PyTorch img/s | TF.js img/s | nquant/PyTorch | nquant/TF.js |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const torch = r.torchImagesPerSecond;
    lines.push(`| ${r.threads} | ${r.oursImagesPerSecond.toFixed(0)} | ${torch?.toFixed(0) ?? `n/a (${r.torchNote})`} | ${r.tfjsImagesPerSecond?.toFixed(1) ?? 'n/a'} | ${torch ? (r.oursImagesPerSecond / torch).toFixed(2) : 'n/a'} | ${r.tfjsImagesPerSecond ? (r.oursImagesPerSecond / r.tfjsImagesPerSecond).toFixed(0) : 'n/a'} |`);
  }
  return lines.join('\n');
}

/** Replaces the section headed `## title` in bench/RESULTS.md (or appends it). */
function writeSection(title: string, body: string): void {
  const file = path.join(__dirname, '..', '..', 'bench', 'RESULTS.md');
  const header = '# Benchmark results\n\nRatios measured within one run count; absolute numbers vary on shared machines.\n';
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : header;
  const section = `## ${title}\n\n${body}\n`;
  const start = text.indexOf(`## ${title}\n`);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  fs.writeFileSync(file, text);
  console.log(`wrote section "${title}" of ${path.relative(process.cwd(), file)}`);
}

const program = new Command('nquant-bench').description('nquant benchmarks against onnxruntime-node');
program
  .command('gemm')
  .description('INT8 / FP32 / INT4 GEMM vs onnxruntime-node MatMulInteger / MatMul / MatMulNBits')
  .option('--quick', 'fewer repetitions, one thread count')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchGemm({ quick: o.quick });
    if (o.write) writeSection('GEMM', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}\n\n${gemmMarkdown(rows)}`);
  });

program
  .command('models')
  .description('FP32 ResNet-18 / MobileNetV2 latency vs onnxruntime-node on the identical ONNX file')
  .option('--quick', 'batch 1, 2 threads, short timing')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchModels({ quick: o.quick });
    if (o.write) writeSection('Models (FP32)', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}\n\n${modelsMarkdown(rows)}`);
  });

program
  .command('quant')
  .description('INT8 (quantizeStatic) ResNet-18 / MobileNetV2 vs our FP32 and onnxruntime-node on our QDQ export')
  .option('--quick', 'batch 1, 2 threads, short timing')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchQuant({ quick: o.quick });
    if (o.write) writeSection('Quantized models (INT8)', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}\n\n${quantMarkdown(rows)}`);
  });

program
  .command('train')
  .description('training throughput of the tutorial CNN (batch 64, Adam) vs PyTorch (subprocess) and TF.js')
  .option('--quick', 'fewer steps')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchTrain(!!o.quick, (s) => console.log(s));
    const torch = rows.find((r) => r.torchVersion)?.torchVersion;
    if (o.write) writeSection('Training throughput', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}; Fashion-MNIST 28x28, batch 64, forward + backward + Adam; PyTorch ${torch ?? 'not installed'} (Debian python3-torch, a subprocess)\n\n${trainMarkdown(rows)}`);
  });

program
  .command('compress')
  .description('INT4 (MatMulNBits) vs INT8 (quantizeDynamic) vs FP32 GEMV (M=1) on 3 x 4096x4096 MatMuls, ours vs onnxruntime-node on the same files; sparse vs dense INT8 GEMM across sparsities; k-means time for 10M weights')
  .option('--quick', 'one thread count, short timing')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchCompress({ quick: o.quick });
    if (o.write) writeSection('Compression (FP32 / INT8 / INT4 GEMV)', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}\n\n${compressMarkdown(rows)}`);
    console.log('\nSparse vs dense INT8 GEMM (one thread; same pruned int8 weights and inputs; ORT = onnxruntime-node QLinearMatMul, uint8 output)');
    const sparse = await benchSparse({ quick: o.quick });
    const clusters = await benchClustering();
    if (o.write) writeSection('Sparse INT8 GEMM and clustering', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}, one thread\n\n${sparseMarkdown(sparse, clusters)}`);
  });

program
  .command('serve')
  .description('HTTP serving (KServe v2) under autocannon load: nquant vs onnxruntime-node behind the same server code, INT8 (quantizeStatic QDQ) and FP32')
  .option('--quick', '4 s per target instead of 8')
  .option('--designs', 'also measure worker threads and intra-op threading')
  .option('--json', 'JSON tensors instead of the binary-tensor extension')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; designs?: boolean; json?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchServe({ quick: o.quick, designs: o.designs, protocol: o.json ? 'json' : 'binary' });
    console.log(`\n${serveMarkdown(rows)}`);
    if (o.write) writeSection('Serving (KServe v2 HTTP)', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}; ppocr_cls, batch-1 requests, autocannon on loopback\n\n${serveMarkdown(rows)}`);
  });

program
  .command('binary')
  .description('binary (1-bit) sign-GEMM and XNOR vs INT8 (quantizeDynamic) vs FP32, one 4096x4096 MatMul at M=1 and M=8')
  .option('--quick', 'one thread count, short timing')
  .option('--write', 'record the table in bench/RESULTS.md')
  .action(async (o: { quick?: boolean; write?: boolean }) => {
    console.log(machineLine());
    const rows = await benchBinary({ quick: o.quick });
    if (o.write) writeSection('Binary (1-bit) GEMM', `${machineLine()}, ${new Date().toISOString().slice(0, 10)}\n\n${binaryMarkdown(rows)}`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
