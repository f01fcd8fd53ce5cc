// Loads the addon built by `npm install` (cmake-js puts it in build/Release).
// NQUANT_ADDON=/abs/path/nquant.node loads that file instead: scripts/test-asan.sh points it at
// the sanitizer build so jest, and the serving pool's worker threads (which inherit the
// environment and load this same module), exercise the instrumented kernels.
import bindings from 'bindings';
import * as path from 'path';
import type { Binding } from '../binding';

function loadOverride(file: string): Binding.Module {
  if (!path.isAbsolute(file)) {
    throw new Error(`nquant: NQUANT_ADDON must be an absolute path to an nquant.node file, got ${JSON.stringify(file)}`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as Binding.Module;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(`nquant: NQUANT_ADDON=${file} failed to load: ${reason}`);
  }
}

function load(): Binding.Module {
  const override = process.env.NQUANT_ADDON;
  if (override) return loadOverride(override);
  try {
    // module_root: the package folder, whether we run from lib/ (ts-jest) or dist/lib/.
    const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
    return bindings({ bindings: 'nquant.node', module_root: root }) as Binding.Module;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(`nquant: the native addon is not built or failed to load (run npm install): ${reason}`);
  }
}

export const native: Binding.Module = load();
