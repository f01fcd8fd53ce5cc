// Gradient checks, one per layer: the step graph's gradients (read back from one SGD step
// with lr = 1: grad = before − after) against central finite differences of the training-mode
// loss (the same step with lr = 0 leaves the weights alone and reports the loss).
// Each op under test sits behind a trainable Mul, so the gradient it passes to its input is
// checked through that Mul's weights too.
import { buildModel, NodeSpec } from '../lib/onnx/builder';
import { importModel } from '../lib/onnx/import';
import { Model } from '../lib/runtime/model';
import { Tensor } from '../lib/tensor';
import { sgd } from '../lib/train/optimizers';
import { TrainingSession } from '../lib/train/session';
import { LossKind } from '../lib/train/autograd';
import { Random } from '../lib/train/random';

interface Case {
  name: string;
  x: number[];
  /** The nodes after the input scaling; they read 'xs' and write 'y'. */
  nodes: NodeSpec[];
  y: number[];
  weights?: { [name: string]: { dims: number[]; fill?: (i: number, r: Random) => number } };
  /** Elements of the scaled input avoid [-gap, gap] (kinks of ReLU-like ops sit at 0). */
  gap?: number;
  loss?: LossKind;
  opset?: number;
  h?: number;
  /** BatchNormalization on frozen running statistics (inference-mode gradients). */
  frozenBatchNorm?: boolean;
}

function filled(dims: number[], f: (i: number) => number): Tensor<'float32'> {
  const n = dims.reduce((p, d) => p * d, 1);
  return new Tensor('float32', Float32Array.from({ length: n }, (_, i) => f(i)), dims);
}

function makeModel(c: Case, r: Random): Model {
  const perSample = c.x.slice(1);
  const initializers: { [name: string]: Tensor } = {
    // Away from zero so scaled inputs keep their sign pattern under small perturbations.
    scale: filled(perSample, () => (r.next() < 0.5 ? -1 : 1) * r.uniform(0.6, 1.2)),
  };
  for (const [name, w] of Object.entries(c.weights ?? {})) initializers[name] = filled(w.dims, (i) => (w.fill ? w.fill(i, r) : r.uniform(-1, 1)));
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: c.x }],
    outputs: [{ name: 'y', dtype: 'float32', dims: c.y }],
    nodes: [{ opType: 'Mul', inputs: ['x', 'scale'], outputs: ['xs'] }, ...c.nodes],
    initializers,
    opset: c.opset ?? 17,
  });
  return new Model(importModel(bytes));
}

function inputFor(c: Case, r: Random): Tensor<'float32'> {
  const gap = c.gap ?? 0;
  return filled(c.x, () => {
    const m = r.uniform(gap + 0.05, 1.5);
    return r.next() < 0.5 ? -m : m;
  });
}

async function check(c: Case): Promise<void> {
  const r = new Random(7);
  const model = makeModel(c, r);
  const x = inputFor(c, r);
  const loss = c.loss ?? 'mse';
  const target = loss === 'mse'
    ? filled(c.y, () => r.uniform(-1, 1))
    : new Tensor('int64', BigInt64Array.from({ length: c.y[0] }, () => BigInt(r.int(c.y[1]))), [c.y[0]]);
  const session = new TrainingSession(model, { optimizer: sgd({ lr: 1 }), loss, input: 'x', output: 'y', freezeBatchNormAfter: c.frozenBatchNorm ? 0 : undefined });
  try {
    const params = session.params.map((p) => [p, model.ir.graph.initializers.get(p)!.data as Float32Array] as const);
    const before = params.map(([, d]) => Float32Array.from(d));
    await session.step(x, target, 1);
    const grads = params.map(([, d], i) => Float32Array.from(d, (v, j) => before[i][j] - v));
    params.forEach(([, d], i) => d.set(before[i]));
    const h = c.h ?? 1e-3;
    const lossAt = async (): Promise<number> => (await session.step(x, target, 0)).loss;
    let checked = 0;
    for (let pi = 0; pi < params.length; pi++) {
      const [name, d] = params[pi];
      // Every element of small tensors; a spread of 24 in larger ones.
      const picks = d.length <= 24 ? [...d.keys()] : Array.from({ length: 24 }, (_, k) => Math.floor((k * d.length) / 24 + r.int(Math.max(1, d.length / 24))) % d.length);
      for (const j of picks) {
        const v = before[pi][j];
        d[j] = v + h;
        const up = await lossAt();
        d[j] = v - h;
        const down = await lossAt();
        d[j] = v;
        const numeric = (up - down) / (2 * h);
        const analytic = grads[pi][j];
        const tol = 2e-3 + 2e-2 * Math.abs(numeric);
        if (!(Math.abs(analytic - numeric) <= tol)) {
          throw new Error(`${c.name}: d loss / d ${name}[${j}] = ${analytic} (step graph) vs ${numeric} (finite difference)`);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(session.params).toContain('scale');
  } finally {
    session.dispose();
  }
}

const conv = (attrs: NodeSpec['attributes'], withBias = true): NodeSpec => ({ opType: 'Conv', inputs: withBias ? ['xs', 'w', 'b'] : ['xs', 'w'], outputs: ['y'], attributes: attrs });
const unary = (op: string, attributes: NodeSpec['attributes'] = {}, extra: string[] = []): NodeSpec => ({ opType: op, inputs: ['xs', ...extra], outputs: ['y'], attributes });

const CASES: Case[] = [
  { name: 'Conv 3x3', x: [2, 2, 5, 5], y: [2, 3, 3, 3], nodes: [conv({ kernel_shape: [3, 3] })], weights: { w: { dims: [3, 2, 3, 3] }, b: { dims: [3] } } },
  { name: 'Conv stride 2, pads, dilation 2', x: [1, 2, 7, 6], y: [1, 2, 4, 3], nodes: [conv({ kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 0], dilations: [2, 2] })], weights: { w: { dims: [2, 2, 2, 2] }, b: { dims: [2] } } },
  { name: 'Conv groups 2, no bias', x: [2, 4, 4, 4], y: [2, 2, 4, 4], nodes: [conv({ kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 2 }, false)], weights: { w: { dims: [2, 2, 3, 3] } } },
  { name: 'Conv depthwise SAME_UPPER', x: [2, 3, 5, 5], y: [2, 3, 3, 3], nodes: [conv({ kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER', group: 3 })], weights: { w: { dims: [3, 1, 3, 3] }, b: { dims: [3] } } },
  { name: 'Conv 1-D', x: [2, 2, 9], y: [2, 3, 4], nodes: [conv({ kernel_shape: [3], strides: [2], pads: [1, 0] })], weights: { w: { dims: [3, 2, 3] }, b: { dims: [3] } } },
  {
    // Fused in the step: Conv+Relu runs as FusedConv, the Relu's gradient folds into MaxPoolGrad.
    name: 'Conv -> Relu -> MaxPool 2x2 (fused step)', x: [2, 2, 6, 6], y: [2, 3, 2, 2],
    nodes: [
      { opType: 'Conv', inputs: ['xs', 'w', 'b'], outputs: ['c'], attributes: { kernel_shape: [3, 3] } },
      { opType: 'Relu', inputs: ['c'], outputs: ['r'] },
      { opType: 'MaxPool', inputs: ['r'], outputs: ['y'], attributes: { kernel_shape: [2, 2], strides: [2, 2] } },
    ],
    weights: { w: { dims: [3, 2, 3, 3] }, b: { dims: [3] } },
  },
  {
    name: 'Gemm -> Relu (fused step)', x: [3, 5], y: [3, 4],
    nodes: [{ opType: 'Gemm', inputs: ['xs', 'w', 'b'], outputs: ['g'], attributes: { transB: 1 } }, { opType: 'Relu', inputs: ['g'], outputs: ['y'] }],
    weights: { w: { dims: [4, 5] }, b: { dims: [4] } },
  },
  { name: 'Gemm transB (dense)', x: [3, 5], y: [3, 4], nodes: [{ opType: 'Gemm', inputs: ['xs', 'w', 'b'], outputs: ['y'], attributes: { transB: 1 } }], weights: { w: { dims: [4, 5] }, b: { dims: [4] } } },
  { name: 'Gemm transA, alpha, beta, C [M,N]', x: [5, 3], y: [3, 4], nodes: [{ opType: 'Gemm', inputs: ['xs', 'w', 'c'], outputs: ['y'], attributes: { transA: 1, alpha: 0.7, beta: 1.3 } }], weights: { w: { dims: [5, 4] }, c: { dims: [3, 4] } } },
  { name: 'MatMul 3-D x 2-D', x: [2, 3, 4], y: [2, 3, 5], nodes: [{ opType: 'MatMul', inputs: ['xs', 'w'], outputs: ['y'] }], weights: { w: { dims: [4, 5] } } },
  { name: 'MatMul batched both', x: [2, 3, 4], y: [2, 3, 2], nodes: [{ opType: 'MatMul', inputs: ['xs', 'w'], outputs: ['y'] }], weights: { w: { dims: [2, 4, 2] } } },
  { name: 'Add broadcast [C,1,1]', x: [2, 3, 2, 2], y: [2, 3, 2, 2], nodes: [{ opType: 'Add', inputs: ['xs', 'b'], outputs: ['y'] }], weights: { b: { dims: [3, 1, 1] } } },
  { name: 'Sub scalar minus tensor', x: [2, 3], y: [2, 3], nodes: [{ opType: 'Sub', inputs: ['b', 'xs'], outputs: ['y'] }], weights: { b: { dims: [] } } },
  { name: 'Mul broadcast row', x: [3, 4], y: [3, 4], nodes: [{ opType: 'Mul', inputs: ['xs', 'b'], outputs: ['y'] }], weights: { b: { dims: [4] } } },
  { name: 'Div by parameter', x: [3, 4], y: [3, 4], nodes: [{ opType: 'Div', inputs: ['xs', 'b'], outputs: ['y'] }], weights: { b: { dims: [1, 4], fill: (_i, r) => r.uniform(0.5, 1.5) } } },
  { name: 'Relu', x: [2, 6], y: [2, 6], nodes: [unary('Relu')], gap: 0.05 },
  { name: 'LeakyRelu', x: [2, 6], y: [2, 6], nodes: [unary('LeakyRelu', { alpha: 0.1 })], gap: 0.05 },
  { name: 'Sigmoid', x: [2, 6], y: [2, 6], nodes: [unary('Sigmoid')] },
  { name: 'Tanh', x: [2, 6], y: [2, 6], nodes: [unary('Tanh')] },
  { name: 'HardSigmoid', x: [2, 6], y: [2, 6], nodes: [unary('HardSigmoid', { alpha: 0.4 })] },
  { name: 'HardSwish', x: [2, 6], y: [2, 6], nodes: [unary('HardSwish')] },
  { name: 'Gelu', x: [2, 6], y: [2, 6], nodes: [unary('Gelu')], opset: 20 },
  { name: 'Clip', x: [2, 6], y: [2, 6], nodes: [unary('Clip', {}, ['lo', 'hi'])], weights: {} },
  { name: 'MaxPool 2x2 overlapping stride 1', x: [2, 2, 4, 4], y: [2, 2, 3, 3], nodes: [unary('MaxPool', { kernel_shape: [2, 2], strides: [1, 1] })] },
  { name: 'MaxPool 3x3 stride 2 pads', x: [1, 2, 5, 5], y: [1, 2, 3, 3], nodes: [unary('MaxPool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })] },
  { name: 'AveragePool pads, count_include_pad 0', x: [1, 2, 5, 5], y: [1, 2, 3, 3], nodes: [unary('AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })] },
  { name: 'AveragePool count_include_pad 1', x: [1, 2, 4, 4], y: [1, 2, 2, 2], nodes: [unary('AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], count_include_pad: 1 })] },
  { name: 'GlobalAveragePool', x: [2, 3, 3, 2], y: [2, 3, 1, 1], nodes: [unary('GlobalAveragePool')] },
  {
    name: 'BatchNormalization (batch statistics)', x: [3, 2, 2, 2], y: [3, 2, 2, 2],
    nodes: [{ opType: 'BatchNormalization', inputs: ['xs', 'g', 'b', 'mean', 'var'], outputs: ['y'] }],
    weights: { g: { dims: [2] }, b: { dims: [2] }, mean: { dims: [2], fill: () => 0 }, var: { dims: [2], fill: () => 1 } },
  },
  {
    name: 'BatchNormalization (frozen running statistics)', x: [3, 2, 2, 2], y: [3, 2, 2, 2], frozenBatchNorm: true,
    nodes: [{ opType: 'BatchNormalization', inputs: ['xs', 'g', 'b', 'mean', 'var'], outputs: ['y'] }],
    weights: { g: { dims: [2] }, b: { dims: [2] }, mean: { dims: [2], fill: (_i, r) => r.uniform(-0.5, 0.5) }, var: { dims: [2], fill: (_i, r) => r.uniform(0.5, 2) } },
  },
  {
    name: 'Dropout (fixed seed)', x: [2, 8], y: [2, 8],
    nodes: [{ opType: 'Dropout', inputs: ['xs', 'ratio'], outputs: ['y'] }],
    weights: { ratio: { dims: [], fill: () => 0.3 } },
  },
  { name: 'Flatten then Gemm', x: [2, 2, 3], y: [2, 3], nodes: [unary('Flatten', { axis: 1 }), { opType: 'Gemm', inputs: ['y0', 'w'], outputs: ['y'], attributes: { transB: 1 } }].map((n, i) => (i === 0 ? { ...n, outputs: ['y0'] } : n)), weights: { w: { dims: [3, 6] } } },
  { name: 'Sqrt', x: [2, 5], y: [2, 5], gap: 0.1, nodes: [{ opType: 'Mul', inputs: ['xs', 'xs'], outputs: ['q'] }, { opType: 'Sqrt', inputs: ['q'], outputs: ['y'] }] },
  { name: 'Pow by a constant exponent', x: [2, 5], y: [2, 5], nodes: [{ opType: 'Pow', inputs: ['xs', 'e'], outputs: ['y'] }], weights: { e: { dims: [], fill: () => 3 } } },
  { name: 'ReduceMean axes [1] keepdims', x: [2, 3, 4], y: [2, 1, 4], nodes: [unary('ReduceMean', { axes: [1], keepdims: 1 })] },
  { name: 'ReduceMean last axis, no keepdims', x: [2, 3, 4], y: [2, 3], nodes: [unary('ReduceMean', { axes: [-1], keepdims: 0 })] },
  { name: 'Transpose', x: [2, 3, 4], y: [4, 2, 3], nodes: [unary('Transpose', { perm: [2, 0, 1] })] },
  { name: 'Softmax last axis', x: [2, 5], y: [2, 5], nodes: [unary('Softmax', { axis: -1 })] },
  { name: 'Concat axis 1 with a parameter', x: [2, 2], y: [2, 5], nodes: [{ opType: 'Concat', inputs: ['xs', 'p'], outputs: ['y'], attributes: { axis: 1 } }], weights: { p: { dims: [2, 3] } } },
  { name: 'Softmax cross-entropy on Gemm logits', x: [4, 3], y: [4, 5], loss: 'softmaxCrossEntropy', nodes: [{ opType: 'Gemm', inputs: ['xs', 'w', 'b'], outputs: ['y'], attributes: { transB: 1 } }], weights: { w: { dims: [5, 3] }, b: { dims: [5] } } },
];

describe('training gradients match finite differences', () => {
  if (process.env.NQ_T1) beforeAll(() => require('../lib/cpu').setThreads(1));
  for (const c of CASES) {
    test(c.name, async () => {
      if (c.name === 'Clip') {
        // Clip bounds are constants (float initializers read at non-differentiable inputs).
        c.weights = { lo: { dims: [], fill: () => -0.8 }, hi: { dims: [], fill: () => 0.9 } };
      }
      await check(c);
    });
  }
});
