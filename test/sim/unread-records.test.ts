/**
 * A run told which record kinds its caller does not read (`unread`: the CLI's timeline and JSON outcome
 * without a trace file, a replay or `--steps`) leaves exactly those out: every other record is the same, in
 * the same order, and the run ends in the same state.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS, loadBuiltin } from '../../src/sim/catalog.js';
import { Simulation, type UnreadRecord } from '../../src/sim/simulation.js';
import { formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Scenario } from '../../src/scenarios/types.js';

function builtin(id: string): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  return r.scenario;
}

function run(s: Scenario, seed: number, unread?: readonly UnreadRecord[]): { lines: string[]; kinds: Set<string>; state: unknown } {
  const sim = new Simulation(s, { seed, ...(unread ? { unread } : {}) });
  const records: TraceRecord[] = [];
  sim.trace$.subscribe((r) => records.push(r));
  sim.header();
  sim.run();
  const state = sim.save();
  sim.stop();
  return { lines: records.map(formatRecord), kinds: new Set(records.map((r) => r.t)), state };
}

const UNREAD: readonly UnreadRecord[] = ['step', 'choice', 'insn', 'timer'];

describe('records a caller does not read are not written', () => {
  it.each(BUILTIN_SCENARIOS.map((b) => b.id))('%s: the trace less those kinds, the same end state', (id) => {
    const s = builtin(id);
    const all = run(s, 2);
    const less = run(s, 2, UNREAD);
    for (const k of UNREAD) expect(less.kinds.has(k)).toBe(false);
    const kept = all.lines.filter((l) => !UNREAD.includes((JSON.parse(l) as TraceRecord).t as UnreadRecord));
    expect(less.lines).toEqual(kept);
    expect(less.state).toEqual(all.state);
  });

  it('each kind alone', () => {
    const s = builtin('T5');
    const all = run(s, 1);
    for (const k of UNREAD) {
      // The scenario writes each kind (else this case would prove nothing).
      expect(all.kinds.has(k)).toBe(true);
      const less = run(s, 1, [k]);
      expect(less.lines).toEqual(all.lines.filter((l) => (JSON.parse(l) as TraceRecord).t !== k));
    }
  });
});
