// PyTorch as a training-throughput peer: bench/peers/train_torch.py run by Debian's python3
// (python3-torch) on the caller's data, written to a temp file. Torch is optional on a
// developer's machine and absent in CI, so a missing python3 or torch is a result
// ({ unavailable }), not an error; anything else going wrong is.
import { spawn } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkTrainData, TrainBenchOptions } from './train-data';

export const PYTHON = '/usr/bin/python3';

export interface TorchTrainOptions extends TrainBenchOptions {
  threads: number;
  /** Interpreter to run; default /usr/bin/python3 (Debian's, where python3-torch installs). */
  python?: string;
}

export type TorchTrainResult = { imagesPerSecond: number; version: string } | { unavailable: string };

// The script lives beside this file in the source tree; compiled code runs from dist/bench/peers.
function scriptPath(): string {
  const candidates = [path.join(__dirname, 'train_torch.py'), path.join(__dirname, '..', '..', '..', 'bench', 'peers', 'train_torch.py')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`torch peer: train_torch.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

// One headerless file: N*784 float32 images then N int32 labels, in this machine's byte
// order (the reader runs on the same machine), as train_torch.py documents.
async function writeData(file: string, x: Float32Array, y: Int32Array): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    await handle.write(new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
  } finally {
    await handle.close();
  }
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  spawnError?: NodeJS.ErrnoException;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: null, stdout, stderr, spawnError: e }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`torch peer: expected a JSON line on stdout, found ${JSON.stringify(line.slice(0, 200))}`);
  }
}

export async function torchTrainThroughput(x: Float32Array, y: Int32Array, opts: TorchTrainOptions): Promise<TorchTrainResult> {
  checkTrainData(x, y, opts);
  if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RangeError(`threads: expected a positive integer, found ${opts.threads}`);
  const python = opts.python ?? PYTHON;
  if (!existsSync(python)) return { unavailable: `${python} not found (apt-get install python3 python3-torch)` };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nquant-torch-'));
  try {
    const data = path.join(dir, 'train.bin');
    await writeData(data, x, y);
    const args = [scriptPath(), '--data', data, '--threads', String(opts.threads), '--batch', String(opts.batchSize), '--steps', String(opts.steps), '--warmup', String(opts.warmup)];
    // torch.set_num_threads sizes torch's OpenMP pool but not OpenBLAS's own pthreads pool
    // (libblas is OpenBLAS once Debian's libopenblas0-pthread is installed). Two pools on
    // two cores fight: OpenMP workers spin while OpenBLAS wants their core. Measured at 2
    // threads on this project's 2-core machine: OpenBLAS 1 thread ~6,600 img/s, OpenBLAS 2
    // threads ~3,700 (below torch's 1-thread ~5,000). So BLAS stays single-threaded.
    const exit = await run(python, args, { ...process.env, OMP_NUM_THREADS: String(opts.threads), OPENBLAS_NUM_THREADS: '1' });
    if (exit.spawnError) {
      if (exit.spawnError.code === 'ENOENT' || exit.spawnError.code === 'EACCES') return { unavailable: `${python} cannot be run: ${exit.spawnError.message}` };
      throw exit.spawnError;
    }
    // Exit 3 is the script's "torch cannot be imported" (see train_torch.py).
    if (exit.code === 3) {
      const reason = lastJsonLine(exit.stdout).unavailable;
      return { unavailable: typeof reason === 'string' ? `${reason} (apt-get install python3-torch)` : 'torch cannot be imported' };
    }
    if (exit.code !== 0) throw new Error(`torch peer: ${python} exited with ${exit.code}: ${exit.stderr.trim().slice(-2000)}`);
    const result = lastJsonLine(exit.stdout);
    if (typeof result.imagesPerSecond !== 'number' || typeof result.torch !== 'string') {
      throw new Error(`torch peer: expected {imagesPerSecond, torch} in ${JSON.stringify(result)}`);
    }
    return { imagesPerSecond: result.imagesPerSecond, version: result.torch };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
