// sequential(): a Model from a list of layers, input 'input' [batch, ...inputShape] and
// output 'output'; weights initialized from a seed so runs are reproducible.
import { Graph, ModelIR } from '../graph/ir';
import { invalidRange } from '../errors';
import { Model } from '../runtime/model';
import { Tensor } from '../tensor';
import { Layer, LayerContext } from './layers';
import { Random } from './random';

export interface SequentialOptions {
  /** Seeds weight initialization (default 0). */
  seed?: number;
  name?: string;
}

export function sequential(layerList: Layer[], opts: SequentialOptions = {}): Model {
  if (!Array.isArray(layerList) || layerList.length === 0) throw invalidRange('layers', 'a non-empty array of layers', layerList);
  const inputShape = layerList[0].inputShape;
  if (!inputShape || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw invalidRange('layers[0].inputShape', 'the input shape without the batch dim, e.g. [1, 28, 28]', inputShape);
  }
  const g = new Graph();
  g.name = opts.name ?? 'sequential';
  const counters = new Map<string, number>();
  const name = (stem: string): string => {
    const n = counters.get(stem) ?? 0;
    counters.set(stem, n + 1);
    return `${stem}_${n}`;
  };
  const ctx: LayerContext = {
    graph: g,
    rng: new Random(opts.seed ?? 0),
    name,
    node(opType, inputs, attrs = {}, stem) {
      const nodeName = name(stem ?? opType.toLowerCase());
      const out = `${nodeName}_out`;
      g.nodes.push({ name: nodeName, opType, domain: '', inputs, outputs: [out], attributes: new Map(Object.entries(attrs)) });
      return out;
    },
    weight(stem, t: Tensor) {
      const n = name(stem);
      g.initializers.set(n, t);
      return n;
    },
  };
  let x = 'input';
  let shape = [...inputShape];
  layerList.forEach((layer, i) => {
    if (i > 0 && layer.inputShape) throw invalidRange(`layers[${i}].inputShape`, 'only on the first layer', layer.inputShape);
    ({ y: x, shape } = layer.build(ctx, x, shape));
  });
  // The last value is renamed 'output' so the model's interface reads as documented.
  const last = g.nodes[g.nodes.length - 1];
  if (!last || !last.outputs.includes(x)) throw invalidRange('layers', 'at least one layer that computes something', layerList.map((l) => l.kind).join(', '));
  last.outputs = last.outputs.map((o) => (o === x ? 'output' : o));
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === x ? 'output' : i));
  g.inputs = [{ name: 'input', dtype: 'float32', dims: ['batch', ...inputShape] }];
  g.outputs = [{ name: 'output', dtype: 'float32', dims: ['batch', ...shape] }];
  const ir: ModelIR = { graph: g, meta: { irVersion: 8, opsets: new Map([['', 17]]), producerName: 'nquant', metadata: new Map() } };
  return new Model(ir);
}
