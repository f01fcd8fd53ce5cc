// MatMul(A, W) + Add(C) -> Gemm(A, W, C) when W is a constant 2-D weight, A is 2-D and C
// broadcasts to the [M, N] product (so Gemm's unidirectional broadcast of C is exact).
import { Dim, Graph } from '../ir';
import { constant, readers, soleConsumer } from './util';

/** Dims of a value: initializer dims or the (inferred) value_info. */
export function dimsOf(graph: Graph, name: string): readonly Dim[] | undefined {
  const t = graph.initializers.get(name);
  if (t) return t.dims;
  return graph.valueInfo.get(name)?.dims ?? graph.inputs.find((i) => i.name === name)?.dims;
}

export function matmulAddToGemm(graph: Graph): number {
  let fused = 0;
  const users = readers(graph);
  for (const mm of [...graph.nodes]) {
    if (mm.opType !== 'MatMul' || mm.domain !== '') continue;
    const w = constant(graph, mm.inputs[1]);
    const a = dimsOf(graph, mm.inputs[0]);
    if (!w || w.dims.length !== 2 || !a || a.length !== 2 || w.dtype !== 'float32') continue;
    const add = soleConsumer(graph, users, mm.outputs[0]);
    if (!add || add.opType !== 'Add' || add.domain !== '' || add.inputs.length !== 2) continue;
    const other = add.inputs[0] === mm.outputs[0] ? add.inputs[1] : add.inputs[0];
    const c = constant(graph, other);
    const n = w.dims[1];
    if (!c || c.dtype !== 'float32') continue;
    const cd = c.dims;
    const ok = (cd.length === 1 && cd[0] === n) || (cd.length === 2 && (cd[1] === n || cd[1] === 1) && (cd[0] === 1 || cd[0] === a[0]));
    if (!ok) continue;
    mm.opType = 'Gemm';
    mm.inputs = [mm.inputs[0], mm.inputs[1], other];
    graph.valueInfo.delete(mm.outputs[0]);
    mm.outputs = [add.outputs[0]];
    graph.nodes = graph.nodes.filter((x) => x !== add);
    fused++;
  }
  return fused;
}
