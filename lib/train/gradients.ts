// Gradient rules, one per forward op: each emits backward nodes (ONNX ops where one fits,
// com.nquant.train kernels otherwise) that turn the gradients of a node's outputs into the
// gradients of the inputs that need one. Shapes are concrete (one training plan per batch
// size), so broadcasts, pads and reshapes are resolved here once.
import { Attribute, attrFloat, attrInt, attrInts, attrString, Node } from '../graph/ir';
import { Tensor } from '../tensor';
import type { ResolvedValue } from '../runtime/plan-builder';

export const TRAIN_DOMAIN = 'com.nquant.train';

export interface GradContext {
  readonly node: Node;
  readonly opset: number;
  shape(name: string): ResolvedValue;
  /** The gradient of output i, or undefined when none reaches it. */
  outGrad(i: number): string | undefined;
  /** Whether input i needs a gradient. */
  wants(i: number): boolean;
  /**
   * Adds a backward node whose float32 outputs have the given dims (one entry per output);
   * outputs given as false are not computed. Returns the output names ('' for skipped ones).
   */
  emit(opType: string, inputs: string[], outputs: (string | false)[], dims: number[][], attrs?: { [k: string]: Attribute }, domain?: string): string[];
  /** A constant for the backward graph. */
  constant(base: string, t: Tensor): string;
  /** Records `grad` as (a contribution to) the gradient of input i. */
  give(i: number, grad: string): void;
  /** The value of a constant input, when it is an initializer. */
  constantValue(name: string): Tensor | undefined;
}

export interface GradientRule {
  /** Inputs a gradient can flow into ('all' or indices). */
  differentiable: 'all' | number[];
  build(ctx: GradContext): void;
}

export const int = (value: number): Attribute => ({ type: 'int', value });
export const float = (value: number): Attribute => ({ type: 'float', value });
export const ints = (value: number[]): Attribute => ({ type: 'ints', value });
export const str = (value: string): Attribute => ({ type: 'string', value });

function int64(values: number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length]);
}

/** Explicit begin/end pads of a Conv or pool node, auto_pad resolved against the shapes. */
export function resolvedPads(node: Node, inDims: number[], outDims: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  const spatial = kernel.length;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad === 'NOTSET') return attrInts(node, 'pads', new Array(2 * spatial).fill(0));
  if (autoPad === 'VALID') return new Array(2 * spatial).fill(0);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < spatial; i++) {
    const total = Math.max(0, (outDims[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inDims[i]);
    const small = Math.floor(total / 2);
    begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
    end.push(total - begin[i]);
  }
  return [...begin, ...end];
}

function windowAttrs(ctx: GradContext, kernelFromWeights?: number[]): { kernel: number[]; strides: number[]; dilations: number[]; pads: number[] } {
  const n = ctx.node;
  const x = ctx.shape(n.inputs[0]).dims;
  const y = ctx.shape(n.outputs[0]).dims;
  const kernel = kernelFromWeights ?? attrInts(n, 'kernel_shape');
  const spatial = kernel.length;
  const strides = attrInts(n, 'strides', new Array(spatial).fill(1));
  const dilations = attrInts(n, 'dilations', new Array(spatial).fill(1));
  const pads = resolvedPads(n, x.slice(2), y.slice(2), kernel, strides, dilations);
  return { kernel, strides, dilations, pads };
}

/** Sums `grad` down to `target`'s shape when the forward op broadcast that operand. */
function reduceTo(ctx: GradContext, grad: string, gradDims: number[], target: string, tag: string): string {
  const t = ctx.shape(target).dims;
  if (t.length === gradDims.length && t.every((d, i) => d === gradDims[i])) return grad;
  return ctx.emit('ReduceToShape', [grad], [`${tag}_reduced`], [t], {}, TRAIN_DOMAIN)[0];
}

function reshapeTo(ctx: GradContext, grad: string, target: string, tag: string): string {
  const shape = ctx.constant(`${tag}_shape`, int64(ctx.shape(target).dims));
  return ctx.emit('Reshape', [grad, shape], [`${tag}_reshaped`], [ctx.shape(target).dims])[0];
}

/** Gemm(P, Q) with the given transposes and alpha: the building block of GEMM gradients. */
function gemm(ctx: GradContext, p: string, q: string, transA: boolean, transB: boolean, alpha: number, tag: string): string {
  const attrs: { [k: string]: Attribute } = { transA: int(transA ? 1 : 0), transB: int(transB ? 1 : 0) };
  if (alpha !== 1) attrs.alpha = float(alpha);
  const pd = ctx.shape(p).dims;
  const qd = ctx.shape(q).dims;
  return ctx.emit('Gemm', [p, q], [tag], [[transA ? pd[1] : pd[0], transB ? qd[0] : qd[1]]], attrs)[0];
}

function activation(name: string, extra: (n: Node) => { [k: string]: Attribute } = () => ({})): GradientRule {
  return {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      const [dx] = ctx.emit('ActivationGrad', [dy, n.inputs[0], n.outputs[0]], ['dx'], [ctx.shape(n.inputs[0]).dims], { activation: str(name), ...extra(n) }, TRAIN_DOMAIN);
      ctx.give(0, dx);
    },
  };
}

function clipBounds(ctx: GradContext): { [k: string]: Attribute } {
  const n = ctx.node;
  if (ctx.opset < 11) return { min: float(attrFloat(n, 'min', -3.4028234663852886e38)), max: float(attrFloat(n, 'max', 3.4028234663852886e38)) };
  const bound = (i: number, fallback: number): number => {
    const name = n.inputs[i];
    if (!name) return fallback;
    const t = ctx.constantValue(name);
    if (!t || t.size !== 1) throw new TypeError(`Clip node '${n.name}': training needs constant min/max inputs, '${name}' is computed`);
    return Number((t.data as Float32Array)[0]);
  };
  return { min: float(bound(1, -3.4028234663852886e38)), max: float(bound(2, 3.4028234663852886e38)) };
}

function passShape(): GradientRule {
  return {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (dy && ctx.wants(0)) ctx.give(0, reshapeTo(ctx, dy, ctx.node.inputs[0], 'dx'));
    },
  };
}

export const GRADIENTS: { [opType: string]: GradientRule } = {
  Conv: {
    differentiable: [0, 1, 2],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const w = ctx.shape(n.inputs[1]).dims;
      if (w.length > 4) throw new TypeError(`Conv node '${n.name}': training supports 1-D and 2-D convolutions, weights are ${w.length - 2}-D`);
      const { strides, dilations, pads } = windowAttrs(ctx, w.slice(2));
      const wantsBias = n.inputs.length > 2 && !!n.inputs[2] && ctx.wants(2);
      const [dx, dw, db] = ctx.emit('ConvGrad', [dy, n.inputs[0], n.inputs[1]], [ctx.wants(0) && 'dx', ctx.wants(1) && 'dw', wantsBias && 'db'], [ctx.shape(n.inputs[0]).dims, w, [w[0]]], {
        strides: ints(strides), dilations: ints(dilations), pads: ints(pads), group: int(attrInt(n, 'group', 1)),
      }, TRAIN_DOMAIN);
      if (dx) ctx.give(0, dx);
      if (dw) ctx.give(1, dw);
      if (db) ctx.give(2, db);
    },
  },
  Gemm: {
    differentiable: [0, 1, 2],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const [a, b, c] = n.inputs;
      const tA = attrInt(n, 'transA', 0) === 1;
      const tB = attrInt(n, 'transB', 0) === 1;
      const alpha = attrFloat(n, 'alpha', 1);
      const beta = attrFloat(n, 'beta', 1);
      // Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A (and B' likewise).
      if (ctx.wants(0)) ctx.give(0, tA ? gemm(ctx, b, dy, tB, true, alpha, 'da') : gemm(ctx, dy, b, false, !tB, alpha, 'da'));
      if (ctx.wants(1)) ctx.give(1, tB ? gemm(ctx, dy, a, true, tA, alpha, 'db') : gemm(ctx, a, dy, !tA, false, alpha, 'db'));
      if (c && ctx.wants(2)) {
        let dc = reduceTo(ctx, dy, ctx.shape(n.outputs[0]).dims, c, 'dc');
        if (beta !== 1) dc = ctx.emit('Mul', [dc, ctx.constant('beta', new Tensor('float32', new Float32Array([beta]), []))], ['dc_scaled'], [ctx.shape(c).dims])[0];
        ctx.give(2, dc);
      }
    },
  },
  MatMul: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const [a, b] = n.inputs;
      const ad = ctx.shape(a).dims;
      const bd = ctx.shape(b).dims;
      const yd = ctx.shape(n.outputs[0]).dims;
      if (ad.length < 2 || bd.length < 2) throw new TypeError(`MatMul node '${n.name}': training needs operands of rank >= 2, received [${ad}] and [${bd}]`);
      if (bd.length === 2) {
        // Rows of every leading dim of A share B: fold them into one GEMM.
        const rows = ad.slice(0, -1).reduce((p, d) => p * d, 1);
        const flat = (name: string, cols: number, tag: string): string =>
          ad.length === 2 ? name : ctx.emit('Reshape', [name, ctx.constant(`${tag}_shape`, int64([rows, cols]))], [tag], [[rows, cols]])[0];
        const dy2 = flat(dy, yd[yd.length - 1], 'dy2');
        if (ctx.wants(0)) {
          const da = gemm(ctx, dy2, b, false, true, 1, 'da');
          ctx.give(0, ad.length === 2 ? da : reshapeTo(ctx, da, a, 'da'));
        }
        if (ctx.wants(1)) ctx.give(1, gemm(ctx, flat(a, ad[ad.length - 1], 'a2'), dy2, true, false, 1, 'db'));
        return;
      }
      const swapLast = (rank: number): number[] => [...Array(rank - 2).keys(), rank - 1, rank - 2];
      if (ctx.wants(0)) {
        const bt = ctx.emit('Transpose', [b], ['bt'], [[...bd.slice(0, -2), bd[bd.length - 1], bd[bd.length - 2]]], { perm: ints(swapLast(bd.length)) })[0];
        const daDims = [...yd.slice(0, -1), ad[ad.length - 1]];
        const da = ctx.emit('MatMul', [dy, bt], ['da'], [daDims])[0];
        ctx.give(0, reduceTo(ctx, da, daDims, a, 'da'));
      }
      if (ctx.wants(1)) {
        const at = ctx.emit('Transpose', [a], ['at'], [[...ad.slice(0, -2), ad[ad.length - 1], ad[ad.length - 2]]], { perm: ints(swapLast(ad.length)) })[0];
        const dbDims = [...yd.slice(0, -2), bd[bd.length - 2], yd[yd.length - 1]];
        const db = ctx.emit('MatMul', [at, dy], ['db'], [dbDims])[0];
        ctx.give(1, reduceTo(ctx, db, dbDims, b, 'db'));
      }
    },
  },
  Add: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const yd = ctx.shape(ctx.node.outputs[0]).dims;
      for (const i of [0, 1]) if (ctx.wants(i)) ctx.give(i, reduceTo(ctx, dy, yd, ctx.node.inputs[i], `d${i}`));
    },
  },
  Sub: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const yd = ctx.shape(ctx.node.outputs[0]).dims;
      if (ctx.wants(0)) ctx.give(0, reduceTo(ctx, dy, yd, ctx.node.inputs[0], 'd0'));
      if (ctx.wants(1)) ctx.give(1, reduceTo(ctx, ctx.emit('Neg', [dy], ['neg'], [yd])[0], yd, ctx.node.inputs[1], 'd1'));
    },
  },
  Mul: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const [a, b] = ctx.node.inputs;
      const yd = ctx.shape(ctx.node.outputs[0]).dims;
      if (ctx.wants(0)) ctx.give(0, reduceTo(ctx, ctx.emit('Mul', [dy, b], ['d0'], [yd])[0], yd, a, 'd0'));
      if (ctx.wants(1)) ctx.give(1, reduceTo(ctx, ctx.emit('Mul', [dy, a], ['d1'], [yd])[0], yd, b, 'd1'));
    },
  },
  Div: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const [a, b] = ctx.node.inputs;
      const yd = ctx.shape(ctx.node.outputs[0]).dims;
      if (ctx.wants(0)) ctx.give(0, reduceTo(ctx, ctx.emit('Div', [dy, b], ['d0'], [yd])[0], yd, a, 'd0'));
      if (ctx.wants(1)) {
        // d(a/b)/db = -a/b² = -y/b.
        const yOverB = ctx.emit('Div', [ctx.node.outputs[0], b], ['y_over_b'], [yd])[0];
        const prod = ctx.emit('Mul', [dy, yOverB], ['prod'], [yd])[0];
        ctx.give(1, reduceTo(ctx, ctx.emit('Neg', [prod], ['d1'], [yd])[0], yd, b, 'd1'));
      }
    },
  },
  Neg: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (dy && ctx.wants(0)) ctx.give(0, ctx.emit('Neg', [dy], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims])[0]);
    },
  },
  Sqrt: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      // d sqrt(x) = 1 / (2 sqrt(x)).
      const yd = ctx.shape(ctx.node.outputs[0]).dims;
      const [twice] = ctx.emit('Mul', [ctx.node.outputs[0], ctx.constant('two', new Tensor('float32', Float32Array.of(2), []))], ['two_y'], [yd]);
      ctx.give(0, ctx.emit('Div', [dy, twice], ['dx'], [yd])[0]);
    },
  },
  Pow: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      const e = ctx.constantValue(n.inputs[1]);
      if (!e || e.size !== 1 || e.dtype !== 'float32') throw new TypeError(`Pow node '${n.name}': training needs a constant float32 scalar exponent, '${n.inputs[1]}' is not one`);
      const c = (e.data as Float32Array)[0];
      const xd = ctx.shape(n.inputs[0]).dims;
      // d x^c = c·x^(c−1).
      const [powered] = ctx.emit('Pow', [n.inputs[0], ctx.constant('exponent', new Tensor('float32', Float32Array.of(c - 1), []))], ['x_pow'], [xd]);
      const [scaled] = ctx.emit('Mul', [powered, ctx.constant('factor', new Tensor('float32', Float32Array.of(c), []))], ['c_x_pow'], [xd]);
      ctx.give(0, ctx.emit('Mul', [dy, scaled], ['dx'], [xd])[0]);
    },
  },
  ReduceMean: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      const xd = ctx.shape(n.inputs[0]).dims;
      let axes: number[] | undefined = n.attributes.has('axes') ? attrInts(n, 'axes') : undefined;
      if (!axes && n.inputs[1]) {
        const t = ctx.constantValue(n.inputs[1]);
        if (!t) throw new TypeError(`ReduceMean node '${n.name}': training needs constant axes, '${n.inputs[1]}' is computed`);
        axes = Array.from(t.data as BigInt64Array, Number);
      }
      const reduced = new Set((axes && axes.length > 0 ? axes : [...xd.keys()]).map((a) => (a < 0 ? a + xd.length : a)));
      const kept = xd.map((d, i) => (reduced.has(i) ? 1 : d));
      const count = xd.reduce((p, d, i) => (reduced.has(i) ? p * d : p), 1);
      // Every input element receives dY / count of its reduction group.
      const [dyKept] = ctx.emit('Reshape', [dy, ctx.constant('kept_shape', int64(kept))], ['dy_kept'], [kept]);
      const [spread] = ctx.emit('Expand', [dyKept, ctx.constant('x_shape', int64(xd))], ['dy_spread'], [xd]);
      ctx.give(0, ctx.emit('Mul', [spread, ctx.constant('inv_count', new Tensor('float32', Float32Array.of(1 / count), []))], ['dx'], [xd])[0]);
    },
  },
  Identity: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (dy && ctx.wants(0)) ctx.give(0, dy);
    },
  },
  // y > 0 exactly where x > 0, so the gradient reads only y: the pre-activation need not be
  // kept, and a Conv/Gemm before the ReLU can write y directly (see step-fusion.ts).
  Relu: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const y = ctx.node.outputs[0];
      ctx.give(0, ctx.emit('ActivationGrad', [dy, y, y], ['dx'], [ctx.shape(y).dims], { activation: str('Relu') }, TRAIN_DOMAIN)[0]);
    },
  },
  LeakyRelu: activation('LeakyRelu', (n) => ({ alpha: float(attrFloat(n, 'alpha', 0.01)) })),
  Sigmoid: activation('Sigmoid'),
  Tanh: activation('Tanh'),
  HardSigmoid: activation('HardSigmoid', (n) => ({ alpha: float(attrFloat(n, 'alpha', 0.2)), beta: float(attrFloat(n, 'beta', 0.5)) })),
  HardSwish: activation('HardSwish'),
  Gelu: activation('Gelu'),
  Clip: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      ctx.give(0, ctx.emit('ActivationGrad', [dy, n.inputs[0], n.outputs[0]], ['dx'], [ctx.shape(n.inputs[0]).dims], { activation: str('Clip'), ...clipBounds(ctx) }, TRAIN_DOMAIN)[0]);
    },
  },
  MaxPool: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const { kernel, strides, dilations, pads } = windowAttrs(ctx);
      ctx.give(0, ctx.emit('MaxPoolGrad', [dy, ctx.node.inputs[0]], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims], { kernel_shape: ints(kernel), strides: ints(strides), dilations: ints(dilations), pads: ints(pads) }, TRAIN_DOMAIN)[0]);
    },
  },
  AveragePool: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const { kernel, strides, pads } = windowAttrs(ctx);
      ctx.give(0, ctx.emit('AveragePoolGrad', [dy], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims], {
        kernel_shape: ints(kernel), strides: ints(strides), pads: ints(pads), count_include_pad: int(attrInt(ctx.node, 'count_include_pad', 0)),
      }, TRAIN_DOMAIN)[0]);
    },
  },
  GlobalAveragePool: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (dy && ctx.wants(0)) ctx.give(0, ctx.emit('GlobalAveragePoolGrad', [dy], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims], {}, TRAIN_DOMAIN)[0]);
    },
  },
  // Rewritten for training by the graph builder (batch statistics); see autograd.ts.
  BatchNormTraining: {
    differentiable: [0, 1, 2],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const [x, scale] = n.inputs;
      const c = ctx.shape(scale).dims;
      const [dx, dscale, db] = ctx.emit('BatchNormGrad', [dy, x, scale, n.outputs[3], n.outputs[4]], [ctx.wants(0) && 'dx', ctx.wants(1) && 'dscale', ctx.wants(2) && 'db'], [ctx.shape(x).dims, c, c], {}, TRAIN_DOMAIN);
      if (dx) ctx.give(0, dx);
      if (dscale) ctx.give(1, dscale);
      if (db) ctx.give(2, db);
    },
  },
  // Inference-mode BatchNormalization (statistics frozen): an affine map per channel,
  // y = (x − mean)·invstd·γ + β with invstd = 1/sqrt(var + ε) fixed.
  BatchNormalization: {
    differentiable: [0, 1, 2],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const [x, scale, , mean, variance] = n.inputs;
      const xd = ctx.shape(x).dims;
      const c = ctx.shape(scale).dims;
      const bcast = [1, c[0], ...new Array(Math.max(0, xd.length - 2)).fill(1)];
      const bshape = ctx.constant('bn_bcast', int64(bcast));
      const cshape = ctx.constant('bn_channels', int64(c));
      const eps = ctx.constant('bn_eps', new Tensor('float32', Float32Array.of(attrFloat(n, 'epsilon', 1e-5)), []));
      const [ve] = ctx.emit('Add', [variance, eps], ['var_eps'], [c]);
      const [sd] = ctx.emit('Sqrt', [ve], ['std'], [c]);
      const [inv] = ctx.emit('Reciprocal', [sd], ['invstd'], [c]);
      if (ctx.wants(0)) {
        const [k] = ctx.emit('Mul', [scale, inv], ['k'], [c]);
        const [kb] = ctx.emit('Reshape', [k, bshape], ['k_b'], [bcast]);
        ctx.give(0, ctx.emit('Mul', [dy, kb], ['dx'], [xd])[0]);
      }
      const perChannel = (v: string, tag: string): string => {
        const [r] = ctx.emit('ReduceToShape', [v], [`${tag}_b`], [bcast], {}, TRAIN_DOMAIN);
        return ctx.emit('Reshape', [r, cshape], [tag], [c])[0];
      };
      if (ctx.wants(1)) {
        const [mb] = ctx.emit('Reshape', [mean, bshape], ['mean_b'], [bcast]);
        const [ib] = ctx.emit('Reshape', [inv, bshape], ['invstd_b'], [bcast]);
        const [centered] = ctx.emit('Sub', [x, mb], ['centered'], [xd]);
        const [xhat] = ctx.emit('Mul', [centered, ib], ['xhat'], [xd]);
        const [prod] = ctx.emit('Mul', [dy, xhat], ['dy_xhat'], [xd]);
        ctx.give(1, perChannel(prod, 'dscale'));
      }
      if (ctx.wants(2)) ctx.give(2, perChannel(dy, 'dbias'));
    },
  },
  DropoutTrain: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const ratio = ctx.node.attributes.get('ratio') ?? float(0.5);
      ctx.give(0, ctx.emit('DropoutGrad', [dy, ctx.node.outputs[1]], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims], { ratio }, TRAIN_DOMAIN)[0]);
    },
  },
  Softmax: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      const rank = ctx.shape(n.inputs[0]).dims.length;
      const axis = attrInt(n, 'axis', ctx.opset >= 13 ? -1 : 1);
      if (ctx.opset < 13 && axis !== rank - 1 && axis !== -1) throw new TypeError(`Softmax node '${n.name}': training supports opset >= 13 or the last axis, received axis ${axis} at opset ${ctx.opset}`);
      ctx.give(0, ctx.emit('SoftmaxGrad', [dy, n.outputs[0]], ['dx'], [ctx.shape(n.inputs[0]).dims], { axis: int(axis) }, TRAIN_DOMAIN)[0]);
    },
  },
  // Straight-through estimator: the rounding passes gradients where the value was not clipped.
  // A learned scale (input 1) gets LSQ's gradient (Esser et al. 2019).
  FakeQuantize: {
    differentiable: [0, 1],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || (!ctx.wants(0) && !ctx.wants(1))) return;
      const n = ctx.node;
      const attrs: { [k: string]: Attribute } = {};
      for (const k of ['qmin', 'qmax', 'axis']) { const a = n.attributes.get(k); if (a) attrs[k] = a; }
      const [dx, dscale] = ctx.emit('FakeQuantizeGrad', [dy, n.inputs[0], n.inputs[1], n.inputs[2]], [ctx.wants(0) && 'dx', ctx.wants(1) && 'dscale'],
        [ctx.shape(n.inputs[0]).dims, ctx.shape(n.inputs[1]).dims], attrs, TRAIN_DOMAIN);
      if (dx) ctx.give(0, dx);
      if (dscale) ctx.give(1, dscale);
    },
  },
  // Binary weights: sign() passes gradients straight through where |x| <= 1 (BinaryConnect);
  // the per-channel scale mean |x| is differentiated exactly (see train_fake_binarize.cc).
  FakeBinarize: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      const axis = n.attributes.get('axis');
      ctx.give(0, ctx.emit('FakeBinarizeGrad', [dy, n.inputs[0]], ['dx'], [ctx.shape(n.inputs[0]).dims], axis ? { axis } : {}, TRAIN_DOMAIN)[0]);
    },
  },
  // Observers and quantization parameters are statistics of the data, not functions to learn
  // through: no gradient flows into or out of them.
  MinMaxObserve: { differentiable: [], build: () => undefined },
  ChannelRange: { differentiable: [], build: () => undefined },
  QParamsFromRange: { differentiable: [], build: () => undefined },
  Exp: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const y = ctx.node.outputs[0];
      ctx.give(0, ctx.emit('Mul', [dy, y], ['dx'], [ctx.shape(y).dims])[0]);
    },
  },
  Flatten: passShape(),
  Reshape: passShape(),
  Squeeze: passShape(),
  Unsqueeze: passShape(),
  Transpose: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const rank = ctx.shape(ctx.node.inputs[0]).dims.length;
      const perm = attrInts(ctx.node, 'perm', [...Array(rank).keys()].reverse());
      const inverse = new Array<number>(rank);
      perm.forEach((p, i) => { inverse[p] = i; });
      ctx.give(0, ctx.emit('Transpose', [dy], ['dx'], [ctx.shape(ctx.node.inputs[0]).dims], { perm: ints(inverse) })[0]);
    },
  },
  // dData is a scatter-add of dY by index (GatherGrad): with a codebook as the data and a
  // constant index tensor, each centroid receives the summed gradient of its weights.
  Gather: {
    differentiable: [0],
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy || !ctx.wants(0)) return;
      const n = ctx.node;
      ctx.give(0, ctx.emit('GatherGrad', [dy, n.inputs[1]], ['ddata'], [ctx.shape(n.inputs[0]).dims], { axis: int(attrInt(n, 'axis', 0)) }, TRAIN_DOMAIN)[0]);
    },
  },
  Concat: {
    differentiable: 'all',
    build(ctx) {
      const dy = ctx.outGrad(0);
      if (!dy) return;
      const n = ctx.node;
      const rank = ctx.shape(n.outputs[0]).dims.length;
      const axis = (attrInt(n, 'axis') + rank) % rank;
      let start = 0;
      n.inputs.forEach((name, i) => {
        const size = ctx.shape(name).dims[axis];
        if (ctx.wants(i)) {
          const s = ctx.constant(`start${i}`, int64([start]));
          const e = ctx.constant(`end${i}`, int64([start + size]));
          const ax = ctx.constant(`axis${i}`, int64([axis]));
          ctx.give(i, ctx.emit('Slice', [dy, s, e, ax], [`d${i}`], [ctx.shape(name).dims])[0]);
        }
        start += size;
      });
    },
  },
};

/** Forward ops whose gradient is not needed because nothing differentiable flows through. */
export function gradientRule(opType: string, domain: string): GradientRule | undefined {
  if (domain !== '' && domain !== 'ai.onnx' && domain !== TRAIN_DOMAIN) return undefined;
  return Object.prototype.hasOwnProperty.call(GRADIENTS, opType) ? GRADIENTS[opType] : undefined;
}
