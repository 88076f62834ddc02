/** A scenario written as a file would be, validated and run once, with every trace record kept (tests). */
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import type { TraceRecord } from '../../src/trace/records.js';

export function runRaw(raw: Record<string, unknown>, seed = 1) {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const records: TraceRecord[] = [];
  const { outcome } = runScenario(v.scenario, { seed, onRecord: (r) => records.push(r) });
  return { outcome, records };
}
