'use strict';
// .npy bytes -> Tensor, then split into samples for an input the way readFeeds does.
const { findingOf } = require('../oracle');
const { parseNpy } = require('../../../dist/lib/cli/npy');
const { samplesFor } = require('../../../dist/lib/cli/inputs');

const DIMS = [[1, 3, null, 'w'], [null], [2, 2], []];

exports.fuzz = (data) => {
  const t = parseNpy(data, 'fuzz.npy');
  for (const dims of DIMS) {
    try {
      samplesFor({ name: 'x', dtype: t.dtype, dims }, t, 'fuzz.npy');
    } catch (e) {
      if (findingOf(e)) throw e;  // each call is judged; our errors end only that call
    }
  }
};
