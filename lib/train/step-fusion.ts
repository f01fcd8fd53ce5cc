// Fusions on a built training step, where the whole graph (forward and backward) is known:
// a ReLU's gradient folds into the MaxPoolGrad that feeds it, and a Conv or Gemm whose only
// reader is a ReLU runs as one fused op. Both save a full pass over the largest activations
// of a CNN; what is computed is unchanged. Forward nodes are shared with the model's own
// graph, so fused nodes are new objects: the model is never edited here.
import { Graph, Node } from '../graph/ir';
import { TRAIN_DOMAIN } from './gradients';
import { NQUANT_DOMAIN } from '../graph/passes/fused';

function readers(nodes: Node[]): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) (out.get(i) ?? out.set(i, []).get(i)!).push(n);
  return out;
}

/** MaxPoolGrad → ActivationGrad(Relu) over the same ReLU output becomes MaxPoolGrad(relu=1). */
function foldReluGradIntoMaxPoolGrad(g: Graph): number {
  const byOutput = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const reads = readers(g.nodes);
  const drop = new Set<Node>();
  const replace = new Map<Node, Node>();
  for (const act of g.nodes) {
    const kind = act.attributes.get('activation');
    if (act.opType !== 'ActivationGrad' || act.domain !== TRAIN_DOMAIN || kind?.type !== 'string' || kind.value !== 'Relu') continue;
    const pool = byOutput.get(act.inputs[0]);
    if (!pool || pool.opType !== 'MaxPoolGrad' || pool.domain !== TRAIN_DOMAIN) continue;
    // The pool read the ReLU's output, and nothing else reads the pool's gradient.
    if (pool.inputs[1] !== act.inputs[2] || (reads.get(pool.outputs[0]) ?? []).length !== 1) continue;
    replace.set(pool, { ...pool, attributes: new Map([...pool.attributes, ['relu', { type: 'int', value: 1 }]]), outputs: [act.outputs[0]] });
    drop.add(act);
  }
  g.nodes = g.nodes.filter((n) => !drop.has(n)).map((n) => replace.get(n) ?? n);
  return drop.size;
}

/** Conv/Gemm whose output only a Relu reads → nquant FusedConv/FusedGemm with the Relu. */
function fuseForwardRelu(g: Graph, outputs: Set<string>): number {
  const reads = readers(g.nodes);
  const drop = new Set<Node>();
  const replace = new Map<Node, Node>();
  for (const n of g.nodes) {
    if ((n.opType !== 'Conv' && n.opType !== 'Gemm') || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    const r = reads.get(n.outputs[0]) ?? [];
    if (r.length !== 1 || r[0].opType !== 'Relu' || outputs.has(n.outputs[0])) continue;
    const attributes = new Map(n.attributes);
    if (n.opType === 'Gemm' && attributes.has('alpha')) attributes.set('gemm_alpha', attributes.get('alpha')!);
    attributes.delete('alpha');
    attributes.set('activation', { type: 'string', value: 'Relu' });
    replace.set(n, { ...n, opType: n.opType === 'Conv' ? 'FusedConv' : 'FusedGemm', domain: NQUANT_DOMAIN, attributes, outputs: [r[0].outputs[0]] });
    drop.add(r[0]);
  }
  g.nodes = g.nodes.filter((n) => !drop.has(n)).map((n) => replace.get(n) ?? n);
  return drop.size;
}

export function fuseTrainingStep(g: Graph): void {
  foldReluGradIntoMaxPoolGrad(g);
  fuseForwardRelu(g, new Set(g.outputs.map((o) => o.name)));
}
