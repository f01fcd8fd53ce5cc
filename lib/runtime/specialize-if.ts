// Plans are specialized per input signature, so an If whose condition is known for that
// signature (silero-vad branches on the sample rate) can be replaced by the branch it takes.
// Values the branch produces are renamed under the If node's name; values it reads from the
// enclosing graph keep their names.
import { Graph, Node } from '../graph/ir';
import { ConcreteValue } from '../graph/shape-inference';

/** A copy of `graph` with every decidable top-level If inlined; the same graph when none. */
export function inlineKnownIfs(graph: Graph, known: Map<string, ConcreteValue>): Graph {
  if (!graph.nodes.some((n) => n.opType === 'If' && decided(n, known) !== undefined)) return graph;
  const out = Object.assign(Object.create(Object.getPrototypeOf(graph)) as Graph, graph);
  out.initializers = new Map(graph.initializers);
  out.nodes = graph.nodes.flatMap((n) => {
    const taken = n.opType === 'If' ? decided(n, known) : undefined;
    return taken === undefined ? [n] : inlineBranch(n, taken, out);
  });
  return out;
}

function decided(node: Node, known: Map<string, ConcreteValue>): boolean | undefined {
  const v = known.get(node.inputs[0])?.value;
  return v && v.length === 1 ? v[0] !== 0 : undefined;
}

/** How inlining names a branch's nodes and values: '<if>/then/<name>' (captures use it). */
export function inlinedPrefix(node: Node, side: 'then' | 'else'): string {
  return `${node.name || 'if'}/${side}/`;
}

function inlineBranch(node: Node, taken: boolean, into: Graph): Node[] {
  const attr = node.attributes.get(taken ? 'then_branch' : 'else_branch');
  if (!attr || attr.type !== 'graph') throw new TypeError(`If node '${node.name}': missing ${taken ? 'then' : 'else'}_branch`);
  const branch = attr.value;
  const prefix = inlinedPrefix(node, taken ? 'then' : 'else');
  const local = new Set<string>([...branch.initializers.keys(), ...branch.nodes.flatMap((n) => n.outputs.filter(Boolean))]);
  const rename = (v: string) => (v && local.has(v) ? prefix + v : v);
  for (const [name, t] of branch.initializers) into.initializers.set(prefix + name, t);
  const nodes: Node[] = branch.nodes.map((n) => ({
    ...n,
    name: prefix + n.name,
    inputs: n.inputs.map(rename),
    outputs: n.outputs.map(rename),
    attributes: new Map(n.attributes),
  }));
  branch.outputs.forEach((o, i) => {
    nodes.push({ name: `${prefix}output_${i}`, opType: 'Identity', domain: '', inputs: [rename(o.name)], outputs: [node.outputs[i]], attributes: new Map() });
  });
  return nodes;
}
