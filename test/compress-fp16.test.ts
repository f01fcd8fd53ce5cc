// toFp16: the float16 conversion against the native one, the three real npm models converted,
// loaded and run by onnxruntime-node and by us, both against the FP32 model, and the size.
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { native } from '../lib/native';
import { float16ArrayToFloat32, float16BitsToNumber, float32ToFloat16Bits } from '../lib/numeric';
import { Tensor } from '../lib/tensor';
import { toFp16 } from '../lib/compress/fp16';
import { REAL_MODELS, rng, runOrt, relativeError } from './helpers/ort-models';

// Ours vs onnxruntime on the same FP16-weight file: both widen the same float16 weights to
// float32 and compute in float32, so the FP32 runtime bound of real-models.test.ts applies.
const SAME_WEIGHTS_REL_TOL = 1e-4;
// FP16 model vs FP32 model: float16 keeps 11 significant bits (relative rounding 2^-11 ~ 4.9e-4
// per weight); through a few layers of sums the outputs move by up to ~1e-2 of their magnitude.
// silero_vad feeds an STFT magnitude and an LSTM state through its layers, which amplify the
// weight rounding: its outputs move by ~3e-2 (onnxruntime's run of the same file moves alike).
const FP16_VS_FP32_REL_TOL: { [model: string]: number } = { hello_deepa: 1e-2, silero_vad: 6e-2, ppocr_cls: 1e-2 };
// With activations in float16 too, every layer's output also rounds to 11 bits.
const FP16_ACTS_VS_FP32_REL_TOL = 3e-2;

// Whole-file ratios: below 2 by the graph and names, and by the BatchNorm-sized vectors
// (fewer than minElements values) a MobileNet has many of.
const MIN_FILE_RATIO: { [model: string]: number } = { hello_deepa: 1.9, silero_vad: 1.9, ppocr_cls: 1.75 };

describe('float16 conversion', () => {
  test('float32ToFloat16Bits equals the native conversion bit for bit, and widening is exact', () => {
    const r = rng(1);
    const specials = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.5, 3 * 2 ** -26, 5.960464477539063e-8, Infinity, -Infinity, NaN, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    const x = Float32Array.from([...specials, ...Array.from({ length: 20000 }, () => (r() * 2 - 1) * 2 ** (r() * 40 - 28))]);
    const theirs = new Uint16Array(x.length);
    native.f32ToF16(x, theirs);
    const ours = Uint16Array.from(x, (v) => float32ToFloat16Bits(v));
    expect(ours).toEqual(theirs);
    const wide = new Float32Array(x.length);
    native.f16ToF32(theirs, wide);
    expect(float16ArrayToFloat32(ours)).toEqual(wide);
    expect(Float32Array.from(ours, float16BitsToNumber)).toEqual(wide);
  });
});

describe.each(REAL_MODELS)('toFp16 on $name', (spec) => {
  test('half the size; onnxruntime runs the file; ours = ORT, and both near FP32', async () => {
    const bytes = new Uint8Array(readFileSync(spec.path));
    const fp = await load(bytes);
    const h = await toFp16(fp);
    const file = h.toOnnx();
    expect(h.report.converted.length).toBeGreaterThan(0);
    expect(h.ir.graph.initializers.get(`${h.report.converted[0]}_fp16`)?.dtype).toBe('float16');
    const lines = [`${spec.name}: FP32 ${h.report.sizeBytes.before} bytes (as nquant writes it; the npm file is ${bytes.byteLength}) -> FP16 ${file.byteLength} bytes (${h.report.sizeBytes.ratio.toFixed(2)}x); weights ${h.report.weightBytes.ratio.toFixed(2)}x, ${h.report.converted.length} in float16, ${h.report.kept.length} kept`];
    // Weights halve exactly; names, graph and the small tensors kept in float32 do not.
    expect(h.report.weightBytes.ratio).toBe(2);
    expect(h.report.sizeBytes.ratio).toBeGreaterThan(MIN_FILE_RATIO[spec.name]);
    expect(h.report.sizeBytes.before).toBe(fp.toOnnx().byteLength);
    expect(h.report.sizeBytes.after).toBe(file.byteLength);
    // Our runtime widens the weights once at load: no Cast of a float16 weight is left to run.
    const exec = h.executionGraph;
    expect(exec.nodes.filter((n) => n.opType === 'Cast' && exec.initializers.get(n.inputs[0])?.dtype === 'float16')).toEqual([]);
    expect(h.ir.graph.nodes.filter((n) => n.opType === 'Cast').length).toBeGreaterThanOrEqual(h.report.converted.length);
    for (const seed of [1, 2]) {
      const feeds = spec.feeds(rng(seed));
      const f = await fp.run(feeds), ours = await h.run(feeds), theirs = await runOrt(file, feeds);
      for (const name of Object.keys(theirs)) {
        if (theirs[name].dtype !== 'float32') continue;
        const vsOrt = relativeError(ours[name], theirs[name]), vsFp32 = relativeError(ours[name], f[name]), ortVsFp32 = relativeError(theirs[name], f[name]);
        expect(vsOrt).toBeLessThan(SAME_WEIGHTS_REL_TOL);
        expect(vsFp32).toBeLessThan(FP16_VS_FP32_REL_TOL[spec.name]);
        expect(ortVsFp32).toBeLessThan(FP16_VS_FP32_REL_TOL[spec.name]);
        if (seed === 1) lines.push(`  ${name}: ours vs ORT ${vsOrt.toExponential(1)}, ours vs FP32 ${vsFp32.toExponential(1)}, ORT vs FP32 ${ortVsFp32.toExponential(1)}`);
      }
    }
    console.log(lines.join('\n'));
    fp.dispose();
    h.dispose();
  });
});

describe('toFp16 options', () => {
  test.each(['hello_deepa', 'ppocr_cls'])('activations on %s: float16 inputs and outputs, float16 between nodes; ORT and ours agree', async (modelName) => {
    const spec = REAL_MODELS.find((m) => m.name === modelName)!;
    const fp = await load(readFileSync(spec.path));
    const h = await toFp16(fp, { activations: true });
    expect(h.inputs.every((i) => i.dtype === 'float16')).toBe(true);
    expect(h.outputs.every((o) => o.dtype === 'float16')).toBe(true);
    expect(h.report.activations).toBeGreaterThan(3);
    const f32Feeds = spec.feeds(rng(3));
    const feeds: { [k: string]: Tensor } = {};
    for (const [k, t] of Object.entries(f32Feeds)) {
      feeds[k] = new Tensor('float16', Uint16Array.from(t.data as Float32Array, (v) => float32ToFloat16Bits(v)), [...t.dims]);
    }
    const f = await fp.run(f32Feeds), ours = await h.run(feeds), theirs = await runOrt(h.toOnnx(), feeds);
    for (const name of Object.keys(f)) {
      expect(ours[name].dtype).toBe('float16');
      expect(theirs[name].dtype).toBe('float16');
      const o = new Tensor('float32', float16ArrayToFloat32(ours[name].data as Uint16Array), [...ours[name].dims]);
      const t = new Tensor('float32', float16ArrayToFloat32(theirs[name].data as Uint16Array), [...theirs[name].dims]);
      // Outputs are float16: the two runtimes may land one float16 step apart.
      expect(relativeError(o, t)).toBeLessThan(2e-3);
      expect(relativeError(o, f[name])).toBeLessThan(FP16_ACTS_VS_FP32_REL_TOL);
    }
    fp.dispose();
    h.dispose();
  });

  test('minElements, nodesToExclude and out-of-range weights keep float32, with reasons', async () => {
    const spec = REAL_MODELS[0];
    const fp = await load(readFileSync(spec.path));
    const big = await toFp16(fp, { minElements: 1 << 30 });
    expect(big.report.converted).toEqual([]);
    expect(big.report.kept.every((k) => /minElements/.test(k.reason))).toBe(true);
    const firstGemm = fp.ir.graph.nodes.find((n) => n.opType === 'Gemm' || n.opType === 'MatMul')!;
    const ex = await toFp16(fp, { nodesToExclude: [firstGemm.name] });
    expect(ex.report.kept.find((k) => k.name === firstGemm.inputs[1])?.reason).toMatch(/excluded by opts.nodesToExclude/);
    const w = fp.ir.graph.initializers.get(firstGemm.inputs[1])!;
    const saved = (w.data as Float32Array)[0];
    (w.data as Float32Array)[0] = 1e6;
    const range = await toFp16(fp);
    (w.data as Float32Array)[0] = saved;
    expect(range.report.kept.find((k) => k.name === firstGemm.inputs[1])?.reason).toMatch(/beyond float16's range/);
    await expect(toFp16(fp, { minElements: 0 })).rejects.toThrow('opts.minElements: expected an integer in [1, ');
    await expect(toFp16(fp, { activations: 1 as never })).rejects.toThrow('opts.activations: expected a boolean, received 1');
    await expect(toFp16(fp, { weights: true } as never)).rejects.toThrow('opts: expected only the options');
    await expect(toFp16('x' as never)).rejects.toThrow('model: expected a Model');
    for (const m of [fp, big, ex, range]) m.dispose();
  });
});
