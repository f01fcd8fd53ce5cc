// Checks on a request's JSON bytes before JSON.parse sees them. V8 parses nesting without
// recursion but slowly (about 10 µs a level: a 10 MB body of '[' blocked the event loop for a
// minute), and the parsed value then overflows the stack of anything recursive that touches
// it (JSON.stringify in an error message). A linear byte scan bounds both.
import { isUtf8 } from 'buffer';
import { badRequest } from './http-error';

/** Deep enough for any tensor's nested data (a rank-32 tensor nests 35 levels in a request). */
export const DEFAULT_MAX_JSON_DEPTH = 64;

const OPEN_BRACKET = 0x5b, OPEN_BRACE = 0x7b, CLOSE_BRACKET = 0x5d, CLOSE_BRACE = 0x7d;
const QUOTE = 0x22, BACKSLASH = 0x5c;

/** The deepest array/object nesting in `bytes`, stopping as soon as it passes `limit`. */
export function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0, deepest = 0, inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;  // the escaped byte cannot end the string
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return deepest;
}

/** Throws a 400 when `json` is not UTF-8 (RFC 8259 requires it) or nests deeper than `maxDepth`. */
export function checkJsonBytes(json: Uint8Array, maxDepth: number): void {
  if (!isUtf8(json)) throw badRequest('the JSON in the request body is not valid UTF-8');
  if (jsonDepth(json, maxDepth) > maxDepth) throw badRequest(`the JSON in the request body nests arrays/objects deeper than ${maxDepth} levels (maxJsonDepth)`);
}
