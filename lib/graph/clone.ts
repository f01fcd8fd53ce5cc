// A structural copy of a graph: nodes, value lists and maps are new, tensors are shared
// (passes replace initializers rather than write into them).
import { Attribute, Graph, Node } from './ir';

export function cloneNode(n: Node): Node {
  // Subgraphs are copied too: a pass rewriting a clone must never reach into the original.
  const attributes = new Map<string, Attribute>();
  for (const [k, a] of n.attributes) {
    if (a.type === 'graph') attributes.set(k, { type: 'graph', value: cloneGraph(a.value) });
    else if (a.type === 'graphs') attributes.set(k, { type: 'graphs', value: a.value.map(cloneGraph) });
    else attributes.set(k, a);
  }
  return { ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes };
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
