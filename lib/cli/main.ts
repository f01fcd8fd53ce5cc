#!/usr/bin/env node
// The nquant command: commander wiring only. Each command lives in its own module
// (inspect, quantize, compare, bench) and returns a result that is printed as text or JSON.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'fs';
import { dirname, join } from 'path';
import { runBench, formatBench } from './bench';
import { runCompare, formatCompare } from './compare';
import { exitCodeOf } from './errors';
import { toJson } from './format';
import { runInspect, formatInspect } from './inspect';
import { createProgress } from './progress';
import { FORMATS, METHODS, QUANTIZE_MODES, runQuantize, formatQuantize } from './quantize';
import { runServe } from './serve';
import type { ServeCliOptions } from './serve';

export interface CliStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean });
}

function integerAtLeast(min: number, what: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected ${what} (an integer >= ${min}).`);
    return n;
  };
}
const positiveInt = (what: string) => integerAtLeast(1, what);
const nonNegativeInt = (what: string) => integerAtLeast(0, what);

const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

/** nquant's version, from the package.json above this file (in lib/cli or dist/lib/cli). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'nquant' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], streams: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const out = (text: string): void => void streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const progressFor = (json: boolean | undefined) => createProgress({ json, stream: streams.stderr as NodeJS.WriteStream });
  const emit = <T>(json: boolean | undefined, result: T, format: (r: T) => string): void => out(json ? toJson(result) : format(result));

  const program = new Command()
    .name('nquant')
    .description('Quantize, inspect, compare and benchmark ONNX models from Node.js.')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({ writeOut: (s) => void streams.stdout.write(s), writeErr: (s) => void streams.stderr.write(s) })
    .showHelpAfterError('(run nquant help <command> for its options)');

  program.command('inspect')
    .description('ops, parameters (bytes per dtype), inputs and outputs of a model')
    .argument('<model>', 'the .onnx file')
    .option('--nodes', 'also list every node with its output shapes')
    .option('--json', 'print JSON only')
    .action(async (model: string, o: { nodes?: boolean; json?: boolean }) => {
      emit(o.json, await runInspect(model, { nodes: o.nodes }), formatInspect);
    });

  program.command('quantize')
    .description('quantize to INT8: post-training (dynamic, static) or quantization-aware training (qat)')
    .argument('<model>', 'the float .onnx file')
    .requiredOption('-o, --output <file>', 'the quantized .onnx file to write')
    .addOption(new Option('--mode <mode>', `${QUANTIZE_MODES.join(' | ')}`).default('dynamic'))
    .option('--calib <path>', 'calibration inputs for --mode static: FILE.npy, FILE.json or a DIR of .npy files')
    .option('--calib-count <n>', 'use at most this many calibration samples', positiveInt('a sample count'))
    .option('--method <method>', `calibration method: ${METHODS.join(' | ')} (default minmax)`)
    .option('--per-channel', 'one weight scale per output channel (the default)')
    .option('--no-per-channel', 'one weight scale per tensor')
    .option('--format <format>', `${FORMATS.join(' | ')} (static; default qdq)`)
    .option('--exclude <nodes>', 'comma-separated node names to keep in float', list)
    .option('--data <path>', '--mode qat: training inputs (FILE.npy, FILE.json or a DIR of .npy files)')
    .option('--labels <file>', '--mode qat: class ids (.json or .npy), one per sample row')
    .option('--epochs <n>', '--mode qat: training epochs (default 1)', positiveInt('an epoch count'))
    .option('--lr <rate>', '--mode qat: Adam learning rate (default 1e-4)', Number)
    .option('--batch-size <n>', '--mode qat: samples per training batch (default 32)', positiveInt('a batch size'))
    .option('--json', 'print JSON only')
    .action(async (model: string, o: { output: string; mode: string; calib?: string; calibCount?: number; method?: string; perChannel?: boolean; format?: string; exclude?: string[]; data?: string; labels?: string; epochs?: number; lr?: number; batchSize?: number; json?: boolean }) => {
      emit(o.json, await runQuantize(model, o, progressFor(o.json)), formatQuantize);
    });

  program.command('compare')
    .description('size, accuracy (or agreement with the first model) and latency of models on the same inputs')
    .argument('<models...>', '.onnx files; the first is the reference')
    .option('--data <path>', 'inputs: FILE.npy, FILE.json or a DIR of .npy files (default: deterministic random inputs)')
    .option('--labels <file>', 'class ids (.json or .npy), one per output row: accuracy instead of agreement')
    .option('--count <n>', 'use at most this many samples of --data', positiveInt('a sample count'))
    .option('--runs <n>', 'timed runs per model (default 20)', positiveInt('a run count'))
    .option('--html <file>', 'also write an HTML report with charts')
    .option('--json', 'print JSON only')
    .action(async (models: string[], o: { data?: string; labels?: string; count?: number; runs?: number; html?: string; json?: boolean }) => {
      emit(o.json, await runCompare(models, o, progressFor(o.json)), formatCompare);
    });

  program.command('bench')
    .description('latency of a model on deterministic inputs, optionally against onnxruntime-node')
    .argument('<model>', 'the .onnx file')
    .option('--threads <n>', 'threads per kernel call (default: all cores)', positiveInt('a thread count'))
    .option('--batch <n>', 'size of a dynamic first input dim (default 1)', positiveInt('a batch size'))
    .option('--runs <n>', 'timed runs (default 50)', positiveInt('a run count'))
    .option('--data <path>', 'time the first sample of these inputs (FILE.npy, FILE.json or a DIR) instead of random ones')
    .option('--vs-ort', 'also time onnxruntime-node on the same inputs in this process')
    .option('--json', 'print JSON only')
    .action(async (model: string, o: { threads?: number; batch?: number; runs?: number; data?: string; vsOrt?: boolean; json?: boolean }) => {
      emit(o.json, await runBench(model, o, progressFor(o.json)), formatBench);
    });

  program.command('serve')
    .description('serve a model over HTTP (KServe v2 / Triton protocol) until SIGINT or SIGTERM')
    .argument('<model>', 'the .onnx file')
    .option('--port <n>', 'TCP port (default 8080; 0 picks a free one)', nonNegativeInt('a port'))
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--name <name>', "the model's name in URLs (default: the file's base name)")
    .option('--workers <n>', 'worker threads, each with its own copy of the model; 0 runs it on the main thread (default: cores, at most 4)', nonNegativeInt('a worker count'))
    .option('--max-batch-size <n>', 'dynamic batching: rows per run at most (default 8)', positiveInt('a batch size'))
    .option('--max-queue-delay-ms <n>', 'how long a request may wait for a fuller batch (default 0)', Number)
    .option('--max-queue <n>', 'requests allowed to wait before 429 (default 128)', positiveInt('a queue length'))
    .option('--max-body-bytes <n>', 'largest request body; larger gets 413 (default 64 MiB)', positiveInt('a byte count'))
    .option('--max-header-bytes <n>', 'largest request line plus headers; larger gets 431 (default 16384)', positiveInt('a byte count'))
    .option('--max-json-depth <n>', 'deepest JSON nesting accepted; deeper gets 400 (default 64)', positiveInt('a nesting depth'))
    .option('--max-connections <n>', 'open connections at once; more are closed on arrival (default 1024)', positiveInt('a connection count'))
    .option('--headers-timeout-ms <n>', 'time to receive the headers (default 10000)', positiveInt('a time in ms'))
    .option('--request-timeout-ms <n>', 'time to receive a whole request (default 30000)', positiveInt('a time in ms'))
    .option('--keep-alive-timeout-ms <n>', 'idle time before a keep-alive connection closes (default 5000)', positiveInt('a time in ms'))
    .option('--threads <n>', 'native threads per kernel call (default 1 when runs go in parallel)', positiveInt('a thread count'))
    .option('--concurrency <n>', 'with --workers 0: runs in flight at once on the one model', positiveInt('a run count'))
    .option('--json', 'print the address as JSON')
    .action(async (model: string, o: ServeCliOptions & { port?: number; host?: string; json?: boolean }) => {
      const s = await runServe(model, o);
      // One line, so a supervisor can read the address as soon as it appears.
      out(o.json ? JSON.stringify({ url: s.url, model: s.modelName }) : `serving ${s.modelName} at ${s.url} (POST ${s.url}/v2/models/${s.modelName}/infer); Ctrl-C stops`);
      await s.closed;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    // commander has printed its own message (unknown option, missing argument, ...).
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    streams.stderr.write(`nquant: ${(e as Error).message}\n`);
    return exitCodeOf(e);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
