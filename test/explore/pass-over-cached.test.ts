/**
 * The pass-over bound (`explore --max-pass-over K`, src/explore/passover.ts) on the transition cache
 * (src/explore/cached.ts, passover-counts.ts): the same search as the direct engine's, decision by
 * decision — the same states (the counts part of each), transitions (those taken to a run past the
 * bound counted, not kept), end states, verdicts, messages and counterexamples — with every cached
 * transition checked against the simulation, down to whether it moved its CPU (`verify`). Held on
 * R2 under v6.2 (the `reboot-completes` hang the bound rules out) at several bounds, on the SMI and
 * the stall that bring the hang back, on wider machines cut short, and on random small machines.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_EXPLORE, explore, type ExploreResult } from '../../src/explore/explorer.js';
import { loadScenario, withKernel } from '../../src/cli/scenario-args.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { machineArb, scenarioOf as randomScenario } from '../fuzz/pruning-arb.js';
import { fuzzParams } from '../fuzz/fuzz-params.js';
import { afterNmis, both, same as sameSearch } from './engines.js';

const r2 = (kernel: string, cpus?: number): Scenario => withKernel(loadScenario('R2', () => '', cpus), kernel, [], []);

/** Both engines with bound `k` (no sleep sets: explore() turns them off under a bound, both() is below it). */
const bounded = (s: Scenario, k: number, more: Parameters<typeof both>[1] = {}) => both(s, { maxPassOver: k, reduction: false, ...more });

describe('the pass-over bound on the transition cache: the same search as the direct engine', () => {
  it('explore() keeps the transition cache under a bound, without sleep sets', () => {
    const r = explore(r2('v6.2'), { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, maxPassOver: 8 });
    expect(r.cache).toBeDefined();
    expect(r.slept).toBeUndefined();
    const direct = explore(r2('v6.2'), { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, maxPassOver: 8, engine: 'direct' });
    expect(direct.cache).toBeUndefined();
    sameSearch(direct, r, { stoppedBy: true });
  });

  it('R2 under v6.2, 2 CPUs, with bounds 1, 2, 5 and 35', () => {
    const states: number[] = [];
    for (const k of [1, 2, 5, 35]) {
      const { direct, cached, stats } = bounded(r2('v6.2'), k);
      expect(direct.complete).toBe(true);
      sameSearch(direct, cached, { stoppedBy: true });
      expect(stats.hits).toBeGreaterThan(stats.misses);
      states.push(cached.statesVisited);
    }
    // Each bound is a different search (the counts are kept and cut): a wider one reaches more.
    expect(states).toEqual([...states].sort((a, b) => a - b));
    expect(new Set(states).size).toBe(states.length);
  });

  it('an SMI or a stall of CPU 0 after its NMIs brings the hang back under a tight bound, in both engines alike', () => {
    for (const action of ['smi', 'stall'] as const) {
      for (const k of [2, 4]) {
        const { direct, cached } = bounded(afterNmis(action), k);
        sameSearch(direct, cached, { stoppedBy: true });
        expect(cached.violations.map((v) => v.property)).toContain('reboot-completes');
      }
    }
    // Without them, the same bound leaves the hang out (the deliveries and scripted actions that
    // did not move their CPU counted as the direct engine counts them).
    const { direct, cached } = bounded(r2('v6.2'), 4, { properties: ['reboot-completes'] });
    sameSearch(direct, cached, { stoppedBy: true });
    expect(cached.violations).toEqual([]);
  });

  it('wider machines cut short: R2 v6.2 with 3 CPUs, and a scripted stall with 4 CPUs (T5)', () => {
    const { direct, cached } = bounded(r2('v6.2', 3), 8, { maxStates: 15_000 });
    expect(direct.stoppedBy).toEqual(['max-states']);
    sameSearch(direct, cached, { stoppedBy: true });
    const t5 = bounded(withKernel(loadScenario('T5', () => ''), 'v6.2', [], []), 3, { maxStates: 4_000 });
    sameSearch(t5.direct, t5.cached, { stoppedBy: true });
  });

  it('random small machines (fast-check), bounds 1 to 6', () => {
    fc.assert(
      fc.property(machineArb, fc.integer({ min: 1, max: 6 }), (raw, k) => {
        const { direct, cached } = bounded(randomScenario(raw), k, { maxStates: 1_500 });
        sameSearch(direct, cached, { stoppedBy: true });
      }),
      fuzzParams(50),
    );
  });
});
