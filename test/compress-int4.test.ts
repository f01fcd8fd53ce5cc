// quantizeInt4: the block quantizer (error bounds, layout identical to the native quantizer,
// MSE search beating RTN on real weights), MatMulNBits run by us and by onnxruntime-node on
// the exported file (same 4-bit values, so only float summation order differs), sizes, and
// option errors.
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { native } from '../lib/native';
import { buildModel } from '../lib/onnx/builder';
import { Tensor } from '../lib/tensor';
import { sqnr } from '../lib/quant/qparams';
import { quantizeInt4 } from '../lib/compress/int4';
import { dequantizeInt4Blocks, quantizeInt4Blocks } from '../lib/compress/int4-blocks';
import { REAL_MODELS, rng, runOrt, relativeError } from './helpers/ort-models';

// Ours vs onnxruntime on the same MatMulNBits file: both dequantize identical codes and scales
// and sum in float32 in different orders (and blockings). 1e-5 of the output's magnitude is
// ~100x the float32 epsilon over K <= 1024 terms; a misread nibble or block shows up as >1e-2.
const SAME_CODES_REL_TOL = 1e-5;
// With int8 activations each runtime quantizes A per block its own way (ours: amax/127 per
// block of K; onnxruntime: its own blocking), so only the int4 + int8 error budget is shared.
const INT8_ACTS_REL_TOL = 3e-2;

const randn = (r: () => number, n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => {
  const u = Math.max(r(), 1e-12), v = r();
  return scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
});

/** x[.., K] -> MatMul W1 [K, H] -> Relu -> Gemm(transB) W2 [N, H] + bias. */
function mlp(k: number, h: number, n: number, seed: number, batch: number | string = 'batch'): Uint8Array {
  const r = rng(seed);
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [batch, k] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [batch, n] }],
    initializers: {
      w1: new Tensor('float32', randn(r, k * h, 1 / Math.sqrt(k)), [k, h]),
      w2: new Tensor('float32', randn(r, n * h, 1 / Math.sqrt(h)), [n, h]),
      b2: new Tensor('float32', randn(r, n, 0.1), [n]),
    },
    nodes: [
      { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'], name: 'fc1' },
      { opType: 'Relu', inputs: ['h'], outputs: ['hr'], name: 'relu' },
      { opType: 'Gemm', inputs: ['hr', 'w2', 'b2'], outputs: ['y'], name: 'fc2', attributes: { transB: 1 } },
    ],
    opset: 17,
  });
}

const feedsFor = (k: number, rows: number, seed: number) => ({ x: new Tensor('float32', randn(rng(seed), rows * k), [rows, k]) });

describe('int4 block quantizer', () => {
  test('RTN codes and scales equal the native quantizer byte for byte (row padding stripped)', () => {
    const r = rng(3);
    for (const [n, k, bs] of [[5, 128, 32], [7, 200, 64], [3, 77, 32], [4, 128, 128]] as const) {
      const w = randn(r, n * k);
      for (const symmetric of [true, false]) {
        const ours = quantizeInt4Blocks(w, n, k, { blockSize: bs, symmetric, method: 'rtn' });
        const theirs = native.int4QuantizeBlockwise(w, n, k, bs, symmetric);
        const row = Math.ceil(k / 2), padded = ours.nBlocks * bs / 2;
        const stripped = new Uint8Array(n * row);
        for (let i = 0; i < n; i++) stripped.set(ours.packed.subarray(i * padded, i * padded + row), i * row);
        expect(stripped).toEqual(theirs.packed);
        expect(ours.scales).toEqual(theirs.scales);
        if (!symmetric) expect(ours.zeroPoints).toEqual(theirs.zeroPoints);
        // Row padding (past K, up to nBlocks * blockSize) holds the last block's zero point.
        for (let i = 0; i < n; i++) {
          const last = ours.nBlocks - 1;
          const z = ours.zeroPoints ? (ours.zeroPoints[i * Math.ceil(ours.nBlocks / 2) + (last >> 1)] >> ((last & 1) * 4)) & 15 : 8;
          for (let c = k; c < ours.nBlocks * bs; c++) expect((ours.packed[i * padded + (c >> 1)] >> ((c & 1) * 4)) & 15).toBe(z);
        }
        const deq = new Float32Array(n * k);
        native.int4DequantizeBlockwise(theirs.packed, theirs.scales, symmetric ? null : theirs.zeroPoints, n, k, bs, deq);
        expect(dequantizeInt4Blocks(ours)).toEqual(deq);
      }
    }
  });

  test('every weight lands within half a step (symmetric) or one step (zero points) of its value', () => {
    const r = rng(4);
    const n = 6, k = 150, bs = 32;
    const w = randn(r, n * k);
    for (const symmetric of [true, false]) {
      const q = quantizeInt4Blocks(w, n, k, { blockSize: bs, symmetric, method: 'rtn' });
      const d = dequantizeInt4Blocks(q);
      for (let i = 0; i < n * k; i++) {
        const s = q.scales[Math.floor(i / k) * q.nBlocks + Math.floor((i % k) / bs)];
        expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual((symmetric ? 0.5 : 1) * s * (1 + 1e-6));
      }
    }
  });

  test("'mse' lowers the reconstruction error of real weights below RTN", async () => {
    const model = await load(readFileSync(REAL_MODELS[0].path));
    const weights = [...model.ir.graph.initializers.values()].filter((t) => t.dtype === 'float32' && t.dims.length === 2 && t.size >= 4096);
    expect(weights.length).toBeGreaterThan(0);
    const lines: string[] = [];
    for (const t of weights) {
      const [n, k] = t.dims;
      for (const symmetric of [true, false]) {
        const rtn = quantizeInt4Blocks(t.data as Float32Array, n, k, { blockSize: 32, symmetric, method: 'rtn' });
        const mse = quantizeInt4Blocks(t.data as Float32Array, n, k, { blockSize: 32, symmetric, method: 'mse' });
        // Measured from the dequantized weights, not trusted from the quantizer's own tally.
        const err = (q: typeof rtn) => { const d = dequantizeInt4Blocks(q); let e = 0; for (let i = 0; i < d.length; i++) e += (d[i] - (t.data as Float32Array)[i]) ** 2; return e; };
        const eRtn = err(rtn), eMse = err(mse);
        expect(eMse).toBeCloseTo(mse.squaredError, 6);
        lines.push(`[${n}x${k}] ${symmetric ? 'symmetric' : 'zero points'}: RTN ${eRtn.toExponential(3)} -> MSE ${eMse.toExponential(3)} (${((1 - eMse / eRtn) * 100).toFixed(1)}% lower)`);
        expect(eMse).toBeLessThan(0.97 * eRtn);
      }
    }
    console.log(`hello_deepa weights, block 32, squared error:\n${lines.join('\n')}`);
    model.dispose();
  });
});

describe('quantizeInt4 -> MatMulNBits', () => {
  test.each([
    [32, true], [64, false], [128, true],
  ] as const)('block %i symmetric=%s: ours = onnxruntime on the exported file, both = the dequantized float model', async (blockSize, symmetric) => {
    // K = 200 is not a multiple of any block size: the last block of each row is partial.
    const bytes = mlp(200, 96, 40, blockSize);
    const fp = await load(bytes);
    const q = await quantizeInt4(fp, { blockSize, symmetric });
    expect(q.report.layers.map((l) => [l.name, l.quantized])).toEqual([['fc1', true], ['fc2', true]]);
    const file = q.toOnnx();
    expect(q.ir.graph.nodes.filter((n) => n.opType === 'MatMulNBits').length).toBe(2);
    const reloaded = await load(file);
    for (const rows of [1, 3]) {
      const feeds = feedsFor(200, rows, 10 + rows);
      const ours = await q.run(feeds);
      const theirs = await runOrt(file, feeds);
      expect(relativeError(ours.y, theirs.y)).toBeLessThan(SAME_CODES_REL_TOL);
      // The file loads back into nquant (as would one from onnxruntime's own 4-bit quantizer).
      expect((await reloaded.run(feeds)).y.data).toEqual(ours.y.data);
      const f = (await fp.run(feeds)).y;
      const db = sqnr(f.data as Float32Array, ours.y.data as Float32Array);
      expect(db).toBeGreaterThan(15);
      expect(db).toBeLessThan(60);  // really quantized: int4 weights cost accuracy
    }
    for (const m of [fp, q, reloaded]) m.dispose();
  });

  test('a weight quantized once is the weight both runtimes use: equals a float model of the dequantized weights', async () => {
    const bytes = mlp(256, 64, 32, 7, 2);
    const fp = await load(bytes);
    const q = await quantizeInt4(fp, { blockSize: 64, symmetric: false, method: 'mse' });
    const g = fp.ir.graph;
    const w1 = g.initializers.get('w1')!, w2 = g.initializers.get('w2')!;
    const deq = (name: string, n: number, k: number): Float32Array => {
      const init = q.ir.graph.initializers;
      const nb = Math.ceil(k / 64);
      return dequantizeInt4Blocks({ n, k, blockSize: 64, nBlocks: nb, packed: init.get(`${name}_int4`)!.data as Uint8Array, scales: init.get(`${name}_int4_scales`)!.data as Float32Array, zeroPoints: init.get(`${name}_int4_zero_points`)!.data as Uint8Array, squaredError: 0 });
    };
    const d1 = deq('w1', 64, 256);  // [N=64, K=256]: transpose back to MatMul's [K, N]
    const w1f = new Float32Array(256 * 64);
    for (let nn = 0; nn < 64; nn++) for (let kk = 0; kk < 256; kk++) w1f[kk * 64 + nn] = d1[nn * 256 + kk];
    const reference = await load(buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 256] }], outputs: [{ name: 'y', dtype: 'float32', dims: [2, 32] }],
      initializers: { w1: new Tensor('float32', w1f, w1.dims), w2: new Tensor('float32', deq('w2', 32, 64), w2.dims), b2: g.initializers.get('b2')! },
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'w1'], outputs: ['h'] }, { opType: 'Relu', inputs: ['h'], outputs: ['hr'] },
        { opType: 'Gemm', inputs: ['hr', 'w2', 'b2'], outputs: ['y'], attributes: { transB: 1 } },
      ],
    }));
    const feeds = feedsFor(256, 2, 5);
    expect(relativeError((await q.run(feeds)).y, (await reference.run(feeds)).y)).toBeLessThan(SAME_CODES_REL_TOL);
    for (const m of [fp, q, reference]) m.dispose();
  });

  test('int8 activations (accuracy_level 4): ours and onnxruntime both stay near the float result', async () => {
    const bytes = mlp(512, 128, 64, 21);
    const fp = await load(bytes);
    const q = await quantizeInt4(fp, { blockSize: 32, int8Activations: true });
    expect(q.ir.graph.nodes.find((n) => n.opType === 'MatMulNBits')!.attributes.get('accuracy_level')).toEqual({ type: 'int', value: 4 });
    const exact = await quantizeInt4(fp, { blockSize: 32 });
    const feeds = feedsFor(512, 2, 8);
    const ours = (await q.run(feeds)).y, theirs = (await runOrt(q.toOnnx(), feeds)).y, floatActs = (await exact.run(feeds)).y;
    expect(relativeError(ours, floatActs)).toBeLessThan(INT8_ACTS_REL_TOL);
    expect(relativeError(theirs, floatActs)).toBeLessThan(INT8_ACTS_REL_TOL);
    expect(relativeError(ours, floatActs)).toBeGreaterThan(0);  // the int8 path really ran
    for (const m of [fp, q, exact]) m.dispose();
  });

  test('weight-heavy MLP: file about 7x smaller with block 128 (scales counted), 6.4x with block 32', async () => {
    const bytes = mlp(512, 512, 256, 1, 1);
    const fp = await load(bytes);
    const ratios: string[] = [];
    for (const [blockSize, floor] of [[32, 6.2], [128, 7.3]] as const) {
      const q = await quantizeInt4(fp, { blockSize });
      const onDisk = bytes.byteLength / q.toOnnx().byteLength;
      ratios.push(`block ${blockSize}: ${bytes.byteLength} -> ${q.toOnnx().byteLength} bytes (${onDisk.toFixed(2)}x), weights ${q.report.weightBytes.ratio.toFixed(2)}x`);
      expect(onDisk).toBeGreaterThan(floor);
      expect(q.report.sizeBytes.ratio).toBeCloseTo(onDisk, 6);
      q.dispose();
    }
    console.log(`INT4 size, 512x512 + 256x512 MLP:\n${ratios.join('\n')}`);
    fp.dispose();
  });

  test('hello_deepa (real model): our run of the INT4 model equals onnxruntime on its file', async () => {
    const spec = REAL_MODELS[0];
    const fp = await load(readFileSync(spec.path));
    const q = await quantizeInt4(fp, { blockSize: 32, method: 'mse' });
    expect(q.report.layers.some((l) => l.quantized)).toBe(true);
    // Its output is one wake-word probability per run: accuracy is judged over several inputs.
    const file = q.toOnnx();
    const fps: number[] = [], qs: number[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const feeds = spec.feeds(rng(seed));
      const ours = await q.run(feeds), theirs = await runOrt(file, feeds), f = await fp.run(feeds);
      for (const name of Object.keys(theirs)) {
        expect(relativeError(ours[name], theirs[name])).toBeLessThan(SAME_CODES_REL_TOL * 10);
        fps.push(...(f[name].data as Float32Array));
        qs.push(...(ours[name].data as Float32Array));
      }
    }
    const maxDiff = Math.max(...fps.map((v, i) => Math.abs(v - qs[i])));
    const lines = [`hello_deepa INT4 (block 32, mse): ${q.report.layers.filter((l) => l.quantized).length}/${q.report.layers.length} layers, ${q.report.sizeBytes.before} -> ${q.report.sizeBytes.after} bytes`,
      `  weight SQNR ${q.report.layers.map((l) => `${l.name} ${l.weightSqnr?.toFixed(1)} dB`).join(', ')}`,
      `  output probability over 8 random inputs: SQNR vs FP32 ${sqnr(Float32Array.from(fps), Float32Array.from(qs)).toFixed(1)} dB, max |diff| ${maxDiff.toFixed(3)}`];
    console.log(lines.join('\n'));
    fp.dispose();
    q.dispose();
  });

  test('nodesToExclude and opTypes keep nodes in float, with the reason', async () => {
    const fp = await load(mlp(64, 32, 16, 2));
    const q = await quantizeInt4(fp, { nodesToExclude: [/^fc2$/] });
    expect(q.report.layers.find((l) => l.name === 'fc2')).toMatchObject({ quantized: false, reason: 'excluded by opts.nodesToExclude' });
    expect(q.ir.graph.nodes.map((n) => n.opType)).toEqual(['MatMulNBits', 'Relu', 'Gemm']);
    const q2 = await quantizeInt4(fp, { opTypes: ['Gemm'] });
    expect(q2.report.layers.find((l) => l.name === 'fc1')?.reason).toMatch(/not in opts.opTypes/);
    for (const m of [fp, q, q2]) m.dispose();
  });

  test('bad options are errors naming the option', async () => {
    const fp = await load(mlp(64, 32, 16, 2));
    await expect(quantizeInt4(fp, { blockSize: 48 as never })).rejects.toThrow('opts.blockSize: expected 32, 64 or 128, received 48');
    await expect(quantizeInt4(fp, { method: 'gptq' as never })).rejects.toThrow("opts.method: expected 'rtn' or 'mse', received \"gptq\"");
    await expect(quantizeInt4(fp, { symmetric: 'yes' as never })).rejects.toThrow('opts.symmetric: expected a boolean');
    await expect(quantizeInt4(fp, { mseGrid: [1.2] })).rejects.toThrow('opts.mseGrid: expected clip ratios in (0, 1], received 1.2');
    await expect(quantizeInt4(fp, { nodesToExclude: 'fc1' as never })).rejects.toThrow('opts.nodesToExclude');
    await expect(quantizeInt4(fp, { blocksize: 32 } as never)).rejects.toThrow('opts: expected only the options');
    await expect(quantizeInt4({} as never)).rejects.toThrow('model: expected a Model');
    const q = await quantizeInt4(fp);
    await expect(quantizeInt4(q)).rejects.toThrow('already has MatMulNBits');
    fp.dispose();
    q.dispose();
  });
});
