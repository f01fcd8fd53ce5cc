// What a shape function sees of a node's inputs, and dim arithmetic that carries symbolic
// dims through where the result is certain (and gives null where it is not).
import { DataType, Tensor } from '../../tensor';
import { Dim, Node, attrInt, attrInts, nodeName } from '../ir';

/** What is known about a value during inference. */
export interface Known {
  dtype?: DataType;
  dims?: Dim[];
  /**
   * Contents of a small tensor, flattened: integers (entries may be symbolic or null), or
   * float32/float64 numbers rounded to their dtype, as the kernels would compute them.
   */
  value?: Dim[];
  /** The full constant, when the value is an initializer or Constant output. */
  tensor?: Tensor;
}

export type ShapeFn = (ctx: InferCtx) => Known[];

/** Values up to this many elements have their contents tracked (shape arithmetic). */
export const MAX_TRACKED = 4096;

export function tensorValue(t: Tensor): Dim[] | undefined {
  if (t.size > MAX_TRACKED) return undefined;
  switch (t.dtype) {
    case 'int64': case 'uint64': case 'int32': case 'uint32': case 'int16': case 'uint16': case 'int8': case 'uint8': case 'bool':
      return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
    default: return undefined;
  }
}

export class InferCtx {
  constructor(readonly node: Node, readonly opset: number, private readonly lookup: (name: string) => Known | undefined) {}

  /** Input i is present (not omitted). */
  has(i: number): boolean {
    return i < this.node.inputs.length && this.node.inputs[i] !== '';
  }

  in(i: number): Known {
    return this.has(i) ? this.lookup(this.node.inputs[i]) ?? {} : {};
  }

  dims(i: number): Dim[] | undefined {
    return this.in(i).dims;
  }

  dtype(i: number): DataType | undefined {
    return this.in(i).dtype;
  }

  value(i: number): Dim[] | undefined {
    return this.in(i).value;
  }

  /** Contents of input i when fully numeric. */
  ints(i: number): number[] | undefined {
    const v = this.value(i);
    return v && v.every(isNum) ? (v as number[]) : undefined;
  }

  /**
   * Contents of input i as tracked values, falling back to a small known float tensor (a
   * constant or a fed value), which tensorValue leaves untracked so that weights are not copied.
   */
  contents(i: number): Dim[] | undefined {
    const k = this.in(i);
    if (k.value) return k.value;
    const t = k.tensor;
    if (!t || !isFloatDtype(t.dtype) || t.size > MAX_TRACKED) return undefined;
    return Array.from(t.data as Float32Array | Float64Array);
  }

  /** Contents of a constant float input (Resize scales, Clip bounds). */
  floats(i: number): number[] | undefined {
    const t = this.in(i).tensor;
    if (!t || t.dtype === 'int64' || t.dtype === 'uint64') return this.ints(i);
    return Array.from(t.data as ArrayLike<number>);
  }

  /** Integer list from an attribute (older opsets) or a constant input (newer): undefined when neither is known. */
  intsFromAttrOrInput(attr: string, input: number): number[] | undefined {
    if (this.node.attributes.has(attr)) return attrInts(this.node, attr);
    return this.has(input) ? this.ints(input) : undefined;
  }

  int(name: string, fallback: number): number {
    return attrInt(this.node, name, fallback);
  }

  ints_(name: string, fallback?: number[]): number[] | undefined {
    return this.node.attributes.has(name) ? attrInts(this.node, name) : fallback;
  }

  fail(message: string): never {
    throw new Error(`${this.node.opType} node '${nodeName(this.node)}': ${message}`);
  }

  axis(axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) this.fail(`axis ${axis} out of range for rank ${rank}`);
    return a;
  }
}

export const isNum = (d: Dim | undefined): d is number => typeof d === 'number';

/** Ranks past this are refused as unknown: a rank read from data (a shape tensor's length) may be hostile. */
export const MAX_RANK = 1024;

/** n unknown dims, for an output whose rank is known (a shape input's length) but not its sizes. */
export function unknownDims(n: Dim | undefined): Dim[] | undefined {
  return isNum(n) && Number.isInteger(n) && n >= 0 && n <= MAX_RANK ? new Array<Dim>(n).fill(null) : undefined;
}

/** Numpy broadcasting of two dims. */
export function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (isNum(a) && isNum(b)) throw new Error(`cannot broadcast ${a} with ${b}`);
  if (isNum(a) && a !== 0) return a;  // a symbolic/unknown dim must be 1 or equal a
  if (isNum(b) && b !== 0) return b;
  return null;
}

export function broadcast(...shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const list = shapes as Dim[][];
  const rank = Math.max(...list.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of list) {
      const k = i - (rank - s.length);
      if (k >= 0) d = broadcastDim(d, s[k]);
    }
    out.push(d);
  }
  return out;
}

/** Product of dims: a number when all known, the lone symbol when the rest are 1, else null. */
export function product(dims: Dim[]): Dim {
  let n = 1;
  const syms: Dim[] = [];
  for (const d of dims) {
    if (isNum(d)) n *= d;
    else syms.push(d);
  }
  if (n === 0) return 0;
  if (syms.length === 0) return n;
  if (syms.length === 1 && n === 1) return syms[0];
  return null;
}

/** a + b (numbers), or the other operand when one is 0. */
export function addDim(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return null;
}

/** Elementwise arithmetic on tracked values (numbers only; symbols survive x*1, x+0...). */
export function arith(op: string, a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) {
    switch (op) {
      case 'Add': return a + b;
      case 'Sub': return a - b;
      case 'Mul': return a * b;
      case 'Div': return b === 0 ? null : Math.trunc(a / b);
      default: return null;
    }
  }
  if ((op === 'Mul' || op === 'Div') && b === 1) return a;
  if (op === 'Mul' && a === 1) return b;
  if ((op === 'Add' || op === 'Sub') && b === 0) return a;
  if (op === 'Add' && a === 0) return b;
  return null;
}

/** The float dtypes whose arithmetic inference reproduces (float16 has no kernels here). */
export type FloatDtype = 'float32' | 'float64';

export function isFloatDtype(dtype: DataType | undefined): dtype is FloatDtype {
  return dtype === 'float32' || dtype === 'float64';
}

/** x as a value of `dtype` holds it: float32 kernels round every result to single precision. */
export function roundToFloat(x: number, dtype: FloatDtype): number {
  return dtype === 'float32' ? Math.fround(x) : x;
}

/**
 * Elementwise float arithmetic on tracked values, rounded as the dtype's kernels round it:
 * a Range bound computed in float32 must give the length the runtime (and ONNX) would.
 */
export function floatArith(op: string, a: Dim, b: Dim, dtype: FloatDtype): Dim {
  if (!isNum(a) || !isNum(b)) return null;
  switch (op) {
    case 'Add': return roundToFloat(a + b, dtype);
    case 'Sub': return roundToFloat(a - b, dtype);
    case 'Mul': return roundToFloat(a * b, dtype);
    case 'Div': return roundToFloat(a / b, dtype);
    default: return null;
  }
}

/** channels_last moves C to the end: [N, spatial..., C] <-> [N, C, spatial...]. */
export const toNchw = (x: Dim[]): Dim[] => [x[0], x[x.length - 1], ...x.slice(1, -1)];
export const toNhwc = (x: Dim[]): Dim[] => [x[0], ...x.slice(2), x[1]];
