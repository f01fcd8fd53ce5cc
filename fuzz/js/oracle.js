'use strict';
// The bug oracle: what a decoder may do with hostile bytes. It may return, or throw an
// Error that our code built and whose message says what was wrong. Everything else is a
// finding:
//  - a throw of something that is not an Error;
//  - an error whose message (or a message it wraps) is one of V8's own, which only appear
//    when our code did something it did not mean to: read a property of undefined, call a
//    non-function, allocate an impossible array, recurse without bound...;
//  - an error constructed outside our code (its first stack frame is not in lib/ or
//    dist/lib/): a JSON.parse SyntaxError, a protobufjs RangeError or a Node internal error
//    that escaped without our context (which file, which tensor, which input).
// Our own code throws TypeError/RangeError too (lib/errors.ts), so the class alone cannot
// tell ours from the engine's; where the error was made, and V8's fixed wording, can.
const path = require('path');
const { types } = require('util');

// Errors V8 makes in another realm (a vm context, as under jest) fail instanceof Error.
const isError = (v) => v instanceof Error || types.isNativeError(v);

const ENGINE_MESSAGES = [
  /Cannot read propert(y|ies) of (undefined|null)/,
  /Cannot set propert(y|ies) of (undefined|null)/,
  /Cannot (destructure|create property|convert (undefined|null|a Symbol value|object)|mix BigInt)/,
  /Cannot convert .* to a BigInt/,
  /is not (a function|iterable|a constructor|defined)\b/,
  /Invalid (array|typed array|string|DataView) length/,
  /Invalid (typed array|DataView) offset|Start offset .* is outside the bounds|out of bounds access/,
  /Array buffer allocation failed/,
  /Maximum call stack size exceeded/,
  /Reduce of empty array with no initial value/,
  /The number .* cannot be converted to a BigInt/,
  /Cannot create a string longer than/,
  /Invalid count value/,
];

const ROOT = path.resolve(__dirname, '..', '..');
const OURS = new RegExp(`\\(?${escape(ROOT)}/(dist/)?lib/`);

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The first frame of an error's stack: where it was constructed. */
function originFrame(error) {
  const stack = typeof error.stack === 'string' ? error.stack : '';
  const line = stack.split('\n').find((l) => /^\s+at /.test(l));
  return line ? line.trim() : undefined;
}

/**
 * Why `thrown` is a bug, or undefined when it is one of our deliberate errors.
 * @param {unknown} thrown
 * @returns {string | undefined}
 */
function findingOf(thrown) {
  if (!isError(thrown)) return `threw a non-Error: ${String(thrown)}`;
  for (let e = thrown, depth = 0; isError(e) && depth < 8; e = e.cause, depth++) {
    const engine = ENGINE_MESSAGES.find((re) => re.test(e.message));
    if (engine) return `an engine error (${e.name}: ${e.message})`;
  }
  const frame = originFrame(thrown);
  if (!frame || !OURS.test(frame)) return `an error made outside our code (${thrown.name}: ${thrown.message}; ${frame ?? 'no stack'})`;
  if (!thrown.message.trim()) return `an error with an empty message (${thrown.name})`;
  return undefined;
}

module.exports = { findingOf, ENGINE_MESSAGES };
