/** Shared by the viewer tests: the physical CPU chart, and traces of built-in scenarios made in memory. */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord } from '../../src/trace/records.js';
import { chartOf } from '../../src/viz/chart-model.js';
import type { Scenario } from '../../src/scenarios/types.js';

export const chart = chartOf(physicalCpuMachine, 'physical-cpu');

export function builtin(id: string): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(`no built-in ${id}`);
  const r = validateScenario(b.raw, b.id, validationContext);
  if (!r.ok) throw new Error(`invalid built-in ${id}`);
  return r.scenario;
}

export function scenarioFrom(raw: Record<string, unknown>): Scenario {
  const r = validateScenario(raw, String(raw.name), validationContext);
  if (!r.ok) throw new Error(`invalid scenario: ${JSON.stringify(r.errors)}`);
  return r.scenario;
}

/** The trace of a run as JSON lines, as `shootdown run --trace` writes it. */
export function traceText(scenario: Scenario, seed = 1): string {
  const lines: string[] = [];
  runScenario(scenario, { seed, onRecord: (r) => lines.push(formatRecord(r)) });
  return lines.join('\n') + '\n';
}
