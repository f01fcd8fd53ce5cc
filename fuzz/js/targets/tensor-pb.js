'use strict';
// A serialized TensorProto (.pb, as in ONNX's test data sets) -> Tensor.
const { decodeTensorProto } = require('../../../dist/lib/onnx/tensor-proto');

exports.fuzz = (data) => {
  decodeTensorProto(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
};
