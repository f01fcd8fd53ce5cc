import { Lifetime, planMemory } from '../lib/runtime/memory-plan';

function overlaps(a: Lifetime, b: Lifetime): boolean {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

describe('planMemory', () => {
  test('a chain reuses two buffers instead of one per value', () => {
    const chain: Lifetime[] = Array.from({ length: 10 }, (_, i) => ({ id: i, bytes: 1000, firstStep: i, lastStep: i + 1 }));
    const plan = planMemory(chain);
    expect(plan.arenaBytes).toBe(2 * 1024);
  });

  test('values alive at the same time never share bytes (random lifetimes)', () => {
    let s = 1;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 50; trial++) {
      const values: Lifetime[] = Array.from({ length: 40 }, (_, id) => {
        const first = Math.floor(r() * 30);
        return { id, bytes: 1 + Math.floor(r() * 5000), firstStep: first, lastStep: first + Math.floor(r() * 8) };
      });
      const plan = planMemory(values);
      let total = 0;
      for (const v of values) total += Math.ceil(v.bytes / 64) * 64;
      expect(plan.arenaBytes).toBeLessThanOrEqual(total);
      for (const a of values) {
        const ao = plan.offsets.get(a.id)!;
        expect(ao + a.bytes).toBeLessThanOrEqual(plan.arenaBytes);
        expect(ao % 64).toBe(0);
        for (const b of values) {
          if (a.id >= b.id || !overlaps(a, b)) continue;
          const bo = plan.offsets.get(b.id)!;
          expect(ao + a.bytes <= bo || bo + b.bytes <= ao).toBe(true);
        }
      }
    }
  });
});
