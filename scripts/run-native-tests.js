#!/usr/bin/env node
// Runs the native kernel test binary that `npm install` built beside the addon. The binary
// itself sweeps every ISA level this CPU supports against the scalar reference.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const fs = require('fs');

const bin = path.join(__dirname, '..', 'build', 'Release', 'nquant_native_tests');
const fallback = path.join(__dirname, '..', 'build', 'nquant_native_tests');
const exe = fs.existsSync(bin) ? bin : fallback;
if (!fs.existsSync(exe)) {
  console.error(`native test binary not found at ${bin}; run npm install (or npm run build:native) first`);
  process.exit(1);
}
const result = spawnSync(exe, process.argv.slice(2), { stdio: 'inherit' });
process.exit(result.status === null ? 1 : result.status);
