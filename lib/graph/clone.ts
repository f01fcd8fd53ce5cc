// A structural copy of a graph: nodes, value lists and maps are new, tensors are shared
// (passes replace initializers rather than write into them).
import { Graph, Node } from './ir';

export function cloneNode(n: Node): Node {
  return { ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: new Map(n.attributes) };
}

export function cloneGraph(g: Graph): Graph {
  const c = new Graph();
  c.name = g.name;
  c.docString = g.docString;
  c.nodes = g.nodes.map(cloneNode);
  c.inputs = g.inputs.map((v) => ({ ...v, dims: v.dims ? [...v.dims] : undefined }));
  c.outputs = g.outputs.map((v) => ({ ...v, dims: v.dims ? [...v.dims] : undefined }));
  c.initializers = new Map(g.initializers);
  c.valueInfo = new Map([...g.valueInfo].map(([k, v]) => [k, { ...v, dims: v.dims ? [...v.dims] : undefined }]));
  return c;
}
