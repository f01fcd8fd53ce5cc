// Conv + BatchNormalization -> Conv with scaled weights and a new bias (inference). The fold is
// computed in float64 and rounded once to float32.
import { Tensor } from '../../tensor';
import { Graph, attrFloat } from '../ir';
import { constant, freshName, readers, soleConsumer } from './util';

export function foldConvBatchNorm(graph: Graph): number {
  let folded = 0;
  const users = readers(graph);
  for (const conv of [...graph.nodes]) {
    if (conv.opType !== 'Conv' || conv.domain !== '') continue;
    const bn = soleConsumer(graph, users, conv.outputs[0]);
    if (!bn || bn.opType !== 'BatchNormalization' || bn.domain !== '' || bn.inputs[0] !== conv.outputs[0]) continue;
    if (bn.outputs.slice(1).some((o) => o)) continue;  // training outputs requested
    const w = constant(graph, conv.inputs[1]);
    const b = conv.inputs[2] ? constant(graph, conv.inputs[2]) : undefined;
    const [scale, beta, mean, variance] = bn.inputs.slice(1, 5).map((n) => constant(graph, n));
    if (!w || w.dtype !== 'float32' || (conv.inputs[2] && !b) || !scale || !beta || !mean || !variance) continue;
    const m = w.dims[0];
    if ([scale, beta, mean, variance].some((t) => t.size !== m || t.dtype !== 'float32') || (b && b.size !== m)) continue;
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const perOut = w.size / m;
    const wd = w.data as Float32Array;
    const newW = new Float32Array(w.size);
    const newB = new Float32Array(m);
    for (let o = 0; o < m; o++) {
      const s = Number(scale.data[o]) / Math.sqrt(Number(variance.data[o]) + eps);
      for (let k = 0; k < perOut; k++) newW[o * perOut + k] = wd[o * perOut + k] * s;
      const bias = b ? Number(b.data[o]) : 0;
      newB[o] = (bias - Number(mean.data[o])) * s + Number(beta.data[o]);
    }
    const wName = freshName(graph, `${conv.inputs[1]}_bnfold`);
    graph.initializers.set(wName, new Tensor('float32', newW, w.dims));
    const bName = freshName(graph, `${conv.outputs[0]}_bnfold_bias`);
    graph.initializers.set(bName, new Tensor('float32', newB, [m]));
    conv.inputs = [conv.inputs[0], wName, bName];
    graph.valueInfo.delete(conv.outputs[0]);
    conv.outputs = [bn.outputs[0]];
    graph.nodes = graph.nodes.filter((n) => n !== bn);
    folded++;
  }
  return folded;
}
