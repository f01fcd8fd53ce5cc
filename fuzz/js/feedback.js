'use strict';
// Istanbul counters -> libFuzzer's extra counters. Every statement, branch arm and function
// of the instrumented files owns one byte (saturating at 255, so libFuzzer's hit-count
// buckets still tell 1 from 2 from 100 executions); istanbul's counts are reset after each
// input, libFuzzer clears the bytes itself before the next one.
const { coverageData } = require('./instrument');

class CoverageFeedback {
  /** @param {Uint8Array} counters the bridge's view of the extra-counters section */
  constructor(counters) {
    this.counters = counters;
    /** @type {{ s: object, f: object, b: object, sKeys: string[], fKeys: string[], bKeys: string[], base: number }[]} */
    this.files = [];
    this.known = new Set();
    this.total = 0;
    this.warned = false;
  }

  // Files load lazily (a code path may require a module the first time it runs): each new
  // file gets the next block of slots, so slots already assigned never move.
  refreshFiles() {
    const data = coverageData();
    const names = Object.keys(data);
    if (names.length === this.known.size) return;
    for (const name of names) {
      if (this.known.has(name)) continue;
      this.known.add(name);
      const c = data[name];
      const file = { s: c.s, f: c.f, b: c.b, sKeys: Object.keys(c.s), fKeys: Object.keys(c.f), bKeys: Object.keys(c.b), base: this.total };
      let size = file.sKeys.length + file.fKeys.length;
      for (const k of file.bKeys) size += c.b[k].length;
      this.total += size;
      this.files.push(file);
    }
    if (this.total > this.counters.length) {
      // Shared slots only blur the feedback (two counters look like one); say so once.
      if (!this.warned) process.stderr.write(`fuzz-js: ${this.total} coverage counters share ${this.counters.length} slots\n`);
      this.warned = true;
    }
  }

  /** Copies this input's counts into the extra counters and zeroes istanbul's. */
  flush() {
    this.refreshFiles();
    const out = this.counters;
    const n = out.length;
    for (const file of this.files) {
      let slot = file.base;
      const { s, f, b } = file;
      for (const k of file.sKeys) {
        const v = s[k];
        if (v !== 0) { out[slot % n] = v > 255 ? 255 : v; s[k] = 0; }
        slot++;
      }
      for (const k of file.fKeys) {
        const v = f[k];
        if (v !== 0) { out[slot % n] = v > 255 ? 255 : v; f[k] = 0; }
        slot++;
      }
      for (const k of file.bKeys) {
        const arms = b[k];
        for (let i = 0; i < arms.length; i++) {
          const v = arms[i];
          if (v !== 0) { out[slot % n] = v > 255 ? 255 : v; arms[i] = 0; }
          slot++;
        }
      }
    }
  }
}

module.exports = { CoverageFeedback };
