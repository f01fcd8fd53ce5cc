// Node ordering and dead-node elimination. Subgraph attributes (If/Loop/Scan bodies) may read
// values of the enclosing graph by name; those count as inputs of the node that owns them.
import { Graph, Node } from './ir';

function subgraphs(node: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of node.attributes.values()) {
    if (a.type === 'graph') out.push(a.value);
    else if (a.type === 'graphs') out.push(...a.value);
  }
  return out;
}

/** Names a node's subgraphs read from enclosing scopes (not defined inside them). */
export function implicitInputs(node: Node): string[] {
  const found = new Set<string>();
  const visit = (g: Graph, outerDefined: ReadonlySet<string>): void => {
    const defined = new Set(outerDefined);
    for (const i of g.inputs) defined.add(i.name);
    for (const k of g.initializers.keys()) defined.add(k);
    for (const n of g.nodes) for (const o of n.outputs) if (o) defined.add(o);
    for (const n of g.nodes) {
      for (const i of n.inputs) if (i && !defined.has(i)) found.add(i);
      for (const s of subgraphs(n)) visit(s, defined);
    }
    for (const o of g.outputs) if (!defined.has(o.name)) found.add(o.name);
  };
  for (const g of subgraphs(node)) visit(g, new Set());
  return [...found];
}

/** All values a node reads: explicit inputs plus implicit subgraph captures. */
export function nodeReads(node: Node): string[] {
  const explicit = node.inputs.filter((i) => i !== '');
  return subgraphs(node).length ? [...explicit, ...implicitInputs(node)] : explicit;
}

const label = (n: Node, i: number): string => `${n.opType} '${n.name || `#${i}`}'`;

/**
 * The graph's nodes in an order where every producer precedes its consumers, keeping the
 * original order where it already is valid. Throws naming the nodes of a cycle.
 */
export function topoSort(graph: Graph): Node[] {
  const nodes = graph.nodes;
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producerIndex.set(o, i)));
  const deps: number[][] = nodes.map((n) => {
    const d = new Set<number>();
    for (const v of nodeReads(n)) {
      const p = producerIndex.get(v);
      if (p !== undefined) d.add(p);
    }
    return [...d];
  });
  const users: number[][] = nodes.map(() => []);
  const pending = deps.map((d) => d.length);
  deps.forEach((d, i) => d.forEach((p) => users[p].push(i)));
  // A min-heap would give a strictly stable order; scanning a ready list by index is enough
  // for model-sized graphs and keeps the code simple.
  const ready: number[] = [];
  pending.forEach((c, i) => c === 0 && ready.push(i));
  const order: number[] = [];
  const done = new Uint8Array(nodes.length);
  while (ready.length) {
    let best = 0;
    for (let k = 1; k < ready.length; k++) if (ready[k] < ready[best]) best = k;
    const i = ready[best];
    ready[best] = ready[ready.length - 1];
    ready.pop();
    order.push(i);
    done[i] = 1;
    for (const u of users[i]) if (--pending[u] === 0) ready.push(u);
  }
  if (order.length !== nodes.length) throw new Error(`graph '${graph.name}': cycle through ${describeCycle(nodes, deps, done)}`);
  return order.map((i) => nodes[i]);
}

function describeCycle(nodes: Node[], deps: number[][], done: Uint8Array): string {
  // Walk dependencies among unfinished nodes until one repeats: that loop is a cycle.
  let i = done.indexOf(0);
  const seen = new Map<number, number>();
  const path: number[] = [];
  while (!seen.has(i)) {
    seen.set(i, path.length);
    path.push(i);
    i = deps[i].find((p) => !done[p]) ?? i;
  }
  const cycle = path.slice(seen.get(i)).reverse();
  return [...cycle, cycle[0]].map((k) => label(nodes[k], k)).join(' -> ');
}

/** Sorts graph.nodes in place (see topoSort) and returns the graph. */
export function sortGraph(graph: Graph): Graph {
  graph.nodes = topoSort(graph);
  return graph;
}

/**
 * Removes nodes none of whose outputs reach a graph output, and initializers nothing reads
 * (unless they are also declared graph inputs, which callers may feed). Returns the count of
 * removed nodes.
 */
export function eliminateDeadNodes(graph: Graph): number {
  const live = new Set(graph.outputs.map((o) => o.name));
  const keep = new Array<boolean>(graph.nodes.length).fill(false);
  // Backwards over a topological order one pass suffices; repeat in case the order is not.
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = graph.nodes.length - 1; i >= 0; i--) {
      const n = graph.nodes[i];
      if (keep[i] || !n.outputs.some((o) => o && live.has(o))) continue;
      keep[i] = true;
      changed = true;
      for (const v of nodeReads(n)) live.add(v);
    }
  }
  const before = graph.nodes.length;
  graph.nodes = graph.nodes.filter((_, i) => keep[i]);
  const inputs = new Set(graph.inputs.map((i) => i.name));
  for (const name of [...graph.initializers.keys()]) if (!live.has(name) && !inputs.has(name)) graph.initializers.delete(name);
  for (const name of [...graph.valueInfo.keys()]) if (!live.has(name) && !inputs.has(name)) graph.valueInfo.delete(name);
  return before - graph.nodes.length;
}
