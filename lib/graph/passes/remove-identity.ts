// Identity and inference-mode Dropout removal: readers of the output read the input instead.
import { Graph } from '../ir';
import { constant, isGraphOutput, renameReads } from './util';

function isNoop(graph: Graph, opType: string, inputs: string[], outputs: string[], readers: Set<string>): boolean {
  if (opType === 'Identity') return true;
  if (opType !== 'Dropout') return false;
  // The mask output must be unused, and training_mode absent or a constant false.
  if (outputs[1] && readers.has(outputs[1])) return false;
  if (outputs[1] && isGraphOutput(graph, outputs[1])) return false;
  if (!inputs[2]) return true;
  const t = constant(graph, inputs[2]);
  return !!t && t.size === 1 && Number(t.data[0]) === 0;
}

/** Removes Identity and Dropout (inference) nodes; returns how many were removed. */
export function removeIdentities(graph: Graph): number {
  let removed = 0;
  const read = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) read.add(i);
  for (const node of [...graph.nodes]) {
    if (node.domain !== '' || !isNoop(graph, node.opType, node.inputs, node.outputs, read)) continue;
    const [src] = node.inputs;
    const [dst] = node.outputs;
    if (!src || !dst) continue;
    if (isGraphOutput(graph, dst)) {
      // The graph output keeps its name: the producer of src writes it directly, when src is
      // an intermediate value nobody else needs under its own name.
      const producer = graph.nodes.find((n) => n.outputs.includes(src));
      if (!producer || isGraphOutput(graph, src)) continue;
      producer.outputs = producer.outputs.map((o) => (o === src ? dst : o));
      graph.nodes = graph.nodes.filter((n) => n !== node);
      renameReads(graph, src, dst);
    } else {
      graph.nodes = graph.nodes.filter((n) => n !== node);
      renameReads(graph, dst, src);
    }
    graph.valueInfo.delete(dst);
    removed++;
  }
  return removed;
}
