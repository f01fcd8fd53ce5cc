#!/usr/bin/env node
'use strict';
// node fuzz/js/run.js <target> [--no-coverage] [libFuzzer flags and corpus dirs...]
// Runs one target (fuzz/js/targets/<target>.js) under libFuzzer through the bridge.
// Targets export `fuzz(data: Buffer)`. Coverage of the compiled library (dist/lib) and of
// the self-test code guides the fuzzer. A finding (see oracle.js) aborts, and libFuzzer
// saves the input.
const path = require('path');
const { instrumentOnLoad } = require('./instrument');
const { CoverageFeedback } = require('./feedback');
const { findingOf } = require('./oracle');

const ROOT = path.resolve(__dirname, '..', '..');
const INSTRUMENTED = [path.join(ROOT, 'dist', 'lib') + path.sep, path.join(__dirname, 'selftest') + path.sep];

function loadBridge() {
  const file = path.join(__dirname, 'bridge', 'build', 'fuzz_js_bridge.node');
  try {
    return require(file);
  } catch (e) {
    throw new Error(`fuzz-js: ${file} could not be loaded (${e.message}); build it with fuzz/js/bridge/build.sh`);
  }
}

function main(argv) {
  const [name, ...rest] = argv;
  if (!name) throw new Error('usage: node fuzz/js/run.js <target> [--no-coverage] [libFuzzer args...]');
  const coverage = !rest.includes('--no-coverage');
  const fuzzerArgs = rest.filter((a) => a !== '--no-coverage');
  const bridge = loadBridge();
  const targetFile = require.resolve(path.join(__dirname, 'targets', name));
  // The hook goes in before the target loads, so the modules it requires are instrumented.
  if (coverage) instrumentOnLoad((file) => INSTRUMENTED.some((dir) => file.startsWith(dir)));
  const target = require(targetFile);
  const feedback = new CoverageFeedback(bridge.counters);
  const once = (data) => {
    try {
      target.fuzz(data);
    } catch (e) {
      const finding = findingOf(e);
      if (finding) {
        const err = new Error(`${name}: ${finding}`, { cause: e });
        err.stack = `${err.message}\n  thrown: ${e instanceof Error ? e.stack : String(e)}`;
        throw err;
      }
    } finally {
      // Without coverage one constant feature keeps libFuzzer running (it exits when no input
      // ever adds a feature): a blind mutator, the baseline the self-test compares against.
      if (coverage) feedback.flush();
      else bridge.counters[0] = 1;
    }
  };
  process.stderr.write(`fuzz-js: target ${name}, coverage ${coverage ? 'on' : 'off'}\n`);
  bridge.runDriver(fuzzerArgs, once);
}

main(process.argv.slice(2));
