/**
 * The transition cache (src/explore/cached.ts) is an optimisation of the search, not a different
 * search: on every scenario without guests it must visit the same states, take the same
 * transitions, reach the same end states and report the same counterexamples as the direct engine,
 * and (verify) every transition it applies from its cache must land on the state the simulation
 * itself reaches.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { machineArb, scenarioOf as randomScenario } from '../fuzz/pruning-arb.js';
import type { ExploreResult } from '../../src/explore/explorer.js';
import { both, same } from './engines.js';
import { BUILTIN_SCENARIOS, RACE_SCENARIOS, findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';

function scenarioOf(id: string, preset?: string, cpus?: number): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(id);
  const raw = { ...b.raw, ...(cpus ? { machine: { ...(b.raw as { machine?: object }).machine, cpus } } : {}), ...(preset ? { kernel: { preset } } : {}) };
  const r = validateScenario(raw, b.id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}



const hostOnly = [...BUILTIN_SCENARIOS, ...RACE_SCENARIOS].filter((b) => {
  const s = scenarioOf(b.id);
  return s.vcpus.length === 0 && s.vsock.length === 0;
}).map((b) => b.id);

describe('transition cache: the same search as the direct engine', () => {
  const races: [string, string, number, string[], number][] = [
    ['R1', 'v5.11', 2, [], 100_000],
    ['R1', 'mainline', 3, [], 100_000],
    ['R2', 'v5.11', 2, [], 100_000],
    ['R2', 'v5.10', 2, [], 100_000],
    ['R2-novmcs', 'v5.10', 2, [], 100_000],
    ['R2', 'mainline', 2, ['shootdown-acked'], 100_000],
    ['R2', 'v5.11', 3, [], 6_000],
    ['R2', 'mainline', 3, ['no-kernel-bug'], 6_000],
    // Two CPUs wait 1 s from the same moment: ordered deadlines (held timers, their places) in both engines.
    ['R2', 'v6.2', 2, [], 100_000],
    ['R2', 'v6.2', 3, ['reboot-completes'], 8_000],
  ];
  for (const [id, preset, cpus, properties, maxStates] of races) {
    it(`${id} ${preset}, ${cpus} CPUs${properties.length ? `, ${properties.join(' ')}` : ''}${maxStates < 100_000 ? `, first ${maxStates} states` : ''}`, () => {
      const { direct, cached, stats } = both(scenarioOf(id, preset, cpus), { properties, maxStates });
      same(direct, cached);
      // The cache was used (verify checked each hit against the simulation); with 3 CPUs most
      // transitions come from it.
      expect(stats.hits).toBeGreaterThan(cpus >= 3 ? stats.misses : 0);
    });
  }

  it('without the memos a wide machine outgrows (sleep sets and pending-item signatures worked out each time), the same search', () => {
    // The search drops them by itself on wide machines once they stop paying (cached.ts: candMemo,
    // SIG_MEMO); noMemos starts without them, so both ways of working the sets out are held to the direct engine.
    for (const [id, preset, cpus] of [['R2', 'v5.11', 3], ['R1', 'mainline', 3], ['T1', 'v6.6', 6]] as const) {
      const { direct, cached, stats } = both(scenarioOf(id, preset, cpus), { maxStates: 6_000, noMemos: true });
      same(direct, cached);
      expect(cached.slept).toBeGreaterThan(0);
      // And the same lookups: a signature worked out wrong would only turn hits into misses.
      expect(stats).toEqual(both(scenarioOf(id, preset, cpus), { maxStates: 6_000 }).stats);
    }
  });

  it('stopping at each property\'s first violation (the default), both stop at the same state with the same counterexamples', () => {
    const { direct, cached } = both(scenarioOf('R2', 'v5.11', 3), { allViolations: false, properties: ['no-kernel-bug', 'shootdown-acked'] });
    same(direct, cached);
    expect(cached.stoppedBy).toEqual(['violations']);
    expect(direct.stoppedBy).toEqual(['violations']);
  });

  it('a write notification that names several memory fields writes only those assigned or changed (fuzz find)', () => {
    // register_nmi_handler and set_emergency_nmi_handler both notify 'nmi_handlers'; taking every field
    // that notification can touch as written recorded nmi_local's old value with the emergency
    // handler and wrote it back on another path, wiping the smp_stop handler (verify caught it at
    // node 18092). Written fields are now the ones assigned or changed.
    const raw = {
      name: 'fuzz-15-7',
      machine: { cpus: 3, vendor: 'amd' },
      initial: { all: {} },
      kernel: { preset: 'mainline' },
      options: { kdump: false, panicTimeout: 2 },
      script: [
        { cpu: 2, do: 'nmi-panic', at: 0 },
        { cpu: 1, do: 'smi', at: 0 },
        { cpu: 0, do: 'panic', at: 5000 },
        { cpu: 0, do: 'reboot', when: { cpu: 2, enters: 'stop.*' } },
      ],
    };
    const r = validateScenario(raw, 'fuzz-15-7', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const { direct, cached } = both(r.scenario, { maxStates: 20_000, properties: ['reboot-completes'] });
    same(direct, cached);
  });

  it('without sleep sets as well', () => {
    const { direct, cached } = both(scenarioOf('R2', 'v5.11', 2), { reduction: false });
    same(direct, cached);
  });

  it('bounded by depth: the same truncated search', () => {
    const { direct, cached } = both(scenarioOf('R2', 'v5.11', 3), { maxDepth: 12 });
    expect(direct.complete).toBe(false);
    same(direct, cached);
  });

  it(`every built-in scenario without guests (${hostOnly.join(', ')}), first 3,000 states`, () => {
    expect(hostOnly.length).toBeGreaterThan(5);
    for (const id of hostOnly) {
      const { direct, cached } = both(scenarioOf(id), { maxStates: 3_000 });
      same(direct, cached);
    }
  });
});

describe('transition cache: random machines (fast-check)', () => {
  it('the same search as the direct engine, every cached transition checked against the simulation', () => {
    fc.assert(
      // Random small machines (test/fuzz/pruning-arb.ts): 1–3 CPUs, any preset, up to three script steps,
      // some fired by another CPU entering a state (the decision that fires it reads that CPU).
      fc.property(machineArb, fc.boolean(), (raw, reduction) => {
        const { direct, cached } = both(randomScenario(raw), { maxStates: 1_500, reduction });
        same(direct, cached);
      }),
      { numRuns: 40 },
    );
  });
});
