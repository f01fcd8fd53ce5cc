// A model summary for people (the CLI prints it): ops, parameters, I/O and every node's
// output shapes after shape inference.
import { DataType } from '../tensor';
import { Dim, ModelIR, Graph } from './ir';
import { ShapeReport, inferShapes } from './shape-inference';

export interface IoSummary {
  name: string;
  /** ONNX type text for values nquant cannot compute with, e.g. 'tensor(string)'. */
  dtype: DataType | string;
  dims?: Dim[];
}

export interface NodeSummary {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: IoSummary[];
}

export interface ModelSummary {
  irVersion: number;
  opsets: { [domain: string]: number };
  producer?: string;
  graphName: string;
  inputs: IoSummary[];
  outputs: IoSummary[];
  /** Node count per op ('domain:Op' outside the default domain), subgraphs included. */
  ops: { [op: string]: number };
  nodeCount: number;
  /** Initializer element count and bytes, total and per dtype. */
  parameters: { count: number; bytes: number; byDtype: { [dtype: string]: { count: number; bytes: number } } };
  nodes: NodeSummary[];
  /** Values whose shape stays (partly) unknown after inference. */
  unknownShapes: ShapeReport['unknown'];
}

function countOps(g: Graph, ops: { [op: string]: number }): number {
  let n = 0;
  for (const node of g.nodes) {
    const key = node.domain ? `${node.domain}:${node.opType}` : node.opType;
    ops[key] = (ops[key] ?? 0) + 1;
    n++;
    for (const a of node.attributes.values()) {
      if (a.type === 'graph') n += countOps(a.value, ops);
      else if (a.type === 'graphs') for (const s of a.value) n += countOps(s, ops);
    }
  }
  return n;
}

/**
 * Summarizes a model. Runs shape inference, which fills model.graph.valueInfo (the IR is
 * otherwise unchanged).
 */
export function inspect(model: ModelIR): ModelSummary {
  const g = model.graph;
  const shapes = inferShapes(g, model.meta.opsets);
  const io = (name: string): IoSummary => {
    const vi = g.valueInfo.get(name) ?? g.inputs.find((i) => i.name === name) ?? g.outputs.find((o) => o.name === name);
    if (!vi) return { name, dtype: 'unknown' };
    return { name, dtype: vi.foreign ? vi.foreign.description : vi.dtype, dims: vi.dims };
  };
  const ops: { [op: string]: number } = {};
  const nodeCount = countOps(g, ops);
  const parameters: ModelSummary['parameters'] = { count: 0, bytes: 0, byDtype: {} };
  for (const t of g.initializers.values()) {
    const entry = (parameters.byDtype[t.dtype] ??= { count: 0, bytes: 0 });
    entry.count += t.size;
    entry.bytes += t.data.byteLength;
    parameters.count += t.size;
    parameters.bytes += t.data.byteLength;
  }
  const summary: ModelSummary = {
    irVersion: model.meta.irVersion,
    opsets: Object.fromEntries(model.meta.opsets),
    graphName: g.name,
    inputs: g.feedInputs.map((i) => ({ name: i.name, dtype: i.foreign ? i.foreign.description : i.dtype, dims: i.dims })),
    outputs: g.outputs.map((o) => ({ name: o.name, dtype: o.foreign ? o.foreign.description : o.dtype, dims: o.dims })),
    ops,
    nodeCount,
    parameters,
    nodes: g.nodes.map((n) => ({ name: n.name, opType: n.opType, domain: n.domain, inputs: [...n.inputs], outputs: n.outputs.filter((o) => o).map(io) })),
    unknownShapes: shapes.unknown,
  };
  if (model.meta.producerName) summary.producer = `${model.meta.producerName}${model.meta.producerVersion ? ` ${model.meta.producerVersion}` : ''}`;
  return summary;
}
