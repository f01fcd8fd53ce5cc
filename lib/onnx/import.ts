// ONNX bytes -> ModelIR. Decodes with protobufjs, converts every tensor up front (raw_data,
// typed fields or external files), and validates the graph's wiring (dangling references,
// duplicate producers) so later stages can trust the IR. Every failure is an Error that
// names the node/tensor and what was wrong: hostile or truncated files never crash or hang.
import * as fs from 'fs';
import * as path from 'path';
import Long from 'long';
import { invalidRange, invalidType } from '../errors';
import { resolveLimit } from '../limits';
import { Attribute, Dim, Graph, ModelIR, ModelMeta, Node, ValueInfo } from '../graph/ir';
import { AttributeProto, ModelProto, OnnxAttributeType, TypeProto } from './schema';
import { TensorDecodeOptions, TensorProtoObject, dtypeFromOnnx, tensorFromProto, toNumber } from './tensor-proto';
import { describeTypeProto } from './type-proto';

export interface ImportOptions {
  /** Directory external data locations are resolved against (and confined to). */
  baseDir?: string;
  /** Refuse any single tensor larger than this many bytes. Default: getLimits().maxTensorBytes (2^32). */
  maxBytes?: number;
  /** Refuse a model whose file, or whose tensors in total, exceed this many bytes. Default: getLimits().maxModelBytes (2^34). */
  maxModelBytes?: number;
}

/** Supported ModelProto.ir_version range (IR 11 only adds types/fields nquant ignores). */
export const IR_VERSION_MIN = 3;
export const IR_VERSION_MAX = 11;

// Shapes of the decoded protobufjs messages we read (int64 fields arrive as Long).
type Int64 = number | Long;
interface DimensionMsg { dimValue?: Int64; dimParam?: string }
interface TypeMsg { tensorType?: { elemType?: number; shape?: { dim?: DimensionMsg[] } | null } | null }
interface ValueInfoMsg { name?: string; type?: TypeMsg | null; docString?: string }
interface AttributeMsg {
  name?: string; type?: number; refAttrName?: string; docString?: string;
  f?: number; i?: Int64; s?: Uint8Array; t?: TensorProtoObject | null; g?: GraphMsg | null;
  floats?: number[]; ints?: Int64[]; strings?: Uint8Array[]; tensors?: TensorProtoObject[]; graphs?: GraphMsg[];
}
interface NodeMsg { name?: string; opType?: string; domain?: string; input?: string[]; output?: string[]; attribute?: AttributeMsg[]; docString?: string }
interface GraphMsg {
  name?: string; node?: NodeMsg[]; initializer?: TensorProtoObject[]; input?: ValueInfoMsg[];
  output?: ValueInfoMsg[]; valueInfo?: ValueInfoMsg[]; docString?: string;
}
interface ModelMsg {
  irVersion?: Int64; opsetImport?: { domain?: string; version?: Int64 }[]; producerName?: string;
  producerVersion?: string; domain?: string; modelVersion?: Int64; docString?: string;
  graph?: GraphMsg | null; metadataProps?: { key?: string; value?: string }[];
}

const utf8 = new TextDecoder('utf-8');
const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** How errors name a node: its op and name (or position when unnamed). */
export function nodeLabel(node: { opType?: string; name?: string }, index?: number): string {
  const name = node.name || (index !== undefined ? `#${index}` : '(unnamed)');
  return `${node.opType || '(no op_type)'} node '${name}'`;
}

/** Default domain spelled the one way the IR uses. */
export function normalizeDomain(domain: string | undefined): string {
  return !domain || domain === 'ai.onnx' ? '' : domain;
}

class Importer {
  private readonly tensorOpts: TensorDecodeOptions;

  constructor(private readonly opts: ImportOptions) {
    this.tensorOpts = {
      maxBytes: resolveLimit('maxTensorBytes', opts.maxBytes, 'maxBytes'),
      modelBytes: { used: 0, max: resolveLimit('maxModelBytes', opts.maxModelBytes) },
      readExternal: (p, what, n) => this.readExternal(p, what, n),
    };
  }

  model(msg: ModelMsg): ModelIR {
    const irVersion = toNumber(msg.irVersion);
    if (irVersion < IR_VERSION_MIN || irVersion > IR_VERSION_MAX) {
      throw invalidRange('ONNX model ir_version', `${IR_VERSION_MIN}..${IR_VERSION_MAX}`, irVersion);
    }
    if (!msg.graph) throw invalidRange('ONNX model', 'a graph', 'no graph (empty, truncated or not an ONNX file)');
    const opsets = new Map<string, number>();
    for (const o of msg.opsetImport ?? []) opsets.set(normalizeDomain(o.domain), toNumber(o.version));
    if (!opsets.has('')) {
      // IR 3+ models must import the default domain; an empty list means opset 1 in old files.
      if ((msg.opsetImport ?? []).length === 0) opsets.set('', 1);
    }
    const meta: ModelMeta = {
      irVersion,
      opsets,
      producerName: msg.producerName || undefined,
      producerVersion: msg.producerVersion || undefined,
      domain: msg.domain || undefined,
      modelVersion: msg.modelVersion !== undefined && toNumber(msg.modelVersion) !== 0 ? toNumber(msg.modelVersion) : undefined,
      docString: msg.docString || undefined,
      metadata: new Map((msg.metadataProps ?? []).map((e) => [e.key ?? '', e.value ?? ''])),
    };
    const graph = this.graph(msg.graph, new Set(), 'graph');
    return { graph, meta };
  }

  private graph(g: GraphMsg, outer: ReadonlySet<string>, where: string): Graph {
    const graph = new Graph();
    graph.name = g.name || 'graph';
    graph.docString = g.docString || undefined;
    const scope = new Set(outer);
    for (const t of g.initializer ?? []) {
      const name = t.name ?? '';
      if (!name) throw invalidRange(`${where} initializer`, 'a name', '""');
      if (graph.initializers.has(name)) throw invalidRange(`${where} initializer '${name}'`, 'a unique name', 'a duplicate');
      graph.initializers.set(name, tensorFromProto(t, `${where} initializer '${name}'`, this.tensorOpts));
      scope.add(name);
    }
    graph.inputs = (g.input ?? []).map((v) => this.valueInfo(v, `${where} input`));
    graph.outputs = (g.output ?? []).map((v) => this.valueInfo(v, `${where} output`));
    for (const v of g.valueInfo ?? []) {
      const vi = this.valueInfo(v, `${where} value_info`);
      graph.valueInfo.set(vi.name, vi);
    }
    for (const i of graph.inputs) scope.add(i.name);

    // First pass: who produces what (SSA: once), so subgraphs see every name of this scope.
    const producer = new Map<string, string>();
    const nodes = g.node ?? [];
    nodes.forEach((n, index) => {
      for (const o of n.output ?? []) {
        if (!o) continue;
        const label = nodeLabel(n, index);
        const prior = producer.get(o);
        if (prior) throw new Error(`${where}: ${label}: output '${o}' is already produced by ${prior}`);
        if (graph.initializers.has(o) || graph.inputs.some((i) => i.name === o)) {
          throw new Error(`${where}: ${label}: output '${o}' duplicates a graph input or initializer`);
        }
        producer.set(o, label);
        scope.add(o);
      }
    });
    graph.nodes = nodes.map((n, index) => this.node(n, index, scope, where));
    nodes.forEach((n, index) => {
      for (const i of n.input ?? []) {
        if (i && !scope.has(i)) throw new Error(`${where}: ${nodeLabel(n, index)}: input '${i}' is not a graph input, initializer or output of any node`);
      }
    });
    for (const o of graph.outputs) {
      if (!scope.has(o.name)) throw new Error(`${where}: output '${o.name}' is not produced by any node, input or initializer`);
    }
    return graph;
  }

  private node(n: NodeMsg, index: number, scope: ReadonlySet<string>, where: string): Node {
    const label = nodeLabel(n, index);
    if (!n.opType) throw new Error(`${where}: node #${index} ('${n.name ?? ''}'): op_type is empty`);
    const attributes = new Map<string, Attribute>();
    for (const a of n.attribute ?? []) {
      const name = a.name ?? '';
      if (attributes.has(name)) throw new Error(`${where}: ${label}: attribute '${name}' appears twice`);
      attributes.set(name, this.attribute(a, `${where}: ${label} attribute '${name}'`, scope));
    }
    const node: Node = {
      name: n.name ?? '',
      opType: n.opType,
      domain: normalizeDomain(n.domain),
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attributes,
    };
    if (n.docString) node.docString = n.docString;
    return node;
  }

  private attribute(a: AttributeMsg, what: string, scope: ReadonlySet<string>): Attribute {
    const T = OnnxAttributeType;
    let type = a.type ?? 0;
    if (a.refAttrName) type = -1;  // only meaningful inside function bodies: keep verbatim
    if (type === T.UNDEFINED) type = guessAttributeType(a);
    switch (type) {
      case T.FLOAT: return { type: 'float', value: a.f ?? 0 };
      case T.INT: return { type: 'int', value: longToNumber(a.i) };
      // An absent bytes field reads as protobufjs's default, a plain empty array, not bytes.
      case T.STRING: return { type: 'string', value: utf8.decode(a.s instanceof Uint8Array ? a.s : new Uint8Array(0)) };
      case T.TENSOR:
        if (!a.t) throw new Error(`${what}: type TENSOR but no tensor`);
        return { type: 'tensor', value: tensorFromProto(a.t, what, this.tensorOpts) };
      case T.GRAPH:
        if (!a.g) throw new Error(`${what}: type GRAPH but no graph`);
        return { type: 'graph', value: this.graph(a.g, scope, what) };
      case T.FLOATS: return { type: 'floats', value: [...(a.floats ?? [])] };
      case T.INTS: return { type: 'ints', value: (a.ints ?? []).map(longToNumber) };
      case T.STRINGS: return { type: 'strings', value: (a.strings ?? []).map((s) => utf8.decode(s)) };
      case T.TENSORS: return { type: 'tensors', value: (a.tensors ?? []).map((t, k) => tensorFromProto(t, `${what}[${k}]`, this.tensorOpts)) };
      case T.GRAPHS: return { type: 'graphs', value: (a.graphs ?? []).map((g, k) => this.graph(g, scope, `${what}[${k}]`)) };
      case T.SPARSE_TENSOR: case T.SPARSE_TENSORS: case T.TYPE_PROTO: case T.TYPE_PROTOS: case -1:
        return { type: 'foreign', value: AttributeProto.encode(a).finish(), onnxType: a.type ?? 0 };
      default:
        throw invalidRange(what, 'a known AttributeProto type', `type ${type}`);
    }
  }

  private valueInfo(v: ValueInfoMsg, where: string): ValueInfo {
    const name = v.name ?? '';
    if (!name) throw invalidRange(`${where}`, 'a name', '""');
    const t = v.type;
    const tt = t?.tensorType;
    let dims: Dim[] | undefined;
    if (tt && tt.shape) {
      dims = (tt.shape.dim ?? []).map((d, k): Dim => {
        if (has(d, 'dimValue')) {
          const n = toNumber(d.dimValue, `${where} '${name}' dim ${k}`);
          if (n < 0) throw invalidRange(`${where} '${name}' dim ${k}`, 'a non-negative size', n);
          return n;
        }
        return d.dimParam ? d.dimParam : null;
      });
    }
    if (tt && has(tt, 'elemType')) {
      try {
        const info: ValueInfo = { name, dtype: dtypeFromOnnx(tt.elemType ?? 0, name) };
        if (dims) info.dims = dims;
        return info;
      } catch {
        // A tensor type nquant cannot compute with (string, bfloat16, float8...): carried.
      }
    }
    const typeProto = t ? TypeProto.encode(t).finish() : new Uint8Array(0);
    const info: ValueInfo = { name, dtype: 'uint8', foreign: { description: describeTypeProto(t ?? null), typeProto } };
    if (dims) info.dims = dims;
    return info;
  }

  private readExternal(proto: TensorProtoObject, what: string, expected: number): Uint8Array {
    const keys = new Map((proto.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = keys.get('location');
    if (!location) throw invalidRange(`${what} external_data`, "a 'location' key", [...keys.keys()].join(','));
    if (!this.opts.baseDir) throw invalidRange(`${what} external data '${location}'`, 'a baseDir to resolve it against (use importModelFile or opts.baseDir)', 'none');
    const base = path.resolve(this.opts.baseDir);
    const file = path.resolve(base, location);
    const inside = (root: string, p: string): boolean => {
      const rel = path.relative(root, p);
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    };
    if (path.isAbsolute(location) || !inside(base, file)) {
      throw invalidRange(`${what} external data location`, `a path inside ${base}`, location);
    }
    if (!fs.existsSync(file)) throw invalidRange(`${what} external data location`, 'an existing file', location);
    // Symlinks must not lead out of baseDir either.
    if (!inside(fs.realpathSync(base), fs.realpathSync(file))) {
      throw invalidRange(`${what} external data location`, `a file whose real path is inside ${base}`, location);
    }
    const offset = keys.has('offset') ? Number(keys.get('offset')) : 0;
    const length = keys.has('length') ? Number(keys.get('length')) : expected;
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidRange(`${what} external data offset`, 'a non-negative integer', keys.get('offset'));
    if (length !== expected) throw invalidRange(`${what} external data length`, `${expected} bytes for its dims`, keys.get('length'));
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (offset + length > size) {
        throw invalidRange(`${what} external data`, `${length} bytes at offset ${offset} inside ${location}`, `a file of ${size} bytes`);
      }
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, buf, done, length - done, offset + done);
        if (n <= 0) throw new Error(`${what}: external data file ${location} ended early`);
        done += n;
      }
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  }
}

function longToNumber(v: Int64 | undefined): number {
  // Attributes such as Slice ends use INT64_MAX; a lossy double saturates back to it on export.
  if (v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function guessAttributeType(a: AttributeMsg): number {
  const T = OnnxAttributeType;
  if (a.t) return T.TENSOR;
  if (a.g) return T.GRAPH;
  if (a.floats?.length) return T.FLOATS;
  if (a.ints?.length) return T.INTS;
  if (a.strings?.length) return T.STRINGS;
  if (a.tensors?.length) return T.TENSORS;
  if (a.graphs?.length) return T.GRAPHS;
  if (has(a, 's')) return T.STRING;
  if (has(a, 'i')) return T.INT;
  if (has(a, 'f')) return T.FLOAT;
  return T.UNDEFINED;
}

function checkModelBytes(size: number, maxModelBytes: number | undefined, file?: string): void {
  const max = resolveLimit('maxModelBytes', maxModelBytes);
  if (size > max) throw new RangeError(`ONNX model${file ? ` ${file}` : ''}: expected at most ${max} bytes (the maxModelBytes limit), received ${size} bytes`);
}

/** Decodes ONNX model bytes into the IR. */
export function importModel(bytes: Uint8Array, opts: ImportOptions = {}): ModelIR {
  if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'a Uint8Array of ONNX model bytes', bytes);
  checkModelBytes(bytes.byteLength, opts.maxModelBytes);
  let msg: ModelMsg;
  try {
    msg = ModelProto.decode(bytes) as unknown as ModelMsg;
  } catch (e) {
    throw new Error(`ONNX model: malformed protobuf, not an ONNX model or truncated (${(e as Error).message})`);
  }
  try {
    return new Importer(opts).model(msg);
  } catch (e) {
    // A deep (hostile) nesting of subgraphs overflows the stack: report it like other errors.
    if (e instanceof RangeError && /call stack/.test(e.message)) throw new Error('ONNX model: subgraphs nested too deeply');
    throw e;
  }
}

/** Reads an .onnx file; external data is resolved next to it. */
export function importModelFile(file: string, opts: Omit<ImportOptions, 'baseDir'> = {}): ModelIR {
  if (typeof file !== 'string') throw invalidType('path', 'a file path string', file);
  checkModelBytes(fs.statSync(file).size, opts.maxModelBytes, file);  // before reading it whole
  const bytes = fs.readFileSync(file);
  return importModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { ...opts, baseDir: path.dirname(path.resolve(file)) });
}

export interface UnsupportedOp {
  /** 'Conv' for the default domain, 'com.microsoft:FusedMatMul' otherwise. */
  op: string;
  /** Names (or #index) of the nodes using it, subgraphs included. */
  nodes: string[];
}

/**
 * Ops in the graph (and its subgraphs) that are not in `supported`. Keys follow UnsupportedOp.op:
 * the bare op type for the default domain, 'domain:OpType' for others.
 */
export function unsupportedOps(graph: Graph, supported: Set<string>): UnsupportedOp[] {
  const found = new Map<string, string[]>();
  const visit = (g: Graph): void => {
    g.nodes.forEach((n, i) => {
      const key = n.domain ? `${n.domain}:${n.opType}` : n.opType;
      if (!supported.has(key)) {
        const list = found.get(key) ?? [];
        list.push(n.name || `#${i}`);
        found.set(key, list);
      }
      for (const a of n.attributes.values()) {
        if (a.type === 'graph') visit(a.value);
        else if (a.type === 'graphs') a.value.forEach(visit);
      }
    });
  };
  visit(graph);
  return [...found.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([op, nodes]) => ({ op, nodes }));
}
