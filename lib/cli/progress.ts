// Progress bars on stderr, only for people: never when stderr is not a terminal (pipes, CI,
// tests) and never with --json, so machine output and logs stay clean.
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** Starts (or restarts) the bar for a task of `total` steps. */
  start(label: string, total: number): void;
  update(done: number, total?: number): void;
  stop(): void;
}

const SILENT: Progress = { start: () => undefined, update: () => undefined, stop: () => undefined };

export function createProgress(opts: { json?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || !stream.isTTY) return SILENT;
  let bar: SingleBar | undefined;
  return {
    start(label, total) {
      bar?.stop();
      bar = new SingleBar({ stream, format: `${label.padEnd(28)} {bar} {value}/{total} {duration_formatted}`, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
      bar.start(total, 0);
    },
    update(done, total) {
      if (total !== undefined) bar?.setTotal(total);
      bar?.update(done);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
