'use strict';
// Istanbul instrumentation of the modules under test, at load time: a wrapper around
// Node's '.js' loader rewrites each selected file before it compiles, so the fuzzer sees
// the statement, branch and function counters of exactly the code it is testing.
const fs = require('fs');
const Module = require('module');
const { createInstrumenter } = require('istanbul-lib-instrument');

const COVERAGE_VARIABLE = '__nquantFuzzCoverage__';

/**
 * Instruments every .js file for which `select(filename)` is true when it is first required.
 * @param {(filename: string) => boolean} select
 */
function instrumentOnLoad(select) {
  const instrumenter = createInstrumenter({
    coverageVariable: COVERAGE_VARIABLE,
    esModules: false,
    compact: true,
    produceSourceMap: false,
    // The counters live on globalThis; the default would be a Function('return this') lookup.
    coverageGlobalScope: 'globalThis',
    coverageGlobalScopeFunc: false,
  });
  const load = Module._extensions['.js'];
  Module._extensions['.js'] = function instrumentedLoad(module, filename) {
    if (!select(filename)) return load(module, filename);
    const code = instrumenter.instrumentSync(fs.readFileSync(filename, 'utf8'), filename);
    module._compile(code, filename);
  };
}

/** Istanbul's per-file coverage objects (filename -> { s, b, f, ... }), once files loaded. */
function coverageData() {
  return globalThis[COVERAGE_VARIABLE] || {};
}

module.exports = { instrumentOnLoad, coverageData, COVERAGE_VARIABLE };
