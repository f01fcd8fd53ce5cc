// toFp16: float32 weights stored as float16, optionally activations too, computing in float32.
// The file keeps each half-precision weight as a float16 initializer read through a Cast to
// float, which onnxruntime's CPU provider runs as is (its float32 kernels, FP32 accumulation);
// nquant's constant folding widens those Casts once at load, so runs cost nothing extra.
// With activations, every float32 value between nodes is stored as float16 (Cast pairs) and
// the graph's float inputs and outputs become float16.
import { cloneGraph } from '../graph/clone';
import { Graph, ModelIR, Node } from '../graph/ir';
import { freshName, readers, renameReads } from '../graph/passes/util';
import { inferShapes } from '../graph/shape-inference';
import { sortGraph } from '../graph/topo';
import { invalidType } from '../errors';
import { FLOAT16_MAX, float32ToFloat16Bits } from '../numeric';
import { OnnxDataType } from '../onnx/schema';
import { isExcluded } from '../quant/options';
import { Model, ModelOptions } from '../runtime/model';
import { Tensor } from '../tensor';
import { resolveFp16Options, ResolvedFp16Options, ToFp16Options } from './fp16-options';

export interface Fp16Report {
  /** float32 initializers now stored as float16. */
  converted: string[];
  /** float32 initializers left as they were, and why. */
  kept: { name: string; reason: string }[];
  /** Values between nodes stored as float16 (activations option). */
  activations: number;
  weightBytes: { before: number; after: number; ratio: number };
  sizeBytes: { before: number; after: number; ratio: number };
}

/** A model whose weights (and optionally activations) are stored in half precision. */
export class Fp16Model extends Model {
  constructor(ir: ModelIR, readonly report: Fp16Report, options: ModelOptions = {}) {
    super(ir, options);
  }
}

// Inputs read as sizes or coordinates at shape-inference time, which must stay exact constants.
const SHAPE_READERS: { [op: string]: number[] } = { Resize: [1, 2], Upsample: [1], Range: [0, 1, 2], ConstantOfShape: [0] };

function cast(name: string, input: string, output: string, to: number): Node {
  return { name, opType: 'Cast', domain: '', inputs: [input], outputs: [output], attributes: new Map([['to', { type: 'int' as const, value: to }]]) };
}

function toHalf(t: Tensor): Tensor<'float16'> {
  const src = t.data as Float32Array;
  const bits = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = float32ToFloat16Bits(src[i]);
  return new Tensor('float16', bits, [...t.dims]);
}

function whyKept(graph: Graph, name: string, t: Tensor, readBy: Node[], o: ResolvedFp16Options): string | undefined {
  if (graph.inputs.some((i) => i.name === name)) return 'also a graph input (overridable)';
  if (t.size < o.minElements) return `fewer than opts.minElements (${o.minElements}) elements`;
  const excluded = readBy.find((n) => isExcluded(n.name, o.nodesToExclude));
  if (excluded) return `read by '${excluded.name}', excluded by opts.nodesToExclude`;
  const shapeReader = readBy.find((n) => n.domain === '' && (SHAPE_READERS[n.opType] ?? []).some((i) => n.inputs[i] === name));
  if (shapeReader) return `read as sizes by ${shapeReader.opType} '${shapeReader.name}'`;
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    if (Math.abs(data[i]) > FLOAT16_MAX) return `holds ${data[i]}, beyond float16's range (+-${FLOAT16_MAX})`;
  }
  return undefined;
}

/**
 * Constant nodes holding float32 tensors (how some exporters store every weight) become
 * initializers, so one path converts all weights.
 */
function constantsToInitializers(graph: Graph): void {
  graph.nodes = graph.nodes.filter((n) => {
    const value = n.attributes.get('value');
    if (n.opType !== 'Constant' || n.domain !== '' || n.attributes.size !== 1 || value?.type !== 'tensor' || value.value.dtype !== 'float32') return true;
    if (graph.outputs.some((o) => o.name === n.outputs[0])) return true;
    graph.initializers.set(n.outputs[0], value.value);
    return false;
  });
}

function convertWeights(graph: Graph, o: ResolvedFp16Options, report: Fp16Report): void {
  constantsToInitializers(graph);
  const readBy = readers(graph);
  const casts: Node[] = [];
  for (const [name, t] of [...graph.initializers]) {
    if (t.dtype !== 'float32') continue;
    const why = whyKept(graph, name, t, readBy.get(name) ?? [], o);
    if (why) { report.kept.push({ name, reason: why }); continue; }
    const half = toHalf(t);
    const stored = freshName(graph, `${name}_fp16`);
    graph.initializers.delete(name);
    graph.initializers.set(stored, half);
    casts.push(cast(`${name}_to_float`, stored, name, OnnxDataType.FLOAT));
    report.converted.push(name);
    report.weightBytes.before += t.size * 4;
    report.weightBytes.after += t.size * 2;
  }
  graph.nodes.unshift(...casts);
}

/** Every float32 value a node writes goes through float16; float32 graph I/O becomes float16. */
function halveActivations(graph: Graph, opsets: ReadonlyMap<string, number>, o: ResolvedFp16Options, report: Fp16Report): void {
  const probe = cloneGraph(graph);
  inferShapes(probe, opsets);
  const dtypeOf = (v: string) => probe.valueInfo.get(v)?.dtype ?? probe.outputs.find((x) => x.name === v)?.dtype;
  const added: Node[] = [];
  for (const input of graph.inputs) {
    if (input.dtype !== 'float32' || input.foreign || graph.initializers.has(input.name)) continue;
    const wide = freshName(graph, `${input.name}_float`);
    renameReads(graph, input.name, wide);
    added.push(cast(`${input.name}_to_float`, input.name, wide, OnnxDataType.FLOAT));
    input.dtype = 'float16';
  }
  const outputs = new Set(graph.outputs.map((x) => x.name));
  for (const node of [...graph.nodes]) {
    // Constants are weights (convertWeights stores them as float16); Casts choose their own type.
    if (node.opType === 'Cast' || node.opType === 'Constant' || isExcluded(node.name, o.nodesToExclude)) continue;
    node.outputs = node.outputs.map((v) => {
      if (!v || dtypeOf(v) !== 'float32') return v;
      const wide = freshName(graph, `${v}_float`);
      if (outputs.has(v)) {
        added.push(cast(`${v}_to_half`, wide, v, OnnxDataType.FLOAT16));
        const out = graph.outputs.find((x) => x.name === v)!;
        out.dtype = 'float16';
      } else {
        const half = freshName(graph, `${v}_half`);
        added.push(cast(`${v}_to_half`, wide, half, OnnxDataType.FLOAT16), cast(`${v}_from_half`, half, v, OnnxDataType.FLOAT));
      }
      report.activations++;
      return wide;
    });
  }
  for (const v of graph.valueInfo.keys()) if (dtypeOf(v) === 'float32') graph.valueInfo.delete(v);
  graph.nodes.push(...added);
}

export async function toFp16(model: Model, opts: ToFp16Options = {}): Promise<Fp16Model> {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model (from load())', model);
  const o = resolveFp16Options(opts);
  const graph = cloneGraph(model.ir.graph);
  const report: Fp16Report = {
    converted: [], kept: [], activations: 0,
    weightBytes: { before: 0, after: 0, ratio: 1 }, sizeBytes: { before: model.sizeBytes(), after: 0, ratio: 1 },
  };
  if (o.activations) halveActivations(graph, model.ir.meta.opsets, o, report);
  convertWeights(graph, o, report);
  sortGraph(graph);
  report.weightBytes.ratio = report.weightBytes.after > 0 ? report.weightBytes.before / report.weightBytes.after : 1;
  const result = new Fp16Model({ graph, meta: { ...model.ir.meta, opsets: new Map(model.ir.meta.opsets) } }, report);
  report.sizeBytes.after = result.sizeBytes();
  report.sizeBytes.ratio = report.sizeBytes.before / report.sizeBytes.after;
  return result;
}
