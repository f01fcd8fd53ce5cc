// ModelIR -> ONNX bytes. Initializers are written as raw_data (little-endian: nquant only
// runs on little-endian hosts, x64 and arm64, so the TypedArray bytes are already in ONNX
// order). nquant-internal fused nodes are un-fused so onnxruntime can load the file.
import Long from 'long';
import { Attribute, Dim, Graph, ModelIR, Node, ValueInfo } from '../graph/ir';
import { unfuseNode, NQUANT_DOMAIN } from '../graph/passes/fused';
import { Tensor } from '../tensor';
import { AttributeProto, ModelProto, OnnxAttributeType, TypeProto } from './schema';
import { TensorProtoObject, dtypeToOnnx, tensorToProto } from './tensor-proto';

const utf8 = new TextEncoder();
const T = OnnxAttributeType;

function dimProto(d: Dim): object {
  if (typeof d === 'number') return { dimValue: d };
  if (typeof d === 'string') return { dimParam: d };
  return {};
}

function valueInfoProto(v: ValueInfo): object {
  if (v.foreign) return { name: v.name, type: v.foreign.typeProto.length ? TypeProto.decode(v.foreign.typeProto) : {} };
  const tensorType: { elemType: number; shape?: object } = { elemType: dtypeToOnnx(v.dtype) };
  if (v.dims) tensorType.shape = { dim: v.dims.map(dimProto) };
  return { name: v.name, type: { tensorType } };
}

class Exporter {
  constructor(private readonly opset: number) {}

  graph(g: Graph): object {
    const extra = new Map<string, Tensor>();
    const used = new Set<string>([...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
    for (const n of g.nodes) for (const o of n.outputs) used.add(o);
    const ctx = {
      opset: this.opset,
      freshName: (base: string): string => {
        let name = base;
        for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
        used.add(name);
        return name;
      },
      addInitializer: (name: string, t: Tensor): void => { extra.set(name, t); },
    };
    const nodes = g.nodes.flatMap((n) => unfuseNode(n, ctx));
    for (const n of nodes) {
      if (n.domain === NQUANT_DOMAIN) throw new Error(`exportModel: ${n.opType} node '${n.name}' is nquant-internal and has no ONNX equivalent`);
    }
    const initializer: TensorProtoObject[] = [];
    for (const [name, t] of g.initializers) initializer.push(tensorToProto(t, name));
    for (const [name, t] of extra) initializer.push(tensorToProto(t, name));
    // value_info lists intermediate values only; inputs/outputs already carry their types.
    const io = new Set([...g.inputs, ...g.outputs].map((v) => v.name));
    const valueInfo = [...g.valueInfo.values()].filter((v) => !io.has(v.name) && !g.initializers.has(v.name)).map(valueInfoProto);
    const out: { [k: string]: unknown } = {
      name: g.name,
      node: nodes.map((n) => this.node(n)),
      initializer,
      input: g.inputs.map(valueInfoProto),
      output: g.outputs.map(valueInfoProto),
      valueInfo,
    };
    if (g.docString) out.docString = g.docString;
    return out;
  }

  private node(n: Node): object {
    const out: { [k: string]: unknown } = {
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      input: n.inputs,
      output: n.outputs,
      attribute: [...n.attributes].map(([k, a]) => this.attribute(k, a)),
    };
    if (n.docString) out.docString = n.docString;
    return out;
  }

  private attribute(name: string, a: Attribute): object {
    switch (a.type) {
      case 'float': return { name, type: T.FLOAT, f: a.value };
      // Long.fromNumber saturates, so INT64_MAX read as a double is written back exactly.
      case 'int': return { name, type: T.INT, i: Long.fromNumber(a.value) };
      case 'string': return { name, type: T.STRING, s: utf8.encode(a.value) };
      case 'tensor': return { name, type: T.TENSOR, t: tensorToProto(a.value, '') };
      case 'graph': return { name, type: T.GRAPH, g: this.graph(a.value) };
      case 'floats': return { name, type: T.FLOATS, floats: a.value };
      case 'ints': return { name, type: T.INTS, ints: a.value.map((v) => Long.fromNumber(v)) };
      case 'strings': return { name, type: T.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
      case 'tensors': return { name, type: T.TENSORS, tensors: a.value.map((t) => tensorToProto(t, '')) };
      case 'graphs': return { name, type: T.GRAPHS, graphs: a.value.map((g) => this.graph(g)) };
      case 'foreign': return AttributeProto.decode(a.value);
    }
  }
}

/** Writes the model as ONNX bytes that onnxruntime (and importModel) load. */
export function exportModel(model: ModelIR): Uint8Array {
  const opset = model.meta.opsets.get('') ?? 1;
  const graph = new Exporter(opset).graph(model.graph);
  const msg: { [k: string]: unknown } = {
    irVersion: model.meta.irVersion,
    opsetImport: [...model.meta.opsets].map(([domain, version]) => ({ domain, version })),
    graph,
    metadataProps: [...model.meta.metadata].map(([key, value]) => ({ key, value })),
  };
  if (model.meta.producerName) msg.producerName = model.meta.producerName;
  if (model.meta.producerVersion) msg.producerVersion = model.meta.producerVersion;
  if (model.meta.domain) msg.domain = model.meta.domain;
  if (model.meta.modelVersion !== undefined) msg.modelVersion = model.meta.modelVersion;
  if (model.meta.docString) msg.docString = model.meta.docString;
  return ModelProto.encode(msg).finish();
}
