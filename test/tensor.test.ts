import { Tensor } from '../lib';

describe('Tensor', () => {
  test('views a TypedArray without copying, byteOffset included', () => {
    const buf = new Float32Array(10);
    const view = buf.subarray(4, 10);
    const t = new Tensor('float32', view, [2, 3]);
    expect(t.data).toBe(view);
    view[0] = 7;
    expect(t.data[0]).toBe(7);
    expect(t.dims).toEqual([2, 3]);
    expect(Object.isFrozen(t.dims)).toBe(true);
  });

  test('copies plain arrays into the dtype, bigints for int64', () => {
    expect(new Tensor('int64', [1, 2], [2]).data).toEqual(new BigInt64Array([1n, 2n]));
    expect(new Tensor('uint8', [300 % 256]).data).toEqual(new Uint8Array([44]));
    expect(Tensor.zeros('float16', [2, 2]).data).toEqual(new Uint16Array(4));
  });

  test('rejects mismatches with the argument, the expectation and the value', () => {
    expect(() => new Tensor('float32', new Int8Array(4) as never)).toThrow("data: expected Float32Array for dtype 'float32', received Int8Array(4)");
    expect(() => new Tensor('float32', new Float32Array(5), [2, 3])).toThrow('data: expected 6 elements for dims [2, 3], received 5');
    expect(() => new Tensor('float33' as 'float32', [1])).toThrow(/dtype: expected one of float32, float16/);
    expect(() => Tensor.zeros('float32', [2, -1])).toThrow('dims: expected dim 1 to be a non-negative integer, received -1 (dims [2, -1])');
    expect(() => Tensor.zeros('float32', [2 ** 30, 2 ** 30])).toThrow(/dims whose product stays below 2\^53/);
  });
});
