/**
 * A violation found by exploration becomes a trace file: its picks are replayed through the
 * ordinary simulator (untimed, as explored) with every property observer watching, and the
 * violation must show again before the trace is written — the file then replays with
 * `shootdown run --replay` to the same violation.
 */
import type { Scenario } from '../scenarios/types.js';
import { runScenario } from '../sim/run.js';
import { PrefixChooser } from '../sim/chooser.js';
import { formatRecord } from '../trace/records.js';
import type { Found } from './options.js';
import { Harness } from './harness.js';

export interface Counterexample {
  property: string;
  message: string;
  /** Decisions in the run (forced ones included). */
  length: number;
  lines: string[];
}

/**
 * What is wrong with a choice list as a run of the scenario, or null: every decision, forced ones
 * included, must have the number of options the list says (a list read from a file — a shard result —
 * may have forced decisions added or dropped, or run on past the end of the run).
 */
export function pathProblem(scenario: Scenario, property: string, picks: readonly { pick: number; n: number }[]): string | null {
  // One observer (any would do: the harness replays the machine; no verdict is read here).
  const h = new Harness(scenario, [property]);
  h.attach(h.freshObservers());
  h.sim.header();
  for (let d = 0; d < picks.length; d++) {
    const p = picks[d] as { pick: number; n: number };
    const n = h.sim.poll();
    if (n !== p.n) return `decision ${d} has ${n} option${n === 1 ? '' : 's'} in the run, the list says ${p.n}`;
    if (p.pick < 0 || p.pick >= n) return `decision ${d} takes option ${p.pick} of ${n}`;
    h.decide(p.pick);
  }
  return null;
}

export function confirm(scenario: Scenario, found: Found): Counterexample {
  // The explored prefix, then the first choice every time until the run ends: a complete run.
  const { outcome, trace } = runScenario(scenario, {
    seed: 0,
    mode: 'untimed',
    chooser: new PrefixChooser(found.picks.filter((p) => p.n > 1)),
    keepTrace: true,
    // The search runs every run to its end, past the scenario's step budget (`maxSteps` bounds `run`;
    // --max-depth bounds the search): so does its counterexample, and its replay (run-command.ts).
    maxSteps: Number.MAX_SAFE_INTEGER,
  });
  // The same violation (one run can break a property several ways: a VMCLEAR #UD and the BUG line
  // it prints are two kinds); the first of its property only if the message differs on replay.
  const again =
    outcome.violations.find((v) => v.property === found.property && v.message === found.message) ??
    outcome.violations.find((v) => v.property === found.property);
  if (!again) {
    throw new Error(`internal error: the ${found.property} violation found by exploration did not show when its ${found.picks.length} decisions were replayed`);
  }
  return { property: found.property, message: again.message, length: found.picks.length, lines: trace.map(formatRecord) };
}
