// quantizeStatic on the real npm models: output agreement with the float model (SQNR, and
// top-1 agreement for the classifier), onnxruntime-node on our QDQ export agreeing with us,
// and the report naming what stayed in float.
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { quantizeStatic } from '../lib/quant/static';
import { Tensor } from '../lib/tensor';
import { REAL_MODELS, rng, runOrt } from './helpers/ort-models';
import { sqnr } from '../lib/quant/qparams';


function argmaxRows(t: Tensor): number[] {
  const d = t.data as Float32Array;
  const cols = t.dims[t.dims.length - 1];
  const out: number[] = [];
  for (let r = 0; r < d.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (d[r * cols + c] > d[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

// Floors for random-input calibration; real data does better. Printed so regressions show.
// silero's LSTM state goes through int8 Mul/Add/Sigmoid/Tanh chains: ~10 dB on the state output.
const MIN_OUTPUT_SQNR: { [model: string]: number } = { hello_deepa: 15, silero_vad: 8, ppocr_cls: 12 };

describe('quantizeStatic on real models', () => {
  test.each(REAL_MODELS.map((m) => [m.name, m] as const))('%s', async (name, spec) => {
    const model = await load(readFileSync(spec.path));
    const r = rng(21);
    const calibration = Array.from({ length: 6 }, () => spec.feeds(r));
    const q = await quantizeStatic(model, calibration, { method: 'minmax', reportBatches: 2 });
    const quantized = q.report.nodes.filter((n) => n.quantized).length;
    if (name === 'silero_vad') {
      // Its network lives in an If's branches: the one the 16 kHz feeds take is quantized.
      expect(q.report.float.find((f) => f.opType === 'If')?.reason).toMatch(/then branch .* is quantized/);
      expect(q.report.nodes.filter((n) => n.quantized && n.name.startsWith(`${q.report.float.find((f) => f.opType === 'If')!.name}/then/`)).length).toBe(quantized);
      expect(q.report.nodes.some((n) => n.output?.sqnr !== undefined && Number.isFinite(n.output.sqnr))).toBe(true);
    }
    expect(quantized).toBeGreaterThan(0);
    const feeds = spec.feeds(rng(77));
    const fp = await model.run(feeds);
    const ours = await q.run(feeds);
    const theirs = await runOrt(q.toOnnx(), feeds);
    const lines = [`${name}: ${quantized} of ${q.report.nodes.length} nodes quantized, ${q.report.sizeBytes.before} -> ${q.report.sizeBytes.after} bytes`];
    for (const out of model.outputs) {
      if (fp[out.name].dtype !== 'float32') continue;
      const f = fp[out.name].data as Float32Array, o = ours[out.name].data as Float32Array, t = theirs[out.name].data as Float32Array;
      const vsFloat = sqnr(f, o), vsOrt = sqnr(t, o);
      lines.push(`  ${out.name}: SQNR vs float ${vsFloat.toFixed(1)} dB, vs ORT on the QDQ file ${vsOrt.toFixed(1)} dB`);
      expect(vsFloat).toBeGreaterThan(MIN_OUTPUT_SQNR[name]);
      expect(vsOrt).toBeGreaterThan(25);
    }
    console.log(lines.join('\n'));
    for (const f of q.report.float) expect(f.reason.length).toBeGreaterThan(0);
  });

  test('the classifier keeps its top-1 decision on most inputs', async () => {
    const spec = REAL_MODELS.find((m) => m.name === 'ppocr_cls')!;
    const model = await load(readFileSync(spec.path));
    const r = rng(5);
    const q = await quantizeStatic(model, Array.from({ length: 6 }, () => spec.feeds(r)), { method: 'percentile', reportBatches: 0 });
    let agree = 0, total = 0;
    for (let i = 0; i < 16; i++) {
      const feeds = spec.feeds(r);
      const name = model.outputs[0].name;
      const a = argmaxRows((await model.run(feeds))[name]);
      const b = argmaxRows((await q.run(feeds))[name]);
      a.forEach((v, j) => { total++; if (v === b[j]) agree++; });
    }
    console.log(`ppocr_cls top-1 agreement INT8 vs FP32: ${agree}/${total}`);
    expect(agree / total).toBeGreaterThanOrEqual(0.8);
  });
});
