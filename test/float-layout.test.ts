// Channels-last float CNNs: the runtime's layout pass moves float Conv chains (with their
// pools and residual adds) to NHWC and fuses Conv -> Add -> Relu into one conv. Checked on a
// small network against onnxruntime-node, and on the ops of the graph runs are planned from
// (Model.plannedGraph).
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { load } from '../lib/runtime/load';
import { Tensor } from '../lib/tensor';
import { rng, runOrt } from './helpers/ort-models';

// float32 sums in a different order than onnxruntime's: a few ulps of the largest |value|.
const REL_TOL = 1e-5;

function weights(r: () => number, dims: number[]): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const fanIn = n / dims[0];
  return new Tensor('float32', Float32Array.from({ length: n }, () => (r() * 2 - 1) * Math.sqrt(3 / fanIn)), dims);
}

function network(batch: number, extraOutputs: string[] = []): { bytes: Uint8Array; x: Tensor } {
  const r = rng(42);
  const init: { [k: string]: Tensor } = {
    w1: weights(r, [16, 8, 3, 3]), b1: weights(r, [16]),
    w2: weights(r, [16, 16, 3, 3]), b2: weights(r, [16]),
    wd: weights(r, [16, 1, 3, 3]), bd: weights(r, [16]),
    w3: weights(r, [24, 16, 1, 1]),
    wg: weights(r, [24, 12, 3, 3]),
    lo: new Tensor('float32', [0], []), hi: new Tensor('float32', [0.5], []),
  };
  const conv = (name: string, x: string, w: string, b: string | undefined, k: number, s: number, group = 1): NodeSpec => ({
    opType: 'Conv', name, inputs: b ? [x, w, b] : [x, w], outputs: [name],
    attributes: { kernel_shape: [k, k], strides: [s, s], pads: k === 1 ? [0, 0, 0, 0] : [1, 1, 1, 1], group },
  });
  const nodes: NodeSpec[] = [
    conv('c1', 'x', 'w1', 'b1', 3, 1),                        // first of the chain: reads NCHW itself
    { opType: 'Relu', inputs: ['c1'], outputs: ['r1'] },
    { opType: 'MaxPool', inputs: ['r1'], outputs: ['mp'], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
    conv('c2', 'mp', 'w2', 'b2', 3, 1),
    { opType: 'Add', inputs: ['c2', 'mp'], outputs: ['a2'] },  // residual: fused into c2
    { opType: 'Relu', inputs: ['a2'], outputs: ['r2'] },
    conv('dw', 'r2', 'wd', 'bd', 3, 1, 16),                    // depthwise
    { opType: 'Clip', inputs: ['dw', 'lo', 'hi'], outputs: ['cl'] },
    conv('c3', 'cl', 'w3', undefined, 1, 1),                   // pointwise, no bias
    conv('g', 'c3', 'wg', undefined, 3, 1, 2),                 // grouped: stays NCHW
    { opType: 'GlobalAveragePool', inputs: ['g'], outputs: ['gap'] },
    { opType: 'Flatten', inputs: ['gap'], outputs: ['y'] },
  ];
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [batch, 8, 13, 11] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [batch, 24] }, { name: 'c3', dtype: 'float32', dims: [batch, 24, 7, 6] },
      ...extraOutputs.map((name) => ({ name, dtype: 'float32' as const, dims: [batch, 16, 7, 6] }))],
    nodes, initializers: init, opset: 13,
  });
  const x = new Tensor('float32', Float32Array.from({ length: batch * 8 * 13 * 11 }, () => r() * 2 - 1), [batch, 8, 13, 11]);
  return { bytes, x };
}

function maxRelDiff(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let diff = 0, mag = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    mag = Math.max(mag, Math.abs(y[i]));
  }
  return diff / (mag || 1);
}

describe('float CNN chains run channels-last', () => {
  test.each([1, 3])('batch %i matches onnxruntime, NHWC inside, NCHW at the outputs', async (batch) => {
    const { bytes, x } = network(batch);
    const model = await load(bytes);
    const got = await model.run({ x });
    const want = await runOrt(bytes, { x });
    for (const name of ['y', 'c3']) {
      expect([...got[name].dims]).toEqual([...want[name].dims]);
      expect(maxRelDiff(got[name], want[name])).toBeLessThan(REL_TOL);
    }
    const ops = model.plannedGraph.nodes;
    // The execution graph (what quantization reads) keeps the float chain NCHW and unfused.
    expect(model.executionGraph.nodes.filter((n) => n.opType === 'Add').length).toBe(1);
    const layout = (n: (typeof ops)[number]) => {
      const a = n.attributes.get('channels_last');
      return a?.type === 'int' ? a.value : 0;
    };
    const convs = ops.filter((n) => n.opType === 'FusedConv' || n.opType === 'Conv');
    // c1 reads NCHW (2); c2 (with the residual), dw and c3 are NHWC (1); the grouped conv is NCHW.
    expect(convs.map(layout).sort()).toEqual([0, 1, 1, 1, 2]);
    const c2 = convs.find((n) => n.inputs.length === 4)!;
    expect(c2.attributes.get('activation')).toEqual({ type: 'string', value: 'Relu' });
    expect(ops.some((n) => n.opType === 'Add' || n.opType === 'Relu')).toBe(false);
    expect(layout(ops.find((n) => n.opType === 'MaxPool')!)).toBe(1);
    // c3 is both a graph output (restored to NCHW) and the grouped conv's NCHW input: one
    // transpose serves both; nothing transposes the model input.
    expect(ops.filter((n) => n.opType === 'Transpose').length).toBe(1);
  });

  test('values the residual fusion removed can still be captured (calibration observes them)', async () => {
    const { bytes, x } = network(2);
    const model = await load(bytes);
    expect(model.canCapture('c2')).toBe(true);
    expect(model.canCapture('a2')).toBe(true);
    const got = await model.run({ x }, { capture: ['c2', 'a2', 'r2'] });
    const want = await runOrt(network(2, ['c2', 'a2', 'r2']).bytes, { x });
    for (const name of ['c2', 'a2', 'r2', 'y']) {
      expect([...got[name].dims]).toEqual([...want[name].dims]);
      expect(maxRelDiff(got[name], want[name])).toBeLessThan(REL_TOL);
    }
    // Runs without those captures keep the fused graph.
    expect(model.plannedGraph.nodes.some((n) => n.opType === 'Add')).toBe(false);
  });
});
