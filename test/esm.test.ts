// `import` and `require` of the package expose the same API (the ESM entry re-exports the
// CommonJS build by name, so a name added to lib/index.ts must be added to esm/index.mjs).
import { spawnSync } from 'child_process';
import * as path from 'path';

test('ESM and CommonJS entry points export the same names', () => {
  const script = `
    import * as esm from 'nquant';
    import { createRequire } from 'module';
    const cjs = createRequire(import.meta.url)('nquant');
    process.stdout.write(JSON.stringify({ cjs: Object.keys(cjs).sort(), esm: Object.keys(esm).filter((k) => k !== 'default').sort() }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  expect(out.stderr).toBe('');
  const { cjs, esm } = JSON.parse(out.stdout) as { cjs: string[]; esm: string[] };
  expect(esm).toEqual(cjs);
  expect(cjs).toEqual(expect.arrayContaining(['load', 'Tensor', 'cpu', 'setThreads']));
});
