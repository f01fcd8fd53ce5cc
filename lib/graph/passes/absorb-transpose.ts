// Transpose(perm [1, 0]) feeding MatMul/Gemm becomes Gemm's transA/transB. MatMul is turned
// into Gemm only when both operands are 2-D (Gemm has no batch dims).
import { Attribute, Graph, Node, attrInt } from '../ir';
import { dimsOf } from './matmul-add-to-gemm';

function transpose2d(graph: Graph, producers: Map<string, Node>, name: string): string | undefined {
  const t = producers.get(name);
  if (!t || t.opType !== 'Transpose' || t.domain !== '') return undefined;
  const src = t.inputs[0];
  const dims = dimsOf(graph, src);
  if (!dims || dims.length !== 2) return undefined;
  const perm = t.attributes.get('perm');
  if (perm && (perm.type !== 'ints' || perm.value[0] !== 1 || perm.value[1] !== 0)) return undefined;
  return src;
}

export function absorbTranspose(graph: Graph): number {
  let absorbed = 0;
  const producers = graph.producers();
  for (const node of graph.nodes) {
    if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) continue;
    const srcA = transpose2d(graph, producers, node.inputs[0]);
    const srcB = transpose2d(graph, producers, node.inputs[1]);
    if (!srcA && !srcB) continue;
    if (node.opType === 'MatMul') {
      const a = dimsOf(graph, node.inputs[0]), b = dimsOf(graph, node.inputs[1]);
      if (!a || !b || a.length !== 2 || b.length !== 2) continue;
      node.opType = 'Gemm';
      node.attributes = new Map<string, Attribute>();
    }
    const flip = (key: string): void => {
      node.attributes.set(key, { type: 'int', value: attrInt(node, key, 0) ? 0 : 1 });
    };
    if (srcA) { node.inputs[0] = srcA; flip('transA'); absorbed++; }
    if (srcB) { node.inputs[1] = srcB; flip('transB'); absorbed++; }
  }
  return absorbed;
}
