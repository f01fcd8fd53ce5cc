// Keras-style layers for sequential(): each appends ONNX nodes and initialized weights to a
// graph under construction, knowing its input's shape (batch dim excluded).
import { checkedByteSize } from '../limits';
import { Attribute, Graph } from '../graph/ir';
import { invalidRange } from '../errors';
import { Tensor } from '../tensor';
import { Random } from './random';

export type ActivationName = 'relu' | 'sigmoid' | 'tanh' | 'hardswish' | 'linear';
/** 'uniform': PyTorch's default, U(±1/sqrt(fanIn)); 'he': N(0, 2/fanIn) (He et al., for ReLU nets). */
export type InitName = 'uniform' | 'he';

/** What a layer appends nodes and weights through. */
export interface LayerContext {
  readonly graph: Graph;
  readonly rng: Random;
  /** A fresh value/node name with this stem. */
  name(stem: string): string;
  node(opType: string, inputs: string[], attrs?: { [k: string]: Attribute }, stem?: string): string;
  weight(stem: string, t: Tensor): string;
}

export interface Layer {
  readonly kind: string;
  /** Input shape without the batch dim; only the first layer needs it. */
  readonly inputShape?: number[];
  /** Appends the layer to ctx.graph reading `x` of shape `shape`; returns its output and shape. */
  build(ctx: LayerContext, x: string, shape: number[]): { y: string; shape: number[] };
}

const ints = (value: number[]): Attribute => ({ type: 'ints', value });
const int = (value: number): Attribute => ({ type: 'int', value });
const float = (value: number): Attribute => ({ type: 'float', value });

function initWeights(rng: Random, dims: number[], fanIn: number, init: InitName): Tensor<'float32'> {
  const n = checkedByteSize(dims, 4, 'layer weights') / 4;
  const data = new Float32Array(n);
  if (init === 'he') {
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  } else {
    const bound = 1 / Math.sqrt(fanIn);
    for (let i = 0; i < n; i++) data[i] = rng.uniform(-bound, bound);
  }
  return new Tensor('float32', data, dims);
}

function applyActivation(ctx: LayerContext, x: string, act: ActivationName | undefined): string {
  switch (act ?? 'linear') {
    case 'linear': return x;
    case 'relu': return ctx.node('Relu', [x]);
    case 'sigmoid': return ctx.node('Sigmoid', [x]);
    case 'tanh': return ctx.node('Tanh', [x]);
    case 'hardswish': return ctx.node('HardSwish', [x]);
    default: throw invalidRange('activation', "'relu', 'sigmoid', 'tanh', 'hardswish' or 'linear'", act);
  }
}

function pair(name: string, v: number | [number, number]): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1)) throw invalidRange(name, 'a positive integer or [h, w]', v);
  return p;
}

function needRank(kind: string, shape: number[], rank: number, hint: string): void {
  if (shape.length !== rank) throw invalidRange(`${kind} input`, `shape of rank ${rank} ${hint}`, `[${shape.join(', ')}]`);
}

export type Padding = 'valid' | 'same' | number;

/** Explicit pads for a window; 'same' keeps ceil(in/stride) (TensorFlow's SAME_UPPER). */
function padsFor(padding: Padding, input: [number, number], kernel: [number, number], stride: [number, number], dilation: [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (typeof padding === 'number') {
    if (!Number.isInteger(padding) || padding < 0) throw invalidRange('padding', "'valid', 'same' or an integer >= 0", padding);
    return [padding, padding, padding, padding];
  }
  if (padding !== 'same') throw invalidRange('padding', "'valid', 'same' or an integer >= 0", padding);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(input[i] / stride[i]);
    const total = Math.max(0, (out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - input[i]);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

function windowOut(input: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((input + p0 + p1 - ((k - 1) * d + 1)) / s) + 1;
}

export interface Conv2dOptions {
  filters: number;
  kernel: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  dilation?: number | [number, number];
  groups?: number;
  activation?: ActivationName;
  useBias?: boolean;
  init?: InitName;
  inputShape?: number[];
}

function conv2d(o: Conv2dOptions): Layer {
  if (!Number.isInteger(o.filters) || o.filters < 1) throw invalidRange('conv2d.filters', 'an integer >= 1', o.filters);
  const k = pair('conv2d.kernel', o.kernel);
  const s = pair('conv2d.strides', o.strides ?? 1);
  const d = pair('conv2d.dilation', o.dilation ?? 1);
  const groups = o.groups ?? 1;
  return {
    kind: 'conv2d',
    inputShape: o.inputShape,
    build(ctx, x, shape) {
      needRank('conv2d', shape, 3, '[channels, height, width]');
      const [c, h, w] = shape;
      if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || o.filters % groups !== 0) throw invalidRange('conv2d.groups', `a divisor of both ${c} input channels and ${o.filters} filters`, groups);
      const pads = padsFor(o.padding ?? 'valid', [h, w], k, s, d);
      const fanIn = (c / groups) * k[0] * k[1];
      const wName = ctx.weight('conv.weight', initWeights(ctx.rng, [o.filters, c / groups, k[0], k[1]], fanIn, o.init ?? 'uniform'));
      const inputs = [x, wName];
      if (o.useBias ?? true) inputs.push(ctx.weight('conv.bias', initWeights(ctx.rng, [o.filters], fanIn, 'uniform')));
      const y = ctx.node('Conv', inputs, { kernel_shape: ints(k), strides: ints(s), dilations: ints(d), pads: ints(pads), group: int(groups) });
      const out = [o.filters, windowOut(h, k[0], s[0], d[0], pads[0], pads[2]), windowOut(w, k[1], s[1], d[1], pads[1], pads[3])];
      if (out[1] < 1 || out[2] < 1) throw invalidRange('conv2d', `an input large enough for a ${k[0]}x${k[1]} kernel`, `[${shape.join(', ')}]`);
      return { y: applyActivation(ctx, y, o.activation), shape: out };
    },
  };
}

export interface DenseOptions {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  init?: InitName;
  inputShape?: number[];
}

function dense(o: DenseOptions): Layer {
  if (!Number.isInteger(o.units) || o.units < 1) throw invalidRange('dense.units', 'an integer >= 1', o.units);
  return {
    kind: 'dense',
    inputShape: o.inputShape,
    build(ctx, x, shape) {
      needRank('dense', shape, 1, '[features] (add layers.flatten() before it)');
      const fanIn = shape[0];
      const inputs = [x, ctx.weight('dense.weight', initWeights(ctx.rng, [o.units, fanIn], fanIn, o.init ?? 'uniform'))];
      if (o.useBias ?? true) inputs.push(ctx.weight('dense.bias', initWeights(ctx.rng, [o.units], fanIn, 'uniform')));
      const y = ctx.node('Gemm', inputs, { transB: int(1) });
      return { y: applyActivation(ctx, y, o.activation), shape: [o.units] };
    },
  };
}

export interface PoolOptions {
  pool?: number | [number, number];
  strides?: number | [number, number];
  padding?: 'valid' | 'same';
}

function pool2d(kind: 'maxPool2d' | 'avgPool2d', o: PoolOptions): Layer {
  const k = pair(`${kind}.pool`, o.pool ?? 2);
  const s = pair(`${kind}.strides`, o.strides ?? k);
  return {
    kind,
    build(ctx, x, shape) {
      needRank(kind, shape, 3, '[channels, height, width]');
      const pads = padsFor(o.padding ?? 'valid', [shape[1], shape[2]], k, s, [1, 1]);
      const y = ctx.node(kind === 'maxPool2d' ? 'MaxPool' : 'AveragePool', [x], { kernel_shape: ints(k), strides: ints(s), pads: ints(pads) });
      return { y, shape: [shape[0], windowOut(shape[1], k[0], s[0], 1, pads[0], pads[2]), windowOut(shape[2], k[1], s[1], 1, pads[1], pads[3])] };
    },
  };
}

export interface BatchNormOptions {
  /** ONNX convention: running = running·momentum + batch·(1 − momentum). Default 0.9. */
  momentum?: number;
  epsilon?: number;
}

function batchNorm(o: BatchNormOptions = {}): Layer {
  return {
    kind: 'batchNorm',
    build(ctx, x, shape) {
      const c = shape[0];
      const filled = (v: number): Tensor => new Tensor('float32', new Float32Array(c).fill(v), [c]);
      const inputs = [x, ctx.weight('bn.scale', filled(1)), ctx.weight('bn.bias', filled(0)), ctx.weight('bn.mean', filled(0)), ctx.weight('bn.var', filled(1))];
      const y = ctx.node('BatchNormalization', inputs, { epsilon: float(o.epsilon ?? 1e-5), momentum: float(o.momentum ?? 0.9) });
      return { y, shape };
    },
  };
}

function simple(kind: string, op: string, attrs: { [k: string]: Attribute } = {}, shapeOf: (s: number[]) => number[] = (s) => s): Layer {
  return { kind, build: (ctx, x, shape) => ({ y: ctx.node(op, [x], attrs), shape: shapeOf(shape) }) };
}

export interface ResidualOptions {
  /** The branch f: output = activation(x + f(x)); f must keep the shape. */
  layers: Layer[];
  activation?: ActivationName;
}

function residual(o: ResidualOptions): Layer {
  if (!Array.isArray(o.layers) || o.layers.length === 0) throw invalidRange('residual.layers', 'a non-empty array of layers', o.layers);
  return {
    kind: 'residual',
    build(ctx, x, shape) {
      let y = x;
      let s = shape;
      for (const l of o.layers) ({ y, shape: s } = l.build(ctx, y, s));
      if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) throw invalidRange('residual.layers', `a branch that keeps the shape [${shape.join(', ')}]`, `[${s.join(', ')}]`);
      const sum = ctx.node('Add', [x, y]);
      return { y: applyActivation(ctx, sum, o.activation), shape };
    },
  };
}

export const layers = {
  conv2d,
  dense,
  maxPool2d: (o: PoolOptions = {}): Layer => pool2d('maxPool2d', o),
  avgPool2d: (o: PoolOptions = {}): Layer => pool2d('avgPool2d', o),
  globalAvgPool2d: (): Layer => simple('globalAvgPool2d', 'GlobalAveragePool', {}, (s) => [s[0], 1, 1]),
  flatten: (): Layer => simple('flatten', 'Flatten', { axis: int(1) }, (s) => [s.reduce((p, d) => p * d, 1)]),
  batchNorm,
  dropout: (o: { rate: number }): Layer => {
    if (typeof o?.rate !== 'number' || !(o.rate >= 0 && o.rate < 1)) throw invalidRange('dropout.rate', 'a number in [0, 1)', o?.rate);
    return {
      kind: 'dropout',
      build: (ctx, x, shape) => ({ y: ctx.node('Dropout', [x, ctx.weight('dropout.ratio', new Tensor('float32', Float32Array.of(o.rate), []))]), shape }),
    };
  },
  relu: (): Layer => simple('relu', 'Relu'),
  sigmoid: (): Layer => simple('sigmoid', 'Sigmoid'),
  tanh: (): Layer => simple('tanh', 'Tanh'),
  hardSwish: (): Layer => simple('hardSwish', 'HardSwish'),
  leakyRelu: (o: { alpha?: number } = {}): Layer => simple('leakyRelu', 'LeakyRelu', { alpha: float(o.alpha ?? 0.01) }),
  residual,
};

