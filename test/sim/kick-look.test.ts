/**
 * The kicks a tracked decision reports (Simulation.endTracking, KickLook): `at` is where the IPI's
 * `send` record stands among the records the decision wrote, which holds only where records go out
 * in the order they are written (a lean run). A full-record run holds a cause's records back behind it
 * (`around`), so it reports no kick rather than a wrong place.
 */
import { describe, expect, it } from 'vitest';
import { Simulation } from '../../src/sim/simulation.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { TraceRecord } from '../../src/trace/records.js';

function walk(lean: boolean, seed: number) {
  const b = findBuiltin('T14');
  if (!b) throw new Error('no T14');
  const r = validateScenario(b.raw, b.id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const scenario = r.scenario;
  const sim = new Simulation(scenario, { seed, mode: 'untimed', lean });
  const records: TraceRecord[] = [];
  sim.trace$.subscribe((r) => records.push(r));
  sim.header();
  let rnd = seed;
  const kicks: { kicked: boolean; vector: number; to: number; record: TraceRecord | undefined }[] = [];
  for (let step = 0; step < 4000; step++) {
    const n = sim.poll();
    if (n === 0) break;
    rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
    const start = records.length;
    sim.trackReads();
    sim.decide(rnd % n);
    for (const k of sim.endTracking().kicks) kicks.push({ kicked: k.kicked, vector: k.vector, to: k.to, record: records[start + k.at] });
  }
  return kicks;
}

describe('kicks looked at through one bit of a vCPU', () => {
  it('in a lean run, a kick that sent its IPI names the send record that carries it', () => {
    const kicks = [1, 2, 3].flatMap((seed) => walk(true, seed));
    expect(kicks.filter((k) => k.kicked).length).toBeGreaterThan(0);
    for (const k of kicks.filter((x) => x.kicked)) {
      expect(k.record).toMatchObject({ t: 'send' });
    }
  });

  it('a full-record run reports none (its records do not go out in the order they are written)', () => {
    expect([1, 2, 3].flatMap((seed) => walk(false, seed))).toEqual([]);
  });
});
