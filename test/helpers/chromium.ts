// Headless Chromium (Debian's `chromium`) for tests that must see a page render: a screenshot
// and the page's console messages, which Chromium logs to stderr as ':CONSOLE' lines.
import { spawnSync } from 'child_process';
import { existsSync } from 'fs';
import { pathToFileURL } from 'url';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(): string | undefined {
  return CANDIDATES.find((p): p is string => typeof p === 'string' && p.length > 0 && existsSync(p));
}

export interface Screenshot {
  status: number | null;
  stderr: string;
  /** Console messages and uncaught errors of the page. */
  consoleLines: string[];
}

export function screenshot(chromium: string, htmlPath: string, pngPath: string, width: number, height: number): Screenshot {
  const r = spawnSync(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', '--enable-logging=stderr', '--v=0',
    `--screenshot=${pngPath}`, `--window-size=${width},${height}`, pathToFileURL(htmlPath).href,
  ], { encoding: 'utf8', timeout: 120_000 });
  const stderr = r.stderr ?? '';
  return { status: r.status, stderr, consoleLines: stderr.split('\n').filter((l) => /:CONSOLE[:(]|Uncaught/.test(l)) };
}
