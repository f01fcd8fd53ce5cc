'use strict';
// ONNX bytes -> ModelIR -> the graph a Model runs (optimization passes, constant folding,
// QDQ lowering, unfusing) and shape inference: what load() and the first run() do before
// any kernel executes, on the same hostile bytes as onnx-loader.
const { importModel } = require('../../../dist/lib/onnx/import');
const { Model } = require('../../../dist/lib/runtime/model');
const { inferShapes } = require('../../../dist/lib/graph/shape-inference');

const OPTS = { maxBytes: 64 << 20 };

exports.fuzz = (data) => {
  const ir = importModel(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), OPTS);
  inferShapes(ir.graph, ir.meta.opsets);
  void new Model(ir).executionGraph;
};
