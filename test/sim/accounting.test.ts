/** Every message sent is accounted for: delivered, pending, latched, dropped with a reason, or in flight. */
import { describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS, loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import type { TraceRecord } from '../../src/trace/records.js';

describe('interconnect accounting', () => {
  const cases = BUILTIN_SCENARIOS.flatMap((b) => ['v5.10', 'v6.2', 'mainline'].map((p) => [b.id, p] as const));
  it.each(cases)('%s on %s: every delivery of every message ends with exactly one disposition', (id, preset) => {
    const r = loadBuiltin(id);
    if (!r?.ok) throw new Error(id);
    const { trace, outcome } = runScenario({ ...r.scenario, kernel: { ...r.scenario.kernel, preset } }, { seed: 3, keepTrace: true });
    const targets = new Map<number, number>();
    const seen = new Map<number, number>();
    for (const rec of trace) {
      if (rec.t === 'send') targets.set(rec.msg, rec.targets);
      if (rec.t === 'deliver') {
        seen.set(rec.msg, (seen.get(rec.msg) ?? 0) + 1);
        if (rec.status !== 'delivered') expect(rec.reason, JSON.stringify(rec)).toMatch(/\S/);
      }
    }
    for (const [msg, n] of seen) expect(n).toBeLessThanOrEqual(targets.get(msg) ?? 0);
    const m = outcome.messages;
    expect(m.delivered + m.pending + m.latched + m.dropped + m.inFlight).toBe(m.deliveries);
    expect(m.inFlight).toBeGreaterThanOrEqual(0);
    const delivers = trace.filter((x: TraceRecord) => x.t === 'deliver').length;
    expect(delivers).toBe(m.deliveries - m.inFlight);
  });

  it('a second shootdown NMI to a CPU halted in crash_nmi_callback is latched, with the reason', () => {
    const r = loadBuiltin('T2');
    if (!r?.ok) throw new Error('T2');
    const s = { ...r.scenario, kernel: { ...r.scenario.kernel, preset: 'v5.10' }, options: { ...r.scenario.options, debugList: false } };
    const { trace } = runScenario(s, { seed: 1, keepTrace: true });
    const toCpu1 = trace.filter((x): x is Extract<TraceRecord, { t: 'deliver' }> => x.t === 'deliver' && x.cpu === 1 && x.mode === 'nmi');
    expect(toCpu1.map((d) => d.status)).toEqual(['delivered', 'latched']);
    expect(toCpu1[1]?.reason).toMatch(/NMI/);
  });
});
