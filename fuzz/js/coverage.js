#!/usr/bin/env node
'use strict';
// node fuzz/js/coverage.js <target> <dir>...: replays every file in the dirs through the
// target, instrumented, and prints how many statements, branches and functions of dist/lib
// they reached together (the "coverage counters hit" a run ends with).
const fs = require('fs');
const path = require('path');
const { instrumentOnLoad, coverageData } = require('./instrument');

const LIB = path.resolve(__dirname, '..', '..', 'dist', 'lib') + path.sep;

function main([name, ...dirs]) {
  instrumentOnLoad((file) => file.startsWith(LIB));
  const target = require(path.join(__dirname, 'targets', name));
  let inputs = 0;
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) {
      const file = path.join(dir, f);
      if (!fs.statSync(file).isFile()) continue;
      inputs++;
      try {
        target.fuzz(fs.readFileSync(file));
      } catch {
        // Findings are the fuzzer's business; this only counts what the inputs reach.
      }
    }
  }
  const sum = { s: [0, 0], b: [0, 0], f: [0, 0] };
  const files = Object.values(coverageData());
  for (const c of files) {
    for (const v of Object.values(c.s)) { sum.s[1]++; if (v > 0) sum.s[0]++; }
    for (const v of Object.values(c.f)) { sum.f[1]++; if (v > 0) sum.f[0]++; }
    for (const arms of Object.values(c.b)) for (const v of arms) { sum.b[1]++; if (v > 0) sum.b[0]++; }
  }
  const hit = sum.s[0] + sum.b[0] + sum.f[0], total = sum.s[1] + sum.b[1] + sum.f[1];
  process.stdout.write(`${name}: ${inputs} inputs reach ${hit}/${total} counters in ${files.length} files of dist/lib ` +
    `(statements ${sum.s[0]}/${sum.s[1]}, branches ${sum.b[0]}/${sum.b[1]}, functions ${sum.f[0]}/${sum.f[1]})\n`);
}

main(process.argv.slice(2));
