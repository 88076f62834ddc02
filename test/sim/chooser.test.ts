import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayChooser, ReplayDivergence, restoreChooser, SeededChooser, type ChooserState, type Pick } from '../../src/sim/chooser.js';

/** mulberry32 as published (bryc/code, jshash/PRNGs.md), written independently of the chooser. */
function referenceMulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const draw = (c: { choose(n: number, kind: 'next' | 'latency'): number }, n: number, count: number): number[] =>
  Array.from({ length: count }, () => c.choose(n, 'next'));

describe('SeededChooser', () => {
  it('is mulberry32: choose(n) is floor(u · n) for the published generator, so recorded seeds keep reproducing', () => {
    for (const seed of [0, 1, 42, 0xdeadbeef, -7]) {
      const ref = referenceMulberry32(seed);
      const c = new SeededChooser(seed);
      for (const n of [2, 3, 10, 1000, 2 ** 20]) {
        for (let i = 0; i < 50; i++) expect(c.choose(n)).toBe(Math.floor(ref() * n));
      }
    }
  });

  it('the same seed gives the same sequence of choices', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.integer({ min: 2, max: 5000 }), { minLength: 1, maxLength: 50 }), (seed, ns) => {
        const a = new SeededChooser(seed);
        const b = new SeededChooser(seed);
        expect(ns.map((n) => a.choose(n))).toEqual(ns.map((n) => b.choose(n)));
      }),
    );
  });

  it('different seeds give different sequences', () => {
    const seqs = new Set([1, 2, 3, 4, 5, 1000, 123456].map((seed) => draw(new SeededChooser(seed), 1 << 16, 8).join(',')));
    expect(seqs.size).toBe(7);
  });

  it('every choice is an integer in [0, n)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.integer({ min: 1, max: 2 ** 20 }), { minLength: 1, maxLength: 100 }), (seed, ns) => {
        const c = new SeededChooser(seed);
        for (const n of ns) {
          const pick = c.choose(n);
          expect(Number.isInteger(pick)).toBe(true);
          expect(pick).toBeGreaterThanOrEqual(0);
          expect(pick).toBeLessThan(n);
        }
      }),
    );
  });

  it('covers the whole range: every value of [0, n) comes up for small n', () => {
    const c = new SeededChooser(7);
    for (const n of [2, 3, 7, 16]) expect(new Set(draw(c, n, 50 * n)).size).toBe(n);
  });

  it('a choice among one (or none) is 0 and consumes no randomness', () => {
    const c = new SeededChooser(99);
    const before = c.save();
    expect(c.choose(1)).toBe(0);
    expect(c.choose(0)).toBe(0);
    expect(c.save()).toEqual(before);
    expect(c.choose(100)).toBe(new SeededChooser(99).choose(100));
  });

  it('save/restore continues the same sequence, through JSON', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: 40 }), (seed, skip) => {
        const c = new SeededChooser(seed);
        draw(c, 97, skip);
        const state = JSON.parse(JSON.stringify(c.save())) as ChooserState;
        expect(state).toMatchObject({ kind: 'seeded', seed });
        const copy = restoreChooser(state);
        expect(draw(copy, 1000, 20)).toEqual(draw(c, 1000, 20));
      }),
    );
  });
});

describe('ReplayChooser', () => {
  const picks: Pick[] = [
    { kind: 'next', n: 3, pick: 2 },
    { kind: 'latency', n: 10, pick: 7 },
    { kind: 'next', n: 2, pick: 0 },
  ];

  it('returns the recorded picks in order when asked the same questions', () => {
    const r = new ReplayChooser(picks);
    expect([r.choose(3, 'next'), r.choose(10, 'latency'), r.choose(2, 'next')]).toEqual([2, 7, 0]);
  });

  it('a choice among one is 0 and does not consume a recorded pick (the scheduler records none)', () => {
    const r = new ReplayChooser(picks);
    expect(r.choose(1, 'next')).toBe(0);
    expect(r.choose(1, 'latency')).toBe(0);
    expect(r.choose(3, 'next')).toBe(2);
  });

  it('a different kind at the same point throws ReplayDivergence naming the position, the recorded and the asked choice', () => {
    const r = new ReplayChooser(picks);
    r.choose(3, 'next');
    let err: unknown;
    try {
      r.choose(10, 'next');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ReplayDivergence);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/choice 1\b/);
    expect(message).toMatch(/latency among 10/);
    expect(message).toMatch(/next among 10/);
  });

  it('a different n at the same point throws ReplayDivergence naming both counts', () => {
    const r = new ReplayChooser(picks);
    expect(() => r.choose(4, 'next')).toThrow(ReplayDivergence);
    expect(() => r.choose(4, 'next')).toThrow(/choice 0\b.*next among 3.*next among 4/);
  });

  it('a divergence does not advance the replay: the right question still gets the recorded pick', () => {
    const r = new ReplayChooser(picks);
    expect(() => r.choose(5, 'latency')).toThrow(ReplayDivergence);
    expect(r.choose(3, 'next')).toBe(2);
  });

  it('asking past the end of the recording throws ReplayDivergence saying it ran out, at which choice', () => {
    const r = new ReplayChooser(picks);
    draw(r, 3, 1);
    r.choose(10, 'latency');
    r.choose(2, 'next');
    expect(() => r.choose(5, 'latency')).toThrow(ReplayDivergence);
    expect(() => r.choose(5, 'latency')).toThrow(/ran out.*choice 3\b.*latency of 5/);
  });

  it('an empty recording diverges on the first real choice', () => {
    expect(() => new ReplayChooser([]).choose(2, 'next')).toThrow(ReplayDivergence);
  });

  it('save/restore continues from the same position, through JSON', () => {
    const r = new ReplayChooser(picks);
    r.choose(3, 'next');
    const state = JSON.parse(JSON.stringify(r.save())) as ChooserState;
    expect(state).toEqual({ kind: 'replay', picks, position: 1 });
    const copy = restoreChooser(state);
    expect(copy).toBeInstanceOf(ReplayChooser);
    expect(copy.choose(10, 'latency')).toBe(7);
    expect(copy.choose(2, 'next')).toBe(0);
    expect(() => copy.choose(2, 'next')).toThrow(ReplayDivergence);
  });

  it('the saved picks are a copy: changing them does not change the chooser', () => {
    const recorded = picks.map((p) => ({ ...p }));
    const r = new ReplayChooser(recorded);
    const state = r.save();
    if (state.kind !== 'replay') throw new Error('expected a replay state');
    state.picks.length = 0;
    expect(r.choose(3, 'next')).toBe(2);
  });
});
