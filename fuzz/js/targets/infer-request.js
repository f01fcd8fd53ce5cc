'use strict';
// A KServe v2 infer request body -> feeds. An optional first line of digits (and spaces or
// signs) is the Inference-Header-Content-Length header; the rest is the body.
const { findingOf } = require('../oracle');
const { parseInferRequest } = require('../../../dist/lib/serve/request');

const MODELS = [
  {
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3] }, { name: 'ids', dtype: 'int64', dims: ['batch', null] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 2] }],
  },
  {
    inputs: [{ name: 'flag', dtype: 'bool', dims: [] }, { name: 'h', dtype: 'float16', dims: [null] }, { name: 'px', dtype: 'uint8', dims: [2, null] }],
    outputs: [{ name: 'a', dtype: 'float32', dims: [] }, { name: 'b', dtype: 'int32', dims: [null] }],
  },
];

/** Splits the fuzz input into the header value (if any) and the body. */
function split(data) {
  const nl = data.indexOf(0x0a);
  if (nl >= 0 && nl <= 16) {
    const head = data.toString('latin1', 0, nl);
    if (/^[\d +-]*$/.test(head)) return { headerLength: head, body: data.subarray(nl + 1) };
  }
  return { headerLength: undefined, body: data };
}

exports.split = split;

exports.fuzz = (data) => {
  const { headerLength, body } = split(data);
  for (const model of MODELS) {
    try {
      parseInferRequest(body, headerLength, model);
    } catch (e) {
      if (findingOf(e)) throw e;  // each call is judged; our errors end only that call
    }
  }
};
