// The graph IR every part of nquant works on: ONNX import produces it, passes and
// quantization rewrite it, the runtime plans and runs it, export writes it back.
// It mirrors ONNX's model (so round trips are lossless) with typed attributes and a
// mutable node list.
import { DataType, Tensor } from '../tensor';

/** A dimension: a size, a symbolic name (e.g. 'batch'), or null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DataType;
  /** undefined: rank unknown. */
  dims?: Dim[];
  /**
   * Set when the ONNX type has no nquant DataType (string or bfloat16/float8 tensors,
   * sequences, optionals, maps). nquant cannot compute with such a value; `dtype` is then a
   * placeholder ('uint8') and must not be trusted. Export writes `typeProto` back verbatim.
   */
  foreign?: ForeignType;
}

export interface ForeignType {
  /** Human-readable, e.g. 'tensor(string)', 'seq(tensor(float))'. */
  description: string;
  /** The encoded onnx.TypeProto, so import -> export is lossless. */
  typeProto: Uint8Array;
}

export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  /**
   * Attribute kinds nquant never interprets (TypeProto, sparse tensors): the encoded
   * onnx.AttributeProto, written back verbatim on export.
   */
  | { type: 'foreign'; value: Uint8Array; onnxType: number };

export interface Node {
  name: string;
  opType: string;
  /** '' (or 'ai.onnx') for the default domain, e.g. 'com.microsoft' otherwise. */
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Attribute>;
  docString?: string;
}

export class Graph {
  name = 'graph';
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  /** Constant tensors by value name (ONNX initializers). */
  initializers = new Map<string, Tensor>();
  /** Known types/shapes of intermediate values. */
  valueInfo = new Map<string, ValueInfo>();
  docString?: string;

  /** Graph inputs that are not initializers: what a caller must feed. */
  get feedInputs(): ValueInfo[] {
    return this.inputs.filter((i) => !this.initializers.has(i.name));
  }

  /** The node producing each value. */
  producers(): Map<string, Node> {
    const out = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) out.set(o, n);
    return out;
  }

  /** The nodes reading each value. */
  consumers(): Map<string, Node[]> {
    const out = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        const list = out.get(i);
        if (list) list.push(n);
        else out.set(i, [n]);
      }
    }
    return out;
  }
}

export interface ModelMeta {
  irVersion: number;
  /** Opset version per domain ('' is the default ONNX domain). */
  opsets: Map<string, number>;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  metadata: Map<string, string>;
}

/** A graph with its model-level metadata: what an .onnx file holds. */
export interface ModelIR {
  graph: Graph;
  meta: ModelMeta;
}

/**
 * How messages name a node: its name, or for an unnamed one (ONNX allows them, and its own test
 * models use them) the value it produces, which SSA makes unique: '-> y'.
 */
export function nodeName(node: Pick<Node, 'name' | 'outputs'>): string {
  return node.name || `-> ${node.outputs.find((o) => o) ?? '(no output)'}`;
}

// Attribute accessors that name the node and attribute in their errors.
export function attrInt(node: Node, name: string, fallback?: number): number {
  const a = node.attributes.get(name);
  if (!a) {
    if (fallback === undefined) throw new RangeError(`${node.opType} node '${nodeName(node)}': missing attribute '${name}'`);
    return fallback;
  }
  if (a.type !== 'int') throw new TypeError(`${node.opType} node '${nodeName(node)}': attribute '${name}' expected int, received ${a.type}`);
  return a.value;
}

export function attrFloat(node: Node, name: string, fallback?: number): number {
  const a = node.attributes.get(name);
  if (!a) {
    if (fallback === undefined) throw new RangeError(`${node.opType} node '${nodeName(node)}': missing attribute '${name}'`);
    return fallback;
  }
  if (a.type !== 'float' && a.type !== 'int') throw new TypeError(`${node.opType} node '${nodeName(node)}': attribute '${name}' expected float, received ${a.type}`);
  return a.value;
}

export function attrInts(node: Node, name: string, fallback?: number[]): number[] {
  const a = node.attributes.get(name);
  if (!a) {
    if (fallback === undefined) throw new RangeError(`${node.opType} node '${nodeName(node)}': missing attribute '${name}'`);
    return fallback;
  }
  if (a.type !== 'ints') throw new TypeError(`${node.opType} node '${nodeName(node)}': attribute '${name}' expected ints, received ${a.type}`);
  return a.value;
}

export function attrString(node: Node, name: string, fallback?: string): string {
  const a = node.attributes.get(name);
  if (!a) {
    if (fallback === undefined) throw new RangeError(`${node.opType} node '${nodeName(node)}': missing attribute '${name}'`);
    return fallback;
  }
  if (a.type !== 'string') throw new TypeError(`${node.opType} node '${nodeName(node)}': attribute '${name}' expected string, received ${a.type}`);
  return a.value;
}
