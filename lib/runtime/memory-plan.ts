// Assigns arena offsets to intermediate values so buffers whose lifetimes do not overlap
// share memory. Lifetimes are step intervals [firstStep, lastStep]; a value is born at the
// step that writes it and dies after the last step that reads it.

export interface Lifetime {
  id: number;
  bytes: number;
  firstStep: number;
  lastStep: number;
}

export interface MemoryPlan {
  offsets: Map<number, number>;
  arenaBytes: number;
}

const ALIGN = 64;

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

interface Block {
  offset: number;
  bytes: number;
}

/**
 * Greedy best-fit over a free list, in step order: at each step, first the values born there
 * take the smallest free block that fits (or grow the arena), then the values dying there
 * give their blocks back (merged with free neighbours). Values read and written by the same
 * step never share a block because outputs are placed before that step's inputs are freed.
 */
export function planMemory(values: Lifetime[]): MemoryPlan {
  const offsets = new Map<number, number>();
  const byBirth = new Map<number, Lifetime[]>();
  const byDeath = new Map<number, Lifetime[]>();
  let lastStep = 0;
  for (const v of values) {
    if (v.lastStep < v.firstStep) throw new RangeError(`value ${v.id}: lastStep ${v.lastStep} before firstStep ${v.firstStep}`);
    (byBirth.get(v.firstStep) ?? byBirth.set(v.firstStep, []).get(v.firstStep)!).push(v);
    (byDeath.get(v.lastStep) ?? byDeath.set(v.lastStep, []).get(v.lastStep)!).push(v);
    lastStep = Math.max(lastStep, v.lastStep);
  }
  let free: Block[] = [];
  let arenaBytes = 0;
  for (let step = 0; step <= lastStep; step++) {
    // Largest first packs better.
    const born = (byBirth.get(step) ?? []).slice().sort((a, b) => b.bytes - a.bytes);
    for (const v of born) {
      const need = align(Math.max(v.bytes, 1));
      let best = -1;
      for (let i = 0; i < free.length; i++) {
        if (free[i].bytes >= need && (best < 0 || free[i].bytes < free[best].bytes)) best = i;
      }
      if (best >= 0) {
        const block = free[best];
        offsets.set(v.id, block.offset);
        if (block.bytes === need) free.splice(best, 1);
        else free[best] = { offset: block.offset + need, bytes: block.bytes - need };
      } else {
        // Grow: reuse a free block at the arena's end if there is one.
        const tail = free.find((b) => b.offset + b.bytes === arenaBytes);
        if (tail) {
          free = free.filter((b) => b !== tail);
          offsets.set(v.id, tail.offset);
          arenaBytes = tail.offset + need;
        } else {
          offsets.set(v.id, arenaBytes);
          arenaBytes += need;
        }
      }
    }
    for (const v of byDeath.get(step) ?? []) {
      free.push({ offset: offsets.get(v.id)!, bytes: align(Math.max(v.bytes, 1)) });
    }
    free = mergeFree(free);
  }
  return { offsets, arenaBytes };
}

function mergeFree(blocks: Block[]): Block[] {
  if (blocks.length < 2) return blocks;
  blocks.sort((a, b) => a.offset - b.offset);
  const out: Block[] = [blocks[0]];
  for (let i = 1; i < blocks.length; i++) {
    const last = out[out.length - 1];
    if (last.offset + last.bytes === blocks[i].offset) last.bytes += blocks[i].bytes;
    else out.push({ ...blocks[i] });
  }
  return out;
}
