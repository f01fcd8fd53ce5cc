// The benchmarks' interleaved timer: contenders alternate in reversed order each round, each
// round starts with an untimed call, and every contender gets its own samples.
import { timeInterleaved } from '../bench/timing';

describe('timeInterleaved', () => {
  test('alternates the contenders round by round and times each one separately', async () => {
    const calls: string[] = [];
    const contender = (name: string, ms: number) => async () => {
      calls.push(name);
      const until = performance.now() + ms;
      while (performance.now() < until) { /* busy: a measurable cost */ }
    };
    const [a, b] = await timeInterleaved([contender('a', 0), contender('b', 2)], { rounds: 2, minMs: 0, minIters: 4 });
    // First calls untimed, then round 1 (a then b) and round 2 (b then a), each one untimed
    // call plus two timed ones.
    expect(calls.join('')).toBe('ab' + 'aaa' + 'bbb' + 'bbb' + 'aaa');
    expect(a.iterations).toBe(4);
    expect(b.iterations).toBe(4);
    expect(b.medianMs).toBeGreaterThanOrEqual(2);
    expect(a.medianMs).toBeLessThan(b.medianMs);
    expect(b.minMs).toBeLessThanOrEqual(b.medianMs);
  });
});
