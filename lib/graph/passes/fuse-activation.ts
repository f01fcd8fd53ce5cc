// Conv/Gemm/MatMul + bias + Relu/LeakyRelu/Clip -> nquant FusedConv/FusedGemm/FusedMatMul
// (format in fused.ts; export un-fuses). A bias Add after a bias-less Conv folds into the
// Conv's bias input first; a bias Add after MatMul becomes FusedMatMul's bias.
import { Tensor } from '../../tensor';
import { Attribute, Graph, Node, attrFloat } from '../ir';
import { NQUANT_DOMAIN, FusedActivation } from './fused';
import { dimsOf } from './matmul-add-to-gemm';
import { constant, freshName, readers, soleConsumer } from './util';

function otherInput(node: Node, name: string): string | undefined {
  if (node.inputs.length !== 2) return undefined;
  return node.inputs[0] === name ? node.inputs[1] : node.inputs[1] === name ? node.inputs[0] : undefined;
}

function remove(graph: Graph, node: Node): void {
  graph.nodes = graph.nodes.filter((n) => n !== node);
}

/** Add(const) after Conv without bias -> Conv bias; after MatMul -> FusedMatMul bias. */
function fuseBias(graph: Graph, node: Node, users: Map<string, Node[]>): void {
  const add = soleConsumer(graph, users, node.outputs[0]);
  if (!add || add.opType !== 'Add' || add.domain !== '') return;
  const biasName = otherInput(add, node.outputs[0]);
  const bias = biasName ? constant(graph, biasName) : undefined;
  if (!bias || bias.dtype !== 'float32') return;
  if (node.opType === 'Conv' && node.inputs.length < 3) {
    const w = constant(graph, node.inputs[1]);
    const x = dimsOf(graph, node.inputs[0]);
    if (!w || !x) return;
    const c = w.dims[0];
    const spatial = x.length - 2;
    const d = bias.dims;
    // [C,1,...] or [1,C,1,...] with the conv output's rank or less: a per-channel constant.
    const lead = d.length === spatial + 2 ? d[0] : 1;
    const rest = d.length === spatial + 2 ? d.slice(1) : d;
    if (lead !== 1 || rest.length !== spatial + 1 || rest[0] !== c || rest.slice(1).some((v) => v !== 1)) return;
    const name = freshName(graph, `${node.outputs[0]}_bias`);
    graph.initializers.set(name, new Tensor('float32', bias.data as Float32Array, [c]));
    node.inputs = [...node.inputs, name];
  } else if (node.opType === 'MatMul') {
    const w = constant(graph, node.inputs[1]);
    if (!w || bias.dims.length !== 1 || bias.dims[0] !== w.dims[w.dims.length - 1]) return;
    node.domain = NQUANT_DOMAIN;
    node.opType = 'FusedMatMul';
    node.inputs = [node.inputs[0], node.inputs[1], biasName as string];
  } else return;
  graph.valueInfo.delete(node.outputs[0]);
  node.outputs = [add.outputs[0]];
  remove(graph, add);
}

function activationOf(graph: Graph, act: Node, opset: number): Map<string, Attribute> | undefined {
  const attrs = new Map<string, Attribute>();
  const kind = act.opType as FusedActivation;
  if (act.domain !== '') return undefined;
  if (kind === 'Relu') { /* no parameters */ } else if (kind === 'LeakyRelu') {
    attrs.set('alpha', { type: 'float', value: attrFloat(act, 'alpha', 0.01) });
  } else if (kind === 'Clip') {
    let min = -Infinity, max = Infinity;
    if (opset < 11) {
      min = attrFloat(act, 'min', -3.4028234663852886e38);
      max = attrFloat(act, 'max', 3.4028234663852886e38);
    } else {
      const lo = act.inputs[1] ? constant(graph, act.inputs[1]) : undefined;
      const hi = act.inputs[2] ? constant(graph, act.inputs[2]) : undefined;
      if ((act.inputs[1] && !lo) || (act.inputs[2] && !hi)) return undefined;
      if (lo) min = Number(lo.data[0]);
      if (hi) max = Number(hi.data[0]);
    }
    if (Number.isFinite(min)) attrs.set('clip_min', { type: 'float', value: min });
    if (Number.isFinite(max)) attrs.set('clip_max', { type: 'float', value: max });
  } else return undefined;
  attrs.set('activation', { type: 'string', value: kind });
  return attrs;
}

export function fuseActivations(graph: Graph, opset: number): number {
  let fused = 0;
  for (const node of [...graph.nodes]) {
    if (!graph.nodes.includes(node)) continue;
    if (node.domain !== '' || !['Conv', 'MatMul', 'Gemm'].includes(node.opType)) continue;
    if (node.opType !== 'Gemm') fuseBias(graph, node, readers(graph));
    const act = soleConsumer(graph, readers(graph), node.outputs[0]);
    const attrs = act && act.inputs[0] === node.outputs[0] ? activationOf(graph, act, opset) : undefined;
    if (!act || !attrs) continue;
    if (node.domain === '') {
      if (node.opType === 'Gemm' && node.attributes.has('alpha')) {
        node.attributes.set('gemm_alpha', node.attributes.get('alpha') as Attribute);
        node.attributes.delete('alpha');
      }
      node.domain = NQUANT_DOMAIN;
      node.opType = `Fused${node.opType}`;
    }
    for (const [k, v] of attrs) node.attributes.set(k, v);
    graph.valueInfo.delete(node.outputs[0]);
    node.outputs = [act.outputs[0]];
    remove(graph, act);
    fused++;
  }
  return fused;
}
