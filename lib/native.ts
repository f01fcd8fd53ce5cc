// Loads the addon built by `npm install` (cmake-js puts it in build/Release).
import bindings from 'bindings';
import * as path from 'path';
import type { Binding } from '../binding';

function load(): Binding.Module {
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
