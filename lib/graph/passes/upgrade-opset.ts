// Moves a graph to a newer default-domain opset, rewriting the nodes whose form changed on the
// way (attributes that became inputs). Quantization needs opset 13 for per-channel
// DequantizeLinear; old exports (opset 9, as many PaddlePaddle and early PyTorch files are)
// would otherwise be stuck with per-tensor weights.
import { Tensor } from '../../tensor';
import { Attribute, Graph, Node, attrInt } from '../ir';
import { freshName } from './util';

function int64s(values: number[]): Tensor<'int64'> {
  return new Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), [values.length]);
}

function floatScalar(v: number): Tensor<'float32'> {
  return new Tensor('float32', new Float32Array([v]), []);
}

function take(node: Node, name: string): Attribute | undefined {
  const a = node.attributes.get(name);
  node.attributes.delete(name);
  return a;
}

const where = (n: Node) => `${n.opType} node '${n.name}'`;

/**
 * Rewrites `graph` from opset `from` to `to` in place (default domain only). Throws a RangeError
 * naming the node for an op whose meaning changed in a way this pass does not translate.
 */
export function upgradeOpset(graph: Graph, from: number, to: number): void {
  if (to <= from) return;
  const constant = (node: Node, base: string, t: Tensor): string => {
    const name = freshName(graph, `${node.name || node.opType}_${base}`);
    graph.initializers.set(name, t);
    return name;
  };
  for (const node of graph.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    for (const a of node.attributes.values()) {
      if (a.type === 'graph' || a.type === 'graphs') throw new RangeError(`${where(node)}: subgraphs cannot be moved to opset ${to} yet`);
    }
    switch (node.opType) {
      case 'Clip':  // bounds moved from attributes to inputs at 11
        if (from < 11 && to >= 11) {
          const lo = take(node, 'min'), hi = take(node, 'max');
          node.inputs = [node.inputs[0],
            lo && lo.type === 'float' ? constant(node, 'min', floatScalar(lo.value)) : '',
            hi && hi.type === 'float' ? constant(node, 'max', floatScalar(hi.value)) : ''];
          while (node.inputs[node.inputs.length - 1] === '') node.inputs.pop();
        }
        break;
      case 'Slice':  // starts/ends/axes moved to inputs at 10
        if (from < 10 && to >= 10) {
          const starts = take(node, 'starts'), ends = take(node, 'ends'), axes = take(node, 'axes');
          if (!starts || starts.type !== 'ints' || !ends || ends.type !== 'ints') throw new RangeError(`${where(node)}: expected starts and ends attributes`);
          node.inputs = [node.inputs[0], constant(node, 'starts', int64s(starts.value)), constant(node, 'ends', int64s(ends.value))];
          if (axes && axes.type === 'ints') node.inputs.push(constant(node, 'axes', int64s(axes.value)));
        }
        break;
      case 'Squeeze': case 'Unsqueeze': case 'ReduceSum':  // axes moved to an input at 13
        if (from < 13 && to >= 13) {
          const axes = take(node, 'axes');
          if (axes && axes.type === 'ints') node.inputs = [node.inputs[0], constant(node, 'axes', int64s(axes.value))];
        }
        break;
      case 'Split':  // split sizes moved to an input at 13
        if (from < 13 && to >= 13) {
          const split = take(node, 'split');
          if (split && split.type === 'ints') node.inputs = [node.inputs[0], constant(node, 'split', int64s(split.value))];
        }
        break;
      case 'Pad':  // pads and value moved to inputs at 11
        if (from < 11 && to >= 11) {
          const pads = take(node, 'pads'), value = take(node, 'value');
          if (!pads || pads.type !== 'ints') throw new RangeError(`${where(node)}: expected a pads attribute`);
          node.inputs = [node.inputs[0], constant(node, 'pads', int64s(pads.value))];
          if (value && value.type === 'float') node.inputs.push(constant(node, 'value', floatScalar(value.value)));
        }
        break;
      case 'Dropout':  // inference ignores it; ratio became an input at 12
        take(node, 'ratio');
        take(node, 'is_test');
        break;
      case 'BatchNormalization':  // 'spatial' was removed at 9 (always spatial after)
        if (node.attributes.has('spatial') && attrInt(node, 'spatial') !== 1) throw new RangeError(`${where(node)}: non-spatial BatchNormalization has no opset ${to} form`);
        take(node, 'spatial');
        take(node, 'consumed_inputs');
        break;
      case 'Softmax': case 'LogSoftmax': case 'Hardmax':
        // Before 13 the input was flattened to 2-D at axis; after, one axis. The same when
        // axis is the last dimension.
        if (from < 13 && to >= 13) {
          const rank = graph.valueInfo.get(node.inputs[0])?.dims?.length;
          const axis = attrInt(node, 'axis', 1);
          const last = rank !== undefined && (axis === rank - 1 || axis === -1);
          if (!last) throw new RangeError(`${where(node)}: axis ${axis} on a rank-${rank ?? '?'} input changes meaning at opset 13`);
        }
        break;
      case 'Upsample': case 'Scatter': case 'TopK':
        if (from < 10) throw new RangeError(`${where(node)}: ${node.opType} from opset ${from} is not translated to opset ${to}`);
        break;
      default:
        break;
    }
  }
}
