// ONNX's own test vectors for the quantization operators, run on our kernels at every ISA
// level this CPU supports. Integer outputs must match exactly.
import { native } from '../lib/native';
import { dequantizeLinear, dynamicQuantizeLinear, matMulInteger, qlinearMatMul, quantizeLinear } from '../lib/runtime/ops/quantization';
import { Tensor } from '../lib/tensor';
import { nodeIntAttributes, readNodeTest } from './helpers/onnx-testdata';

type AnyTensor = Tensor;
const isas = native.cpuInfo().supportedIsas;
const initialIsa = native.cpuInfo().isa;
afterAll(() => native.setIsa(initialIsa));

function expectSameTensor(actual: AnyTensor, expected: AnyTensor): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect([...actual.dims]).toEqual([...expected.dims]);
  expect(Array.from(actual.data as ArrayLike<number>)).toEqual(Array.from(expected.data as ArrayLike<number>));
}

const cases: [string, (inputs: AnyTensor[], attrs: { [k: string]: number }) => AnyTensor[]][] = [
  ['test_quantizelinear', (i, a) => [quantizeLinear(i[0] as Tensor<'float32'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, a.axis ?? 1)]],
  ['test_quantizelinear_axis', (i, a) => [quantizeLinear(i[0] as Tensor<'float32'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, a.axis ?? 1)]],
  ['test_dequantizelinear', (i, a) => [dequantizeLinear(i[0] as Tensor<'uint8'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, a.axis ?? 1)]],
  ['test_dequantizelinear_axis', (i, a) => [dequantizeLinear(i[0] as Tensor<'uint8'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, a.axis ?? 1)]],
  ['test_dynamicquantizelinear', (i) => dynamicQuantizeLinear(i[0] as Tensor<'float32'>)],
  ['test_dynamicquantizelinear_max_adjusted', (i) => dynamicQuantizeLinear(i[0] as Tensor<'float32'>)],
  ['test_dynamicquantizelinear_min_adjusted', (i) => dynamicQuantizeLinear(i[0] as Tensor<'float32'>)],
  ['test_matmulinteger', (i) => [matMulInteger(i[0] as Tensor<'uint8'>, i[1] as Tensor<'uint8'>, i[2] as Tensor<'uint8'>, i[3] as Tensor<'uint8'>)]],
  ['test_qlinearmatmul_2D', (i) => [qlinearMatMul(i[0] as Tensor<'uint8'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, i[3] as Tensor<'uint8'>, i[4] as Tensor<'float32'>, i[5] as Tensor<'uint8'>, i[6] as Tensor<'float32'>, i[7] as Tensor<'uint8'>)]],
  ['test_qlinearmatmul_3D', (i) => [qlinearMatMul(i[0] as Tensor<'uint8'>, i[1] as Tensor<'float32'>, i[2] as Tensor<'uint8'>, i[3] as Tensor<'uint8'>, i[4] as Tensor<'float32'>, i[5] as Tensor<'uint8'>, i[6] as Tensor<'float32'>, i[7] as Tensor<'uint8'>)]],
];

describe.each(isas)('ONNX quantization op vectors at ISA %s', (isa) => {
  beforeAll(() => native.setIsa(isa));
  test.each(cases)('%s', (name, run) => {
    const tc = readNodeTest(name);
    const attrs = nodeIntAttributes(tc);
    expect(tc.sets.length).toBeGreaterThan(0);
    for (const set of tc.sets) {
      const outputs = run(set.inputs, attrs);
      expect(outputs.length).toBe(set.outputs.length);
      outputs.forEach((o, j) => expectSameTensor(o, set.outputs[j]));
    }
  });
});
