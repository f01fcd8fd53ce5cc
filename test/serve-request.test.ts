// The infer-request parser and response encoder on their own: each KServe datatype from JSON,
// nested data, range checks, float16 conversion, and binary framing of outputs.
import { fromHalfBits, toHalfBits } from '../lib/serve/datatypes';
import { parseInferRequest, ModelSignature } from '../lib/serve/request';
import { encodeInferResponse } from '../lib/serve/response';
import { Tensor } from '../lib/tensor';

const model = (dtype: Tensor['dtype'], dims: (number | string)[] = ['n', 2]): ModelSignature => ({ inputs: [{ name: 'a', dtype, dims }], outputs: [{ name: 'y', dtype: 'float32', dims: ['n'] }] });
const body = (input: object): Buffer => Buffer.from(JSON.stringify({ inputs: [{ name: 'a', shape: [2, 2], ...input }] }));

describe('parseInferRequest', () => {
  test.each([
    ['INT8', 'int8', [-128, 0, 5, 127], Int8Array],
    ['UINT8', 'uint8', [0, 1, 200, 255], Uint8Array],
    ['INT32', 'int32', [-(2 ** 31), 0, 7, 2 ** 31 - 1], Int32Array],
    ['FP64', 'float64', [0.1, -2.5, 1e300, 0], Float64Array],
  ] as const)('%s data becomes a %s tensor', (datatype, dtype, data, Ctor) => {
    const { feeds } = parseInferRequest(body({ datatype, data }), undefined, model(dtype));
    expect(feeds.a.dtype).toBe(dtype);
    expect(feeds.a.data).toEqual(Ctor.from(data as readonly number[]));
  });

  test('INT64 data becomes BigInt64Array, BOOL accepts true/false, nested rows are flattened', () => {
    expect(parseInferRequest(body({ datatype: 'INT64', data: [[1, -2], [3, 2 ** 40]] }), undefined, model('int64')).feeds.a.data).toEqual(BigInt64Array.from([1n, -2n, 3n, 2n ** 40n]));
    expect(parseInferRequest(body({ datatype: 'BOOL', data: [true, false, 1, 0] }), undefined, model('bool')).feeds.a.data).toEqual(Uint8Array.from([1, 0, 1, 0]));
  });

  test.each([
    ['an INT8 value out of range', 'INT8', 'int8', [0, 1, 128, 2], /INT8 data must be integers in \[-128, 127\], got 128 at index 2/],
    ['a fraction for an integer type', 'INT32', 'int32', [0, 1.5, 2, 3], /INT32 data must be integers in .*got 1.5 at index 1/],
    ['a string for BOOL', 'BOOL', 'bool', [true, 'yes', false, true], /BOOL data must be true\/false, got "yes" at index 1/],
    ['a ragged nested array', 'FP32', 'float32', [[1, 2], [3]], /needs 4 values, 'data' has 3/],
    ['too deep a nesting', 'FP32', 'float32', [[[1, 2]], [[3, 4]], [[5, 6]], [[7, 8]]], /FP32 data must be numbers, got \[1,2\] at index 0/],
  ] as const)('refuses %s', (_, datatype, dtype, data, message) => {
    expect(() => parseInferRequest(body({ datatype, data }), undefined, model(dtype))).toThrow(message);
  });

  test('FP16 from JSON numbers is rounded to half bits', () => {
    const { feeds } = parseInferRequest(body({ datatype: 'FP16', data: [1, -2, 65504, 0.1] }), undefined, model('float16'));
    expect(Array.from(feeds.a.data as Uint16Array)).toEqual([0x3c00, 0xc000, 0x7bff, 0x2e66]);
  });

  test('binary inputs are read from after the JSON header, aligned or not', () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'a', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }) + ' ');
    const values = Float32Array.from([1.5, -2, 3.25, 4]);
    const raw = Buffer.concat([header, Buffer.from(values.buffer)]);
    expect(header.length % 4).not.toBe(0);
    const { feeds } = parseInferRequest(raw, String(header.length), model('float32'));
    expect(feeds.a.data).toEqual(values);
  });
});

describe('float16 conversion', () => {
  test.each([
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [70000, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ])('%d <-> half bits %d', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
    if (value !== 65520 && value !== 70000 && value !== 2 ** -25 && value !== 3 * 2 ** -25) expect(fromHalfBits(bits)).toBe(value);
  });

  test('NaN stays NaN, and every half value round-trips', () => {
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
    const broken: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;  // NaN payloads
      if (toHalfBits(fromHalfBits(h)) !== h) broken.push(h);
    }
    expect(broken).toEqual([]);
  });
});

describe('encodeInferResponse', () => {
  test('JSON outputs by default, binary ones after the header when asked, in the order asked', () => {
    const outputs = { y: new Tensor('float32', Float32Array.from([0.5, 1]), [2]), z: new Tensor('int64', BigInt64Array.from([7n]), [1]) };
    const json = encodeInferResponse('m', 'id-1', outputs, [{ name: 'z', binary: false }, { name: 'y', binary: false }]);
    expect(json.headerLength).toBeUndefined();
    expect(JSON.parse(json.body.toString())).toEqual({ model_name: 'm', model_version: '1', id: 'id-1', outputs: [{ name: 'z', datatype: 'INT64', shape: [1], data: [7] }, { name: 'y', datatype: 'FP32', shape: [2], data: [0.5, 1] }] });
    const bin = encodeInferResponse('m', undefined, outputs, [{ name: 'y', binary: true }, { name: 'z', binary: false }]);
    const header = JSON.parse(bin.body.subarray(0, bin.headerLength).toString());
    expect(header.outputs[0]).toEqual({ name: 'y', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } });
    expect(new Float32Array(Uint8Array.prototype.slice.call(bin.body, bin.headerLength).buffer)).toEqual(Float32Array.from([0.5, 1]));
  });
});
