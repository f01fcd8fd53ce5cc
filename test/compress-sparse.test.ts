// Sparse INT8: block4 pruning zeroes whole runs of four along each dot product, and a model
// quantized from such weights runs its GEMMs on the sparse kernel where the ISA has one,
// with exactly the dense path's outputs.
import { getSparseGemm, setSparseGemm, cpu } from '../lib/cpu';
import { native } from '../lib/native';
import { block4Mask, prune, stripPruning } from '../lib/compress/prune';
import { compressibleWeights } from '../lib/compress/compressible-weights';
import { loadMnistDigits } from '../lib/train/datasets';
import { quantizeStatic } from '../lib/quant/static';
import { load } from '../lib/runtime/load';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { firstRows, smallDigitCnn } from './helpers/digits';
import { runOrt } from './helpers/ort-models';

const digits = firstRows(loadMnistDigits({ split: 'train' }), 96);

afterEach(() => setSparseGemm('auto'));

test('block4 pruning zeroes exactly round(s * runs) whole runs of four, the weakest by |w| sum', () => {
  const net = smallDigitCnn();
  const sparsity = 0.7;
  const pruned = stripPruning(prune(net, { sparsity, structure: 'block4' }));
  const chosen = compressibleWeights(net.ir.graph, { what: 'test', minWeights: 1 });
  expect(chosen.length).toBe(3);
  for (const w of chosen) {
    const r = w.reduction;
    const before = w.tensor.data as Float32Array;
    const after = pruned.ir.graph.initializers.get(w.weight)!.data as Float32Array;
    const perRow = Math.ceil(r.length / 4);
    let zeroRuns = 0, weakestKept = Infinity, strongestPruned = 0;
    for (let row = 0; row < r.rows; row++) {
      for (let b = 0; b < perRow; b++) {
        const at: number[] = [];
        for (let j = b * 4; j < Math.min(r.length, b * 4 + 4); j++) at.push(row * r.rowStride + j * r.elementStride);
        const zeros = at.filter((i) => after[i] === 0).length;
        const sum = at.reduce((s, i) => s + Math.abs(before[i]), 0);
        // A run is pruned whole or kept unchanged.
        if (zeros === at.length) { zeroRuns++; strongestPruned = Math.max(strongestPruned, sum); }
        else { expect(at.every((i) => after[i] === before[i])).toBe(true); weakestKept = Math.min(weakestKept, sum); }
      }
    }
    expect(zeroRuns).toBe(Math.round(sparsity * r.rows * perRow));
    expect(strongestPruned).toBeLessThanOrEqual(weakestKept);
  }
  expect(() => prune(net, { sparsity: 0.5, structure: 'block8' as never })).toThrow(/structure: expected 'unstructured', '2:4' or 'block4'/);
});

test('block4Mask keeps a short last run whole or drops it whole', () => {
  const w = Float32Array.from([5, 5, 5, 5, 0.1, 0.1, 9, 9, 9, 9, 0.2, 0.3]);  // 2 rows of 6
  const mask = new Float32Array(w.length);
  block4Mask(w, 0.5, { rows: 2, length: 6, rowStride: 6, elementStride: 1 }, mask);
  expect(Array.from(mask)).toEqual([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0]);
});

async function quantizedPruned(sparsity: number): Promise<Uint8Array> {
  const net = stripPruning(prune(smallDigitCnn(), { sparsity, structure: 'block4' }));
  const calibration = [0, 1].map((i) => ({ input: new Tensor('float32', (digits.x.data as Float32Array).slice(i * 32 * 784, (i + 1) * 32 * 784), [32, 1, 28, 28]) }));
  const q = await quantizeStatic(net, calibration, { method: 'minmax', reportBatches: 0 });
  return q.toOnnx();
}

async function runWith(mode: 'auto' | 'off' | 'on', bytes: Uint8Array, input: Tensor): Promise<{ out: Float32Array; sparseCalls: number }> {
  setSparseGemm(mode);  // weights are packed when the plan is built, at the first run
  const m: Model = await load(bytes);
  const before = native.sparseGemmCalls();
  const outs = await m.run({ input });
  const sparseCalls = native.sparseGemmCalls() - before;
  m.dispose();
  return { out: Object.values(outs)[0].data as Float32Array, sparseCalls };
}

test('a block4-pruned INT8 model runs its GEMMs sparse where the ISA has the kernel, bit-identical to dense', async () => {
  const bytes = await quantizedPruned(0.85);
  const input = new Tensor('float32', (digits.x.data as Float32Array).slice(0, 32 * 784), [32, 1, 28, 28]);
  const dense = await runWith('off', bytes, input);
  const auto = await runWith('auto', bytes, input);
  const forced = await runWith('on', bytes, input);
  expect(getSparseGemm()).toBe('on');
  expect(dense.sparseCalls).toBe(0);
  expect(Array.from(auto.out)).toEqual(Array.from(dense.out));
  expect(Array.from(forced.out)).toEqual(Array.from(dense.out));
  const hasKernel = cpu().kernels.spqgemm !== undefined;
  if (hasKernel) {
    expect(auto.sparseCalls).toBeGreaterThan(0);
    expect(forced.sparseCalls).toBeGreaterThanOrEqual(auto.sparseCalls);
  } else {
    expect(auto.sparseCalls).toBe(0);
  }
  // onnxruntime runs the same file densely: the sparse path changes nothing it can see.
  const theirs = Object.values(await runOrt(bytes, { input }))[0].data as Float32Array;
  let worst = 0;
  for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(theirs[i] - auto.out[i]));
  expect(worst).toBeLessThan(0.05 * Math.max(...Array.from(theirs, Math.abs)));
}, 60000);

test('weights without enough empty runs stay dense under auto', async () => {
  const bytes = await quantizedPruned(0.1);
  const input = new Tensor('float32', (digits.x.data as Float32Array).slice(0, 32 * 784), [32, 1, 28, 28]);
  expect((await runWith('auto', bytes, input)).sparseCalls).toBe(0);
  expect(() => setSparseGemm('sometimes' as never)).toThrow(/mode: expected 'auto', 'off' or 'on'/);
}, 60000);

test('sparsity-preserving QAT keeps pruned weights zero through fine-tuning and conversion', async () => {
  const { fit } = await import('../lib/train/fit');
  const { adam } = await import('../lib/train/optimizers');
  const { prepareQat, convertQat } = await import('../lib/train/qat');
  const { sequential } = await import('../lib/train/sequential');
  const { layers } = await import('../lib/train/layers');
  const train = firstRows(loadMnistDigits({ split: 'train' }), 256);
  const net = sequential([
    layers.conv2d({ filters: 8, kernel: 3, inputShape: [1, 28, 28], useBias: false }),
    layers.batchNorm(),
    layers.relu(),
    layers.maxPool2d(),
    layers.flatten(),
    layers.dense({ units: 32, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ], { seed: 3 });
  const pruned = stripPruning(prune(net, { sparsity: 0.8, structure: 'block4' }));
  const weights = compressibleWeights(pruned.ir.graph, { what: 'test', minWeights: 1 }).map((w) => w.weight);
  const zerosOf = (m: Model) => weights.map((w) => Array.from(m.ir.graph.initializers.get(w)!.data as Float32Array, (v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0));
  const prunedZeros = zerosOf(pruned);
  const tune = async (preserveSparsity: boolean) => {
    const qat = prepareQat(pruned, { preserveSparsity });
    await fit(qat, train, { epochs: 1, batchSize: 32, optimizer: adam({ lr: 2e-3 }), seed: 5 });
    return qat;
  };
  const kept = await tune(true);
  const after = weights.map((w) => kept.ir.graph.initializers.get(w)!.data as Float32Array);
  prunedZeros.forEach((zeros, l) => { for (const i of zeros) expect(after[l][i]).toBe(0); });
  // Without the option the same fine-tuning moves pruned weights (so the check above can fail).
  const moved = await tune(false);
  const movedCount = weights.reduce((s, w, l) => s + prunedZeros[l].filter((i) => (moved.ir.graph.initializers.get(w)!.data as Float32Array)[i] !== 0).length, 0);
  expect(movedCount).toBeGreaterThan(0);
  // The converted INT8 weights hold at least as many zeros as were pruned.
  const int8 = await convertQat(kept);
  let int8Zeros = 0;
  for (const t of int8.ir.graph.initializers.values()) if (t.dtype === 'int8' && t.size > 50) int8Zeros += (t.data as Int8Array).filter((v) => v === 0).length;
  expect(int8Zeros).toBeGreaterThanOrEqual(prunedZeros.reduce((s, z) => s + z.length, 0));
}, 120000);
