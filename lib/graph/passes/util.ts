// Small graph-editing helpers the passes share.
import { Tensor } from '../../tensor';
import { Graph, Node } from '../ir';
import { nodeReads } from '../topo';

/** The nodes reading each value, counting values subgraphs capture from this scope. */
export function readers(graph: Graph): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const i of new Set(nodeReads(n))) {
      const list = out.get(i);
      if (list) list.push(n);
      else out.set(i, [n]);
    }
  }
  return out;
}

/** Replaces reads of `from` with `to` in every node, subgraphs included. */
export function renameReads(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const a of n.attributes.values()) {
      if (a.type === 'graph') renameInSubgraph(a.value, from, to);
      else if (a.type === 'graphs') a.value.forEach((g) => renameInSubgraph(g, from, to));
    }
  }
}

function renameInSubgraph(g: Graph, from: string, to: string): void {
  renameReads(g, from, to);
  g.outputs = g.outputs.map((o) => (o.name === from ? { ...o, name: to } : o));
}

export function isGraphOutput(graph: Graph, name: string): boolean {
  return graph.outputs.some((o) => o.name === name);
}

/** A constant the graph owns (not an overridable graph input). */
export function constant(graph: Graph, name: string): Tensor | undefined {
  if (!name || graph.inputs.some((i) => i.name === name)) return undefined;
  return graph.initializers.get(name);
}

/** The single node reading `name` (see readers), when exactly one does and it is not a graph output. */
export function soleConsumer(graph: Graph, consumers: Map<string, Node[]>, name: string): Node | undefined {
  const list = consumers.get(name);
  if (!list || list.length !== 1 || isGraphOutput(graph, name)) return undefined;
  return list[0];
}

/** A value name not used anywhere in the graph yet. */
export function freshName(graph: Graph, base: string): string {
  const used = new Set<string>([...graph.initializers.keys(), ...graph.inputs.map((i) => i.name)]);
  for (const n of graph.nodes) for (const o of n.outputs) used.add(o);
  let name = base;
  for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
  return name;
}

export function hasSubgraphs(graph: Graph): boolean {
  return graph.nodes.some((n) => [...n.attributes.values()].some((a) => a.type === 'graph' || a.type === 'graphs'));
}

/** float32/float64 tensor contents as float64 (other dtypes: undefined). */
export function floatData(t: Tensor): Float64Array | undefined {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return undefined;
  return Float64Array.from(t.data as Float32Array);
}

/** A 2-D constant transposed (weights laid out once for a kernel that wants the other order). */
export function transposeMatrix<T extends Tensor>(t: T): T {
  const [rows, cols] = t.dims;
  const src = t.data as unknown as { [i: number]: number | bigint; length: number };
  const dst = new (t.data.constructor as new (n: number) => { [i: number]: number | bigint })(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return new Tensor(t.dtype, dst as never, [cols, rows]) as T;
}
