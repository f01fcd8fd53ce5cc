// ResNet-18 and MobileNetV2 written out as ONNX by the project (seeded random weights with
// He scaling so activations stay in range): the architectures the model benchmarks use.
import { buildModel, NodeSpec } from '../../lib/onnx/builder';
import { Tensor } from '../../lib/tensor';

class GraphWriter {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: { [name: string]: Tensor } = {};
  private counter = 0;
  private seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  private random(): number {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
    return this.seed / 2 ** 32;
  }

  name(base: string): string {
    return `${base}_${this.counter++}`;
  }

  weight(dims: number[], fanIn: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const scale = Math.sqrt(6 / fanIn);  // He-uniform: keeps ReLU activations from blowing up
    const data = Float32Array.from({ length: n }, () => (this.random() * 2 - 1) * scale);
    const name = this.name('w');
    this.initializers[name] = new Tensor('float32', data, dims);
    return name;
  }

  constant(values: number[], dims: number[]): string {
    const name = this.name('c');
    this.initializers[name] = new Tensor('float32', Float32Array.from(values), dims);
    return name;
  }

  node(opType: string, inputs: string[], attributes: NodeSpec['attributes'] = {}): string {
    const out = this.name(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [out], attributes, name: out });
    return out;
  }

  conv(x: string, cin: number, cout: number, k: number, stride: number, groups = 1): string {
    const w = this.weight([cout, cin / groups, k, k], (cin / groups) * k * k);
    const pad = Math.floor(k / 2);
    return this.node('Conv', [x, w], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group: groups });
  }

  batchNorm(x: string, c: number): string {
    const vals = (f: () => number) => Array.from({ length: c }, f);
    return this.node('BatchNormalization', [
      x,
      this.constant(vals(() => 0.8 + this.random() * 0.4), [c]),
      this.constant(vals(() => (this.random() - 0.5) * 0.2), [c]),
      this.constant(vals(() => (this.random() - 0.5) * 0.2), [c]),
      this.constant(vals(() => 0.5 + this.random()), [c]),
    ], { epsilon: 1e-5 });
  }

  relu(x: string): string {
    return this.node('Relu', [x]);
  }

  relu6(x: string): string {
    return this.node('Clip', [x, this.constant([0], []), this.constant([6], [])]);
  }

  classifier(x: string, c: number, classes: number): string {
    const pooled = this.node('GlobalAveragePool', [x]);
    const flat = this.node('Flatten', [pooled], { axis: 1 });
    const w = this.weight([classes, c], c);
    const b = this.constant(new Array(classes).fill(0), [classes]);
    return this.node('Gemm', [flat, w, b], { transB: 1 });
  }

  toOnnx(input: string, output: string, channels: number, size: number, classes: number): Uint8Array {
    this.nodes.push({ opType: 'Identity', inputs: [output], outputs: ['logits'], name: 'output' });
    return buildModel({
      inputs: [{ name: input, dtype: 'float32', dims: ['batch', channels, size, size] }],
      outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', classes] }],
      nodes: this.nodes,
      initializers: this.initializers,
      opset: 13,
    });
  }
}

function basicBlock(g: GraphWriter, x: string, cin: number, cout: number, stride: number): string {
  let y = g.relu(g.batchNorm(g.conv(x, cin, cout, 3, stride), cout));
  y = g.batchNorm(g.conv(y, cout, cout, 3, 1), cout);
  const shortcut = stride !== 1 || cin !== cout ? g.batchNorm(g.conv(x, cin, cout, 1, stride), cout) : x;
  return g.relu(g.node('Add', [y, shortcut]));
}

/** ResNet-18 for 224x224 RGB input, 1000 classes. */
export function resnet18(seed = 18): Uint8Array {
  const g = new GraphWriter(seed);
  let x = g.relu(g.batchNorm(g.conv('input', 3, 64, 7, 2), 64));
  x = g.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let c = 64;
  for (const [cout, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    x = basicBlock(g, x, c, cout, stride);
    x = basicBlock(g, x, cout, cout, 1);
    c = cout;
  }
  return g.toOnnx('input', g.classifier(x, 512, 1000), 3, 224, 1000);
}

function invertedResidual(g: GraphWriter, x: string, cin: number, cout: number, stride: number, expand: number): string {
  const hidden = cin * expand;
  let y = x;
  if (expand !== 1) y = g.relu6(g.batchNorm(g.conv(y, cin, hidden, 1, 1), hidden));
  y = g.relu6(g.batchNorm(g.conv(y, hidden, hidden, 3, stride, hidden), hidden));
  y = g.batchNorm(g.conv(y, hidden, cout, 1, 1), cout);
  return stride === 1 && cin === cout ? g.node('Add', [x, y]) : y;
}

/** MobileNetV2 (width 1.0) for 224x224 RGB input, 1000 classes. */
export function mobilenetV2(seed = 2): Uint8Array {
  const g = new GraphWriter(seed);
  let x = g.relu6(g.batchNorm(g.conv('input', 3, 32, 3, 2), 32));
  let c = 32;
  const settings: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [t, cout, n, s] of settings) {
    for (let i = 0; i < n; i++) {
      x = invertedResidual(g, x, c, cout, i === 0 ? s : 1, t);
      c = cout;
    }
  }
  x = g.relu6(g.batchNorm(g.conv(x, c, 1280, 1, 1), 1280));
  return g.toOnnx('input', g.classifier(x, 1280, 1000), 3, 224, 1000);
}

/** A small ResNet (two basic blocks) for 3x32x32 input and 10 classes: fast enough for tests. */
export function miniResnet(seed = 7): Uint8Array {
  const g = new GraphWriter(seed);
  let x = g.relu(g.batchNorm(g.conv('input', 3, 16, 3, 1), 16));
  x = g.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  x = basicBlock(g, x, 16, 16, 1);
  x = basicBlock(g, x, 16, 32, 2);
  return g.toOnnx('input', g.classifier(x, 32, 10), 3, 32, 10);
}
