'use strict';
// A planted bug behind a five-byte magic: each matched byte is a new branch, which is the
// only way a coverage-guided fuzzer can find it in reasonable time (blind: 1 in 2^40).
function check(data) {
  if (data.length >= 5 && data[0] === 0x46) {
    if (data[1] === 0x55) {
      if (data[2] === 0x5a) {
        if (data[3] === 0x5a) {
          if (data[4] === 0x21) {
            const missing = undefined;
            return missing.planted;  // TypeError from the engine: the oracle calls it a bug
          }
        }
      }
    }
  }
  return 0;
}

module.exports = { check };
