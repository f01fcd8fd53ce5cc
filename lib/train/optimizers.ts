// Optimizers and learning-rate schedules. An optimizer names the native update op the step
// graph ends with and the hyper-parameters fed to it each step; its moments live in
// zero-filled state tensors, one set per parameter, kept across batch sizes.
import { invalidRange } from '../errors';
import { float, int } from './gradients';
import type { UpdateRule } from './autograd';

export interface Optimizer {
  readonly kind: 'sgd' | 'adam' | 'adamw';
  /** Base learning rate (schedules scale from it). */
  readonly lr: number;
  updateRule(): UpdateRule;
  /** The hyper-parameter vector for the update at 1-based step t with learning rate lr. */
  hyper(t: number, lr: number): Float32Array;
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidRange(name, 'a finite number > 0', v);
  return v;
}

function inUnit(name: string, v: number, closedHigh = false): number {
  if (typeof v !== 'number' || !(v >= 0) || (closedHigh ? v > 1 : v >= 1)) throw invalidRange(name, closedHigh ? 'a number in [0, 1]' : 'a number in [0, 1)', v);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw invalidRange(name, 'a finite number >= 0', v);
  return v;
}

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay (PyTorch semantics). */
export function sgd(opts: SgdOptions = {}): Optimizer {
  const lr = positive('sgd.lr', opts.lr ?? 0.01);
  const momentum = inUnit('sgd.momentum', opts.momentum ?? 0);
  const weightDecay = nonNegative('sgd.weightDecay', opts.weightDecay ?? 0);
  const nesterov = opts.nesterov ?? false;
  if (nesterov && momentum === 0) throw invalidRange('sgd.nesterov', 'momentum > 0 with Nesterov momentum', 'momentum 0');
  return {
    kind: 'sgd',
    lr,
    updateRule: () => ({
      slots: momentum > 0 ? ['velocity'] : [],
      slotPositions: 1,
      opType: 'SgdUpdate',
      attributes: { momentum: float(momentum), weight_decay: float(weightDecay), nesterov: int(nesterov ? 1 : 0) },
      hyperLength: 1,
    }),
    hyper: (_t, rate) => Float32Array.of(rate),
  };
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

function adamLike(kind: 'adam' | 'adamw', opts: AdamOptions, defaultDecay: number): Optimizer {
  const lr = positive(`${kind}.lr`, opts.lr ?? 1e-3);
  const beta1 = inUnit(`${kind}.beta1`, opts.beta1 ?? 0.9);
  const beta2 = inUnit(`${kind}.beta2`, opts.beta2 ?? 0.999);
  const epsilon = positive(`${kind}.epsilon`, opts.epsilon ?? 1e-8);
  const weightDecay = nonNegative(`${kind}.weightDecay`, opts.weightDecay ?? defaultDecay);
  return {
    kind,
    lr,
    updateRule: () => ({
      slots: ['m', 'v'],
      slotPositions: 2,
      opType: 'AdamUpdate',
      attributes: { beta1: float(beta1), beta2: float(beta2), epsilon: float(epsilon), weight_decay: float(weightDecay), decoupled: int(kind === 'adamw' ? 1 : 0) },
      hyperLength: 3,
    }),
    // Bias corrections in double here, so the kernel never raises betas to a power.
    hyper: (t, rate) => Float32Array.of(rate, 1 - Math.pow(beta1, t), 1 - Math.pow(beta2, t)),
  };
}

/** Adam with L2 regularisation folded into the gradient (PyTorch's Adam). */
export function adam(opts: AdamOptions = {}): Optimizer {
  return adamLike('adam', opts, 0);
}

/** AdamW: decoupled weight decay (default 0.01, as PyTorch). */
export function adamw(opts: AdamOptions = {}): Optimizer {
  return adamLike('adamw', opts, 0.01);
}

/** Where training is when a schedule is asked for the learning rate. */
export interface ScheduleProgress {
  /** 0-based optimizer step. */
  step: number;
  /** 0-based epoch. */
  epoch: number;
  totalSteps: number;
}

export type LrSchedule = (baseLr: number, at: ScheduleProgress) => number;

/** Multiplies the rate by gamma every `stepSize` epochs (PyTorch StepLR). */
export function stepLr(opts: { stepSize: number; gamma?: number }): LrSchedule {
  const stepSize = positive('stepLr.stepSize', opts.stepSize);
  const gamma = positive('stepLr.gamma', opts.gamma ?? 0.1);
  return (base, at) => base * Math.pow(gamma, Math.floor(at.epoch / stepSize));
}

/** Cosine decay from the base rate to minLr over all steps, after an optional linear warm-up. */
export function cosineLr(opts: { minLr?: number; warmupSteps?: number } = {}): LrSchedule {
  const minLr = nonNegative('cosineLr.minLr', opts.minLr ?? 0);
  const warmup = nonNegative('cosineLr.warmupSteps', opts.warmupSteps ?? 0);
  return (base, at) => {
    if (at.step < warmup) return (base * (at.step + 1)) / warmup;
    const span = Math.max(1, at.totalSteps - warmup);
    const t = Math.min(1, (at.step - warmup) / span);
    return minLr + ((base - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
