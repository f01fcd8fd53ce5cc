'use strict';
// Checks that the bridge is coverage-guided: see fuzz/js/selftest/magic.js.
const { check } = require('../selftest/magic');

exports.fuzz = (data) => {
  check(data);
};
