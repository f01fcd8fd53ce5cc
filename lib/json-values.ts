// Untrusted JSON values (request bodies, feed files) can nest as deep as their bytes allow,
// and JSON.parse builds them without recursion; what reads them must not recurse per level
// either (Array.prototype.flat and JSON.stringify do, and overflow the stack on a few KB of
// '['), and error messages must quote them at a bounded size.

/** `value.flat(depth)` without recursion: nested arrays up to `depth` levels spliced in order. */
export function flattenArrays(value: readonly unknown[], depth: number): unknown[] {
  const out: unknown[] = [];
  const stack: { items: readonly unknown[]; next: number }[] = [{ items: value, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.next++];
    if (Array.isArray(item) && stack.length <= depth) stack.push({ items: item, next: 0 });
    else out.push(item);
  }
  return out;
}

const PREVIEW_DEPTH = 6;

/** JSON text of `value` for an error message: at most about `maxChars`, deep levels as '…'. */
export function jsonPreview(value: unknown, maxChars = 80): string {
  let out = '';
  const full = (): boolean => out.length >= maxChars;
  const write = (v: unknown, depth: number): void => {
    if (full()) return;
    if (typeof v === 'string') {
      out += JSON.stringify(v.length > maxChars ? v.slice(0, maxChars) : v);
    } else if (Array.isArray(v)) {
      if (depth >= PREVIEW_DEPTH) { out += '[…]'; return; }
      out += '[';
      for (let i = 0; i < v.length && !full(); i++) {
        if (i > 0) out += ',';
        write(v[i], depth + 1);
      }
      out += ']';
    } else if (typeof v === 'object' && v !== null) {
      if (depth >= PREVIEW_DEPTH) { out += '{…}'; return; }
      out += '{';
      const entries = Object.entries(v);
      for (let i = 0; i < entries.length && !full(); i++) {
        if (i > 0) out += ',';
        out += `${JSON.stringify(entries[i][0].slice(0, maxChars))}:`;
        write(entries[i][1], depth + 1);
      }
      out += '}';
    } else {
      out += String(v);  // numbers, booleans, null (and undefined, which JSON lacks)
    }
  };
  write(value, 0);
  return out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}
