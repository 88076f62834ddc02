/**
 * Finer dependence for sleep sets (src/explore/dependence.ts). Sleep sets only skip transitions:
 * with them a search must reach the very states the search without them reaches, with the same
 * verdicts and messages at the same depths. Checked on random machines, on R1/R2 with 2–3 CPUs
 * under every preset, and on the built-ins with guests — where the coarser relation kept to measure
 * against loses states. And at the level of single decisions: two choices the relation calls
 * independent, taken in either order from real states, reach one state with observers that
 * remember the same, each with the same footprint after the other; that check catches a relation
 * that ignored shared memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult } from '../../src/explore/explorer.js';
import { footprintText, independent, independentShared, StepFootprints, type Footprint } from '../../src/explore/dependence.js';
import { Harness, memoryHash, visitedKey } from '../../src/explore/harness.js';
import { PRESETS } from '../../src/kernel/variants.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Capture } from '../../src/sim/simulation.js';
import type { Observer } from '../../src/spec/index.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { machineArb, scenarioOf } from '../fuzz/pruning-arb.js';
import { fuzzParams, fuzzTimeout } from '../fuzz/fuzz-params.js';

function builtin(id: string, cpus?: number, preset?: string): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(id);
  const raw = b.raw as Record<string, unknown>;
  const r = validateScenario(
    { ...raw, ...(cpus ? { machine: { ...(raw.machine as object), cpus } } : {}), ...(preset ? { kernel: { preset } } : {}) },
    b.id,
    validationContext,
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

const search = (s: Scenario, o: Partial<ExploreOptions>): ExploreResult =>
  explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, collectEnds: true, ...o });

/** What a search reached and found: the state count, the end states, each violation with its message and depth. */
const reached = (r: ExploreResult) => ({
  complete: r.complete,
  states: r.statesVisited,
  ends: r.ends,
  violations: r.violations.map((v) => `${v.property}: ${v.message} (${v.picks.length} decisions)`).sort(),
});

describe('sleep sets on read/write footprints reach what the search without them reaches', () => {
  it(
    'on random machines, on both engines',
    () => {
      let compared = 0;
      fc.assert(
        fc.property(machineArb, fc.constantFrom('cached' as const, 'direct' as const), (raw, engine) => {
          const s = scenarioOf(raw);
          const full = search(s, { reduction: false, maxStates: 15_000, engine });
          fc.pre(full.complete);
          compared += 1;
          const reduced = search(s, { reduction: true, maxStates: 15_000, engine });
          expect(reached(reduced)).toEqual(reached(full));
          expect(reduced.transitions).toBeLessThanOrEqual(full.transitions);
        }),
        fuzzParams(12),
      );
      expect(compared).toBeGreaterThan(0);
    },
    fuzzTimeout(180_000),
  );

  for (const id of ['R1', 'R2']) {
    for (const cpus of [2, 3]) {
      it(`${id} with ${cpus} CPUs under every preset: the same states, ends and violations, fewer transitions than the coarser relation`, () => {
        for (const p of PRESETS) {
          const s = builtin(id, cpus, p.name);
          const full = search(s, { reduction: false });
          const fine = search(s, { reduction: true });
          const shared = search(s, { reduction: true, dependence: 'shared' });
          expect(full.complete, p.name).toBe(true);
          expect(reached(fine), p.name).toEqual(reached(full));
          expect(fine.transitions, p.name).toBeLessThanOrEqual(shared.transitions);
          // Fewer transitions only by choices slept.
          expect((fine.slept ?? 0) > 0 || fine.transitions === full.transitions, p.name).toBe(true);
        }
      }, 300_000);
    }
  }

  it.each(['T8', 'T9', 'T10', 'T11', 'T12', 'T13', 'T15'])('%s (guests): the same states, ends and violations', (id) => {
    const s = builtin(id);
    const full = search(s, { reduction: false });
    expect(full.complete).toBe(true);
    for (const engine of ['cached', 'direct'] as const) expect(reached(search(s, { reduction: true, engine })), engine).toEqual(reached(full));
  });

  it('T15: the coarser relation (different CPUs, nothing shared written or sent) loses states; this one does not', () => {
    // Two guest steps on different CPUs that write no kernel memory and send nothing still share a
    // guest actor or an observer: taking only one order of them drops states.
    const s = builtin('T15');
    const full = search(s, { reduction: false });
    const shared = search(s, { reduction: true, dependence: 'shared' });
    expect(shared.statesVisited).toBeLessThan(full.statesVisited);
    expect(search(s, { reduction: true }).statesVisited).toBe(full.statesVisited);
  });
});

interface At {
  capture: Capture;
  observers: Observer[];
}

/**
 * Walk `walks` random paths of `depth` decisions; at each state, take every pair of choices the
 * relation calls independent in both orders and say where they do not commute: another state or
 * other observer memory at the end, or a footprint that changed after the other choice.
 */
function commutation(s: Scenario, relation: (a: Footprint, b: Footprint) => boolean, walks: number, depth: number): { pairs: number; failures: string[] } {
  const h = new Harness(s, []);
  const root = h.freshObservers();
  h.attach(root);
  h.sim.header();
  const steps = new StepFootprints(h.sim);
  /** From a state (after its poll), take the choice `key`: its footprint and the state after it (polled), or null if the run ended. */
  const take = (at: At, key: string): { fp: Footprint; next: At; state: number; ended: boolean } => {
    h.sim.restoreCapture(at.capture);
    h.fork(at.observers);
    const pick = h.sim.choiceKeys().indexOf(key);
    if (pick < 0) throw new Error(`no choice ${key}`);
    steps.before();
    h.sim.trackReads();
    const shown = h.decide(pick);
    const fp = steps.footprint(key, shown, h.sim.endTracking());
    const observers = h.current;
    const ended = h.sim.poll() === 0;
    const state = visitedKey(h.sim.stateHash(), memoryHash(observers, h.sim.now));
    return { fp, next: { capture: h.sim.capture(), observers }, state, ended };
  };
  const enabled = (at: At, key: string): boolean => {
    h.sim.restoreCapture(at.capture);
    return h.sim.choiceKeys().includes(key);
  };
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  h.sim.poll();
  const start: At = { capture: h.sim.capture(), observers: root };
  let pairs = 0;
  const failures: string[] = [];
  for (let w = 0; w < walks; w++) {
    let at = start;
    for (let d = 0; d < depth; d++) {
      h.sim.restoreCapture(at.capture);
      const keys = h.sim.choiceKeys();
      if (keys.length === 0) break;
      const first = keys.map((k) => take(at, k));
      for (let i = 0; i < keys.length; i++) {
        for (let j = i + 1; j < keys.length; j++) {
          const a = first[i] as ReturnType<typeof take>;
          const b = first[j] as ReturnType<typeof take>;
          if (!relation(a.fp, b.fp) || a.ended || b.ended) continue;
          pairs += 1;
          const where = `walk ${w}, depth ${d}: ${keys[i]} and ${keys[j]}`;
          if (!enabled(a.next, keys[j] as string) || !enabled(b.next, keys[i] as string)) {
            failures.push(`${where}: one disables the other`);
            continue;
          }
          const ab = take(a.next, keys[j] as string);
          const ba = take(b.next, keys[i] as string);
          if (ab.state !== ba.state) failures.push(`${where}: the two orders reach different states`);
          if (footprintText(ab.fp) !== footprintText(b.fp)) failures.push(`${where}: ${keys[j]}'s footprint changed after ${keys[i]}`);
          if (footprintText(ba.fp) !== footprintText(a.fp)) failures.push(`${where}: ${keys[i]}'s footprint changed after ${keys[j]}`);
        }
      }
      const next = first[rnd(first.length)] as ReturnType<typeof take>;
      if (next.ended) break;
      at = next.next;
    }
  }
  return { pairs, failures };
}

describe('independent choices commute, taken from real states', () => {
  it.each([
    ['R2', 3, 'mainline'],
    ['R2', 3, 'v5.11'],
    ['R1', 3, 'v5.10'],
  ] as const)('%s with %i CPUs on %s', (id, cpus, preset) => {
    const r = commutation(builtin(id, cpus, preset), independent, 12, 80);
    expect(r.failures).toEqual([]);
    expect(r.pairs).toBeGreaterThan(0);
  }, 120_000);

  it.each(['T15', 'T14'])('%s (guests)', (id) => {
    // T14: a vhost worker's run looks at the vCPU thread's CPU only for whether it runs tasks.
    const r = commutation(builtin(id), independent, 12, 60);
    expect(r.failures).toEqual([]);
    expect(r.pairs).toBeGreaterThan(0);
  }, 120_000);

  it('a relation that ignored shared memory is caught: two CPUs writing one field do not commute', () => {
    const blind = (a: Footprint, b: Footprint) => independent({ ...a, memRead: 0, memWrite: 0 }, { ...b, memRead: 0, memWrite: 0 });
    const r = commutation(builtin('R2', 3, 'mainline'), blind, 12, 80);
    expect(r.failures.length).toBeGreaterThan(0);
  }, 120_000);

  it('the coarser relation is caught on T15', () => {
    const r = commutation(builtin('T15'), independentShared, 12, 60);
    expect(r.failures.length).toBeGreaterThan(0);
  }, 120_000);

  it('two real steps that write one memory field are dependent', () => {
    // R2: CPU 0 restarts (SysRq-b) while CPU 1 panics; walk until two choices both write a field
    // and conflict in nothing else, and hold the relation to it on their real footprints.
    const s = builtin('R2', 2, 'v5.11');
    const h = new Harness(s, []);
    h.attach(h.freshObservers());
    h.sim.header();
    const steps = new StepFootprints(h.sim);
    const blind = (a: Footprint, b: Footprint) => independent({ ...a, memRead: 0, memWrite: 0 }, { ...b, memRead: 0, memWrite: 0 });
    let found: [Footprint, Footprint] | null = null;
    for (let d = 0; d < 200 && !found && h.sim.poll() > 0; d++) {
      const at = h.sim.capture();
      const keys = h.sim.choiceKeys();
      const fps = keys.map((k, i) => {
        h.sim.restoreCapture(at);
        steps.before();
        h.sim.trackReads();
        const shown = h.decide(i);
        return steps.footprint(k, shown, h.sim.endTracking());
      });
      for (let i = 0; i < fps.length && !found; i++) {
        for (let j = i + 1; j < fps.length && !found; j++) {
          const a = fps[i] as Footprint;
          const b = fps[j] as Footprint;
          if ((a.memWrite & b.memWrite) !== 0 && blind(a, b)) found = [a, b];
        }
      }
      h.sim.restoreCapture(at);
      h.decide(d % keys.length);
    }
    expect(found).not.toBeNull();
    const [a, b] = found as [Footprint, Footprint];
    expect(independent(a, b)).toBe(false);
  });
});
