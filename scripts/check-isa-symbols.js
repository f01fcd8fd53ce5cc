#!/usr/bin/env node
// Guards the "one build runs on any x86-64" promise. An inline function or template
// instantiated inside an AVX2/AVX-512/AMX file (std::min, a header helper) is emitted as a
// weak symbol compiled with that ISA's flags; the linker may keep that copy for baseline
// code too, which then dies with SIGILL on older CPUs. So ISA objects must define no weak
// code symbols: helpers there are `static` or in an anonymous namespace.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = process.argv[2] || path.join(__dirname, '..', 'build');
function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.o') && /kernels[\\/]x86[\\/]/.test(p)) out.push(p);
  }
  return out;
}
if (!fs.existsSync(root)) {
  console.error(`check-isa-symbols: no build folder at ${root}`);
  process.exit(1);
}
const objects = walk(root, []);
const bad = [];
for (const obj of objects) {
  const lines = execFileSync('nm', ['-C', '--defined-only', obj], { encoding: 'utf8' }).split('\n');
  for (const line of lines) {
    const m = /^[0-9a-f]+\s+([WVu])\s+(.*)$/.exec(line);
    if (m && !m[2].startsWith('DW.ref.')) bad.push(`${path.relative(root, obj)}: ${m[2]}`);
  }
}
if (bad.length) {
  console.error('ISA-specific objects define weak symbols the linker may share with baseline code:');
  for (const b of bad) console.error(`  ${b}`);
  process.exit(1);
}
console.log(`check-isa-symbols: ${objects.length} ISA objects define no shared weak code symbols`);
