// Writes small ONNX models from code: benchmark peers, tests, and later the layer builder.
import { Tensor } from '../tensor';
import { ModelProto, OnnxAttributeType } from './schema';
import { TensorProtoObject, dtypeToOnnx, tensorToProto } from './tensor-proto';
import { DataType } from '../tensor';

export type AttributeValue = number | string | number[] | Tensor | { ints: number[] } | { floats: number[] };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: { [name: string]: AttributeValue };
}

export interface ValueSpec {
  name: string;
  dtype: DataType;
  /** number for a fixed dim, string for a symbolic one. */
  dims: (number | string)[];
}

export interface ModelSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: { [name: string]: Tensor };
  opset?: number;
  /** Extra opset domains, e.g. { 'com.microsoft': 1 }. */
  domains?: { [domain: string]: number };
  graphName?: string;
}

function attribute(name: string, value: AttributeValue): object {
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: OnnxAttributeType.INT, i: value }
      : { name, type: OnnxAttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(value) };
  if (value instanceof Tensor) return { name, type: OnnxAttributeType.TENSOR, t: tensorToProto(value, name) };
  if (Array.isArray(value)) return { name, type: OnnxAttributeType.INTS, ints: value };
  if ('ints' in value) return { name, type: OnnxAttributeType.INTS, ints: value.ints };
  return { name, type: OnnxAttributeType.FLOATS, floats: value.floats };
}

function valueInfo(v: ValueSpec): object {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: dtypeToOnnx(v.dtype),
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const initializers: TensorProtoObject[] = Object.entries(spec.initializers ?? {}).map(([name, t]) => tensorToProto(t, name));
  const opsetImport = [{ domain: '', version: spec.opset ?? 17 }];
  for (const [domain, version] of Object.entries(spec.domains ?? {})) opsetImport.push({ domain, version });
  const model = {
    irVersion: 8,
    producerName: 'nquant',
    opsetImport,
    graph: {
      name: spec.graphName ?? 'graph',
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.opType}_${i}`,
        opType: n.opType,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: initializers,
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  };
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
