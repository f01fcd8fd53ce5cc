// nquant's compact weight file: what a pruned and clustered model costs on disk when every
// byte is counted. Layout:
//   "NQC1" | u32 LE header length | header (JSON) | ONNX skeleton | payloads
// The ONNX skeleton is the model's graph with the packed initializers emptied (nodes, value
// info, every other initializer; a packed one keeps its name, with no elements). The header lists each packed tensor, its encoding and its
// payload length. Encodings are lossless: a value is stored narrower only when it is exactly
// representable (float16, or int8 × scale for codebooks quantizeCodebooks snapped):
//   clustered  codebook + indices packed at ceil(log2 k) bits; or, when smaller and the layer
//              has an exact-zero cluster, a bitmask of nonzeros + their indices into the k − 1
//              nonzero centroids at ceil(log2(k − 1)) bits
//   sparse     bitmask of nonzeros + the nonzero values (float32 or float16)
//   dense      the values (float32 or float16)
// unpackCompact() rebuilds the exact model (a ClusteredModel when the header says so).
import { cloneGraph } from '../graph/clone';
import { ModelIR } from '../graph/ir';
import { invalidRange, invalidType } from '../errors';
import { exportModel } from '../onnx/export';
import { importModel } from '../onnx/import';
import { Model } from '../runtime/model';
import { ARRAY_TYPES, Tensor } from '../tensor';
import { ClusteredLayer, ClusteredModel } from './cluster';
import { float16BitsToNumber, float32ToFloat16Bits } from '../numeric';

const MAGIC = [0x4e, 0x51, 0x43, 0x31];  // "NQC1"

type ValueType = 'float32' | 'float16' | 'int8';

interface ClusteredEntry {
  kind: 'clustered';
  weight: string;
  codebook: string;
  indices: string;
  dims: number[];
  clusters: number;
  codebookType: ValueType;
  scale?: number;
  /** Stored as bitmask + nonzero indices. */
  sparse: boolean;
  zeroCluster: number;
  bytes: number;
}

interface FloatEntry {
  kind: 'dense' | 'sparse';
  name: string;
  dims: number[];
  valueType: 'float32' | 'float16';
  bytes: number;
}

type Entry = ClusteredEntry | FloatEntry;

interface Header {
  onnxBytes: number;
  tensors: Entry[];
}

export interface CompactTensorReport {
  /** The initializer (for clustered layers: the weight the codebook and indices rebuild). */
  name: string;
  encoding: string;
  elements: number;
  bytes: number;
}

export interface CompactReport {
  totalBytes: number;
  /** Magic, length and the JSON header. */
  headerBytes: number;
  /** The ONNX graph without the packed tensors. */
  skeletonBytes: number;
  tensors: CompactTensorReport[];
}

/** Bits needed to tell `k` values apart (at least 1). */
export function indexBits(k: number): number {
  return Math.max(1, Math.ceil(Math.log2(k)));
}

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;
  put(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/** LSB-first bit packing of `values` (each < 2^bits). */
export function packBits(values: ArrayLike<number>, count: number, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((count * bits) / 8));
  let bit = 0;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    for (let b = 0; b < bits; b++, bit++) if ((v >> b) & 1) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

export function unpackBits(bytes: Uint8Array, count: number, bits: number): Uint8Array {
  const out = new Uint8Array(count);
  let bit = 0;
  for (let i = 0; i < count; i++) {
    let v = 0;
    for (let b = 0; b < bits; b++, bit++) if ((bytes[bit >> 3] >> (bit & 7)) & 1) v |= 1 << b;
    out[i] = v;
  }
  return out;
}

function exactHalf(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (float16BitsToNumber(float32ToFloat16Bits(values[i])) !== values[i] && !Number.isNaN(values[i])) return false;
  return true;
}

function encodeValues(values: Float32Array, type: ValueType, scale = 1): Uint8Array {
  if (type === 'float32') return new Uint8Array(Float32Array.from(values).buffer);
  if (type === 'float16') return new Uint8Array(Uint16Array.from(values, float32ToFloat16Bits).buffer);
  return new Uint8Array(Int8Array.from(values, (v) => Math.round(v / scale)).buffer);
}

function decodeValues(bytes: Uint8Array, count: number, type: ValueType, scale = 1): Float32Array {
  const copy = bytes.slice(0, count * (type === 'float32' ? 4 : type === 'float16' ? 2 : 1));
  if (type === 'float32') return new Float32Array(copy.buffer);
  if (type === 'float16') return Float32Array.from(new Uint16Array(copy.buffer), float16BitsToNumber);
  return Float32Array.from(new Int8Array(copy.buffer), (q) => Math.fround(q * scale));
}

/** int8 × scale reproduces every value exactly (what quantizeCodebooks wrote). */
function exactInt8(values: Float32Array, scale: number): boolean {
  return scale > 0 && values.every((v) => {
    const q = Math.round(v / scale);
    return q >= -127 && q <= 127 && Math.fround(q * scale) === v;
  });
}

function bitmask(values: Float32Array): { mask: Uint8Array; nonzeros: number } {
  const mask = new Uint8Array(Math.ceil(values.length / 8));
  let nonzeros = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== 0 || Object.is(values[i], -0)) {
      mask[i >> 3] |= 1 << (i & 7);
      nonzeros++;
    }
  }
  return { mask, nonzeros };
}

function isSet(mask: Uint8Array, i: number): boolean {
  return ((mask[i >> 3] >> (i & 7)) & 1) === 1;
}

function packClustered(model: ClusteredModel, layer: ClusteredLayer, out: Writer): ClusteredEntry {
  const g = model.ir.graph;
  const codebook = g.initializers.get(layer.codebook)!.data as Float32Array;
  const indices = g.initializers.get(layer.indices)! as Tensor<'uint8'>;
  const k = codebook.length;
  const enc = layer.codebookEncoding;
  let codebookType: ValueType = 'float32';
  let scale: number | undefined;
  if (enc.type === 'int8' && exactInt8(codebook, enc.scale)) {
    codebookType = 'int8';
    scale = enc.scale;
  } else if (exactHalf(codebook)) codebookType = 'float16';
  const n = indices.size;
  const z = layer.zeroCluster >= 0 && codebook[layer.zeroCluster] === 0 ? layer.zeroCluster : -1;
  let nonzeros = n;
  if (z >= 0) {
    nonzeros = 0;
    for (let i = 0; i < n; i++) if (indices.data[i] !== z) nonzeros++;
  }
  const denseBytes = Math.ceil((n * indexBits(k)) / 8);
  const sparseBytes = Math.ceil(n / 8) + Math.ceil((nonzeros * indexBits(k - 1)) / 8);
  const sparse = z >= 0 && sparseBytes < denseBytes;
  const start = out.length;
  const cbValues = sparse ? Float32Array.from([...codebook].filter((_, i) => i !== z)) : codebook;
  out.put(encodeValues(cbValues, codebookType, scale));
  if (sparse) {
    const mask = new Uint8Array(Math.ceil(n / 8));
    const nz = new Uint8Array(nonzeros);
    for (let i = 0, j = 0; i < n; i++) {
      const c = indices.data[i];
      if (c === z) continue;
      mask[i >> 3] |= 1 << (i & 7);
      nz[j++] = c < z ? c : c - 1;
    }
    out.put(mask);
    out.put(packBits(nz, nonzeros, indexBits(k - 1)));
  } else {
    out.put(packBits(indices.data, n, indexBits(k)));
  }
  return {
    kind: 'clustered', weight: layer.weight, codebook: layer.codebook, indices: layer.indices, dims: [...indices.dims], clusters: k,
    codebookType, scale, sparse, zeroCluster: z, bytes: out.length - start,
  };
}

function packFloat(name: string, t: Tensor<'float32'>, out: Writer): FloatEntry {
  const values = t.data;
  const valueType = exactHalf(values) ? 'float16' : 'float32';
  const width = valueType === 'float16' ? 2 : 4;
  const { mask, nonzeros } = bitmask(values);
  const sparse = mask.byteLength + nonzeros * width < values.length * width;
  const start = out.length;
  if (sparse) {
    out.put(mask);
    const nz = new Float32Array(nonzeros);
    for (let i = 0, j = 0; i < values.length; i++) if (isSet(mask, i)) nz[j++] = values[i];
    out.put(encodeValues(nz, valueType));
  } else {
    out.put(encodeValues(values, valueType));
  }
  return { kind: sparse ? 'sparse' : 'dense', name, dims: [...t.dims], valueType, bytes: out.length - start };
}

function encodeAll(model: Model): { header: Header; payload: Uint8Array; skeleton: Uint8Array } {
  const g = model.ir.graph;
  const payload = new Writer();
  const tensors: Entry[] = [];
  const packed = new Set<string>();
  const clustering = model instanceof ClusteredModel ? model.clustering : [];
  for (const layer of clustering) {
    tensors.push(packClustered(model as ClusteredModel, layer, payload));
    packed.add(layer.codebook);
    packed.add(layer.indices);
  }
  for (const [name, t] of g.initializers) {
    if (packed.has(name) || t.dtype !== 'float32' || t.size === 0) continue;
    tensors.push(packFloat(name, t as Tensor<'float32'>, payload));
    packed.add(name);
  }
  const skeletonGraph = cloneGraph(g);
  // Empty placeholders keep the skeleton a valid graph; unpacking fills them.
  for (const name of packed) {
    const t = g.initializers.get(name)!;
    skeletonGraph.initializers.set(name, new Tensor(t.dtype, new ARRAY_TYPES[t.dtype](0) as never, [0]));
  }
  const skeleton = exportModel({ graph: skeletonGraph, meta: model.ir.meta });
  return { header: { onnxBytes: skeleton.byteLength, tensors }, payload: payload.concat(), skeleton };
}

/** The model in nquant's compact format (see the file comment): every byte of it. */
export function packCompact(model: Model): Uint8Array {
  if (!(model instanceof Model)) throw invalidType('model', 'a Model', model);
  if (typeof (model as { pruning?: unknown }).pruning === 'object') {
    throw invalidType('model', 'a model without pruning masks (stripPruning() a PrunedModel first)', 'a PrunedModel');
  }
  const { header, payload, skeleton } = encodeAll(model);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + skeleton.byteLength + payload.byteLength);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, json.byteLength, true);
  out.set(json, 8);
  out.set(skeleton, 8 + json.byteLength);
  out.set(payload, 8 + json.byteLength + skeleton.byteLength);
  return out;
}

/** What packCompact's bytes are made of, tensor by tensor. */
export function compactReport(model: Model): CompactReport {
  const bytes = packCompact(model);
  const headerBytes = 8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, headerBytes))) as Header;
  const tensors = header.tensors.map((e): CompactTensorReport => {
    if (e.kind === 'clustered') {
      const bits = e.sparse ? `bitmask + ${indexBits(e.clusters - 1)}-bit indices of nonzeros` : `${indexBits(e.clusters)}-bit indices`;
      return { name: e.weight, encoding: `clustered k=${e.clusters}: ${e.codebookType} codebook, ${bits}`, elements: e.dims.reduce((p, d) => p * d, 1), bytes: e.bytes };
    }
    return { name: e.name, encoding: `${e.kind === 'sparse' ? 'bitmask + nonzero ' : 'dense '}${e.valueType}`, elements: e.dims.reduce((p, d) => p * d, 1), bytes: e.bytes };
  });
  return { totalBytes: bytes.byteLength, headerBytes, skeletonBytes: header.onnxBytes, tensors };
}

/** Rebuilds the model packCompact wrote (the same weights, bit for bit). */
export function unpackCompact(bytes: Uint8Array): Model {
  if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'a Uint8Array from packCompact()', bytes);
  if (bytes.byteLength < 8 || MAGIC.some((m, i) => bytes[i] !== m)) throw invalidRange('bytes', 'nquant compact bytes starting with "NQC1"', `${bytes.byteLength} bytes starting ${Array.from(bytes.subarray(0, 4)).join(',')}`);
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + jsonLength))) as Header;
  const skeletonStart = 8 + jsonLength;
  const ir: ModelIR = importModel(bytes.subarray(skeletonStart, skeletonStart + header.onnxBytes));
  const g = ir.graph;
  let at = skeletonStart + header.onnxBytes;
  for (const e of header.tensors) {
    if (at + e.bytes > bytes.byteLength) throw invalidRange('bytes', `a payload of ${e.bytes} bytes for '${e.kind === 'clustered' ? e.weight : e.name}' at offset ${at}`, `${bytes.byteLength} bytes in all`);
    const chunk = bytes.subarray(at, at + e.bytes);
    at += e.bytes;
    const n = e.dims.reduce((p, d) => p * d, 1);
    if (e.kind === 'clustered') {
      const stored = e.sparse ? e.clusters - 1 : e.clusters;
      const width = e.codebookType === 'float32' ? 4 : e.codebookType === 'float16' ? 2 : 1;
      const cb = decodeValues(chunk, stored, e.codebookType, e.scale);
      let rest = chunk.subarray(stored * width);
      const indices = new Uint8Array(n);
      let codebook = cb;
      if (e.sparse) {
        const z = e.zeroCluster;
        codebook = new Float32Array(e.clusters);
        codebook.set(cb.subarray(0, z), 0);
        codebook.set(cb.subarray(z), z + 1);
        const mask = rest.subarray(0, Math.ceil(n / 8));
        rest = rest.subarray(mask.byteLength);
        let nonzeros = 0;
        for (let i = 0; i < n; i++) if (isSet(mask, i)) nonzeros++;
        const nz = unpackBits(rest, nonzeros, indexBits(e.clusters - 1));
        for (let i = 0, j = 0; i < n; i++) {
          if (!isSet(mask, i)) indices[i] = z;
          else {
            const c = nz[j++];
            indices[i] = c < z ? c : c + 1;
          }
        }
      } else {
        indices.set(unpackBits(rest, n, indexBits(e.clusters)));
      }
      g.initializers.set(e.codebook, new Tensor('float32', codebook, [e.clusters]));
      g.initializers.set(e.indices, new Tensor('uint8', indices, e.dims));
    } else {
      const values = new Float32Array(n);
      if (e.kind === 'sparse') {
        const mask = chunk.subarray(0, Math.ceil(n / 8));
        let nonzeros = 0;
        for (let i = 0; i < n; i++) if (isSet(mask, i)) nonzeros++;
        const nz = decodeValues(chunk.subarray(mask.byteLength), nonzeros, e.valueType);
        for (let i = 0, j = 0; i < n; i++) if (isSet(mask, i)) values[i] = nz[j++];
      } else {
        values.set(decodeValues(chunk, n, e.valueType));
      }
      g.initializers.set(e.name, new Tensor('float32', values, e.dims));
    }
  }
  const clustered = header.tensors.filter((e): e is ClusteredEntry => e.kind === 'clustered');
  if (clustered.length === 0) return new Model(ir);
  const consumers = g.consumers();
  const layers: ClusteredLayer[] = clustered.map((e) => ({
    node: consumers.get(e.weight)?.[0]?.name ?? '', weight: e.weight, codebook: e.codebook, indices: e.indices, clusters: e.clusters,
    zeroCluster: e.zeroCluster, codebookEncoding: e.codebookType === 'int8' ? { type: 'int8', scale: e.scale! } : { type: e.codebookType },
  }));
  return new ClusteredModel(ir, layers);
}
