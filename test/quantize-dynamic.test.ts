// quantizeDynamic on the real npm models: int8 weights ahead of time, activations quantized
// per run. Checked against the float model and against onnxruntime-node on the exported file.
import { readFileSync } from 'fs';
import { load } from '../lib/runtime/load';
import { quantizeDynamic } from '../lib/quant/dynamic';
import { REAL_MODELS, rng, runOrt } from './helpers/ort-models';
import { sqnr } from '../lib/quant/qparams';


describe('quantizeDynamic on real models', () => {
  test.each(REAL_MODELS.map((m) => [m.name, m] as const))('%s: close to float, same as onnxruntime on the export', async (_name, spec) => {
    const bytes = readFileSync(spec.path);
    const model = await load(bytes);
    const q = await quantizeDynamic(model, { perChannel: true });
    const quantized = q.report.nodes.filter((n) => n.quantized);
    expect(quantized.length).toBeGreaterThan(0);
    expect(q.report.sizeBytes.after).toBeLessThan(q.report.sizeBytes.before);
    const feeds = spec.feeds(rng(11));
    const fp = await model.run(feeds);
    const ours = await q.run(feeds);
    const theirs = await runOrt(q.toOnnx(), feeds);
    const lines = [`${_name} dynamic: ${quantized.length} nodes quantized, ${q.report.sizeBytes.before} -> ${q.report.sizeBytes.after} bytes (${q.report.sizeBytes.ratio.toFixed(2)}x)`];
    for (const out of model.outputs) {
      if (fp[out.name].dtype !== 'float32') continue;
      const f = fp[out.name].data as Float32Array;
      const o = ours[out.name].data as Float32Array;
      const t = theirs[out.name].data as Float32Array;
      lines.push(`  ${out.name}: SQNR vs float ${sqnr(f, o).toFixed(1)} dB, vs ORT on the export ${sqnr(t, o).toFixed(1)} dB`);
      expect(sqnr(f, o)).toBeGreaterThan(15);
      expect(sqnr(t, o)).toBeGreaterThan(30);
    }
    console.log(lines.join('\n'));
  });

  test('MatMul/Gemm run as one fused DynamicQuantizeMatMul step', async () => {
    const model = await load(readFileSync(REAL_MODELS[0].path));
    const q = await quantizeDynamic(model);
    const ops = q.executionGraph.nodes.map((n) => `${n.domain}:${n.opType}`);
    expect(ops).toContain('com.microsoft:DynamicQuantizeMatMul');
    expect(ops).not.toContain(':MatMulInteger');
    expect(q.report.sizeBytes.ratio).toBeGreaterThan(3);
  });

  test('options are checked and honoured', async () => {
    const model = await load(readFileSync(REAL_MODELS[0].path));
    await expect(quantizeDynamic(model, { weightType: 'int4' as never })).rejects.toThrow(/opts.weightType: expected 'int8' or 'uint8'/);
    await expect(quantizeDynamic(model, { opTypes: ['LSTM'] })).rejects.toThrow(/opts.opTypes/);
    await expect(quantizeDynamic({} as never)).rejects.toThrow(/model: expected a Model/);
    const first = model.executionGraph.nodes.find((n) => n.opType === 'Gemm' || n.opType === 'FusedGemm' || n.opType === 'MatMul')!;
    const q = await quantizeDynamic(model, { nodesToExclude: [/.*/] });
    expect(q.report.nodes.every((n) => !n.quantized)).toBe(true);
    expect(first).toBeDefined();
    const u8 = await quantizeDynamic(model, { weightType: 'uint8', perChannel: false });
    const feeds = REAL_MODELS[0].feeds(rng(3));
    const fp = (await model.run(feeds));
    const out = await u8.run(feeds);
    const name = model.outputs[0].name;
    expect(sqnr(fp[name].data as Float32Array, out[name].data as Float32Array)).toBeGreaterThan(15);
  });
});
