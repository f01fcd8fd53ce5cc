// What quantization did, node by node, and how much each quantized tensor lost: the report
// a QuantizedModel carries (like onnxruntime's qdq_loss_debug or PyTorch's Numeric Suite).
import type { Feeds, Model } from '../runtime/model';
import type { Tensor } from '../tensor';
import type { CalibrationMethod } from './calibration/observers';
import type { QParams } from './qparams';
import type { WeightReport } from './qdq-builder';

export interface TensorReport {
  tensor: string;
  dtype: QParams['dtype'];
  scale: number;
  zeroPoint: number;
  /** The float range calibration chose (static), before it became scale and zero point. */
  range?: { min: number; max: number };
  /** Signal-to-quantization-noise ratio in dB of this tensor on the report batches. */
  sqnr?: number;
}

export interface NodeReport {
  name: string;
  opType: string;
  quantized: boolean;
  /** Why the node stays in float. */
  reason?: string;
  /** Set when the node (a Relu/Clip) was absorbed into its producer's output range. */
  fusedInto?: string;
  output?: TensorReport;
  weight?: WeightReport;
}

export interface QuantReport {
  mode: 'static' | 'dynamic';
  method?: CalibrationMethod;
  /** Calibration batches seen. */
  batches?: number;
  nodes: NodeReport[];
  /** Nodes left in float, with the reason (also in nodes). */
  float: { name: string; opType: string; reason: string }[];
  sizeBytes: { before: number; after: number; ratio: number };
  /** SQNR in dB of each model output, quantized vs float, on the report batches. */
  outputSqnr: { [output: string]: number };
}

/** Accumulates signal and noise energy over batches, so SQNR covers all of them. */
export class SqnrMeter {
  private signal = new Map<string, number>();
  private noise = new Map<string, number>();

  add(name: string, reference: Float32Array, actual: ArrayLike<number>): void {
    if (reference.length !== actual.length) throw new RangeError(`SQNR of '${name}': expected ${reference.length} values, received ${actual.length}`);
    let s = 0, n = 0;
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i], d = r - actual[i];
      s += r * r;
      n += d * d;
    }
    this.signal.set(name, (this.signal.get(name) ?? 0) + s);
    this.noise.set(name, (this.noise.get(name) ?? 0) + n);
  }

  /** dB; Infinity when nothing was lost, NaN for a tensor never measured. */
  sqnr(name: string): number {
    const s = this.signal.get(name), n = this.noise.get(name);
    if (s === undefined || n === undefined) return NaN;
    if (n === 0) return Infinity;
    if (s === 0) return -Infinity;
    return 10 * Math.log10(s / n);
  }
}

/** Dequantizes captured integer values with their parameters. */
export function dequantize(t: Tensor, q: QParams): Float32Array {
  const src = t.data as ArrayLike<number>;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = (src[i] - q.zeroPoint) * q.scale;
  return out;
}

/**
 * Runs the float and the quantized model on the same batches: SQNR of each listed tensor
 * (float value vs the quantized model's integer value, dequantized) and of every output.
 */
export async function measureSqnr(
  float: Model,
  quantized: Model,
  batches: Feeds[],
  tensors: Map<string, { capture: string; params: QParams }>,
): Promise<{ tensors: SqnrMeter; outputs: SqnrMeter }> {
  const tensorMeter = new SqnrMeter();
  const outputMeter = new SqnrMeter();
  const usable = [...tensors].filter(([, t]) => quantized.canCapture(t.capture));
  for (const feeds of batches) {
    const ref = await float.run(feeds, { capture: usable.map(([name]) => name) });
    const got = await quantized.run(feeds, { capture: usable.map(([, t]) => t.capture) });
    for (const [name, t] of usable) {
      const r = ref[name], q = got[t.capture];
      if (!r || !q || r.dtype !== 'float32') continue;
      tensorMeter.add(name, r.data as Float32Array, q.dtype === 'float32' ? (q.data as Float32Array) : dequantize(q, t.params));
    }
    for (const o of float.outputs) {
      const r = ref[o.name], q = got[o.name];
      if (r && q && r.dtype === 'float32' && q.dtype === 'float32') outputMeter.add(o.name, r.data as Float32Array, q.data as Float32Array);
    }
  }
  return { tensors: tensorMeter, outputs: outputMeter };
}
