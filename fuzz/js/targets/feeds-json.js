'use strict';
// The text of a .json feed file -> feeds, against models of one and of several inputs.
const { findingOf } = require('../oracle');
const { parseJsonFeeds } = require('../../../dist/lib/cli/inputs');

const SIGNATURES = [
  [{ name: 'x', dtype: 'float32', dims: [1, 3, 'h', null] }],
  [{ name: 'x', dtype: 'float32', dims: [null, 4] }, { name: 'ids', dtype: 'int64', dims: [1] }, { name: 'mask', dtype: 'uint8', dims: [] }],
  [{ name: 'half', dtype: 'float16', dims: [2] }],
];

exports.fuzz = (data) => {
  const text = data.toString('utf8');
  for (const inputs of SIGNATURES) {
    try {
      parseJsonFeeds(text, inputs, 'fuzz.json');
    } catch (e) {
      if (findingOf(e)) throw e;  // each call is judged; our errors end only that call
    }
  }
};
