'use strict';
// ONNX bytes -> ModelIR -> ONNX bytes -> ModelIR. Whatever imports must export, and what we
// export must import again: a failure of that second import is a finding whatever its message.
const { importModel } = require('../../../dist/lib/onnx/import');
const { exportModel } = require('../../../dist/lib/onnx/export');

const OPTS = { maxBytes: 64 << 20 };

exports.fuzz = (data) => {
  const model = importModel(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), OPTS);
  const bytes = exportModel(model);
  try {
    importModel(bytes, OPTS);
  } catch (e) {
    throw new RoundTripError(e);
  }
};

// Made here, outside lib/, so the oracle counts it as a finding.
class RoundTripError extends Error {
  constructor(cause) {
    super(`our own export did not import again: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RoundTripError';
  }
}
