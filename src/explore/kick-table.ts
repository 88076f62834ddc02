/**
 * A vhost worker's kick, kept apart from the rest of its step (the transition cache, cached.ts).
 * The worker's interrupt makes the vCPU react (its state after looked up by its state before and
 * the vector), and then kvm_vcpu_kick sends the vCPU's CPU an IPI if the vCPU is now in guest mode:
 * one bit of the vCPU after. Keyed on that bit, each device state was run for real twice, once for
 * each value. The rest of the step does not depend on the bit (a look is used only when nothing else
 * of the step read the vCPU: Simulation.endTracking and `kickOf` leave the others out), and the IPI is a function of the CPUs
 * and the vector (a fixed IPI is never collapsed: src/bus/interconnect.ts): its delivery, its `send`
 * record, in its place among the step's records, and what the send touches (the target CPU's slot; not
 * local; the observers its record shows something). So a step run for real gives both effects: the
 * one it took, and the other, by adding or taking away the IPI.
 */
import type { KickLook } from '../sim/simulation.js';
import type { TraceRecord } from '../trace/records.js';
import type { Effect, Tables } from './cache-tables.js';
import { bitOf } from './dependence.js';

/** What a kick adds to the step that sends it: the IPI's delivery (an interned item), its `send` record, and what that record shows the observers. */
interface KickDelta {
  item: number;
  record: TraceRecord;
  /** Whether an observer looks at the record (Harness.relevant: kept among an effect's records), and which (Harness.seenOf). */
  relevant: boolean;
  seen: number;
}

export class Kicks {
  private readonly deltas = new Map<string, KickDelta>();

  private static key(k: KickLook): string {
    return `${k.slot}|${k.from}|${k.to}|${k.vector}`;
  }

  /** A step sent kick `k`: what the IPI added (the same every time, or the kick is no function of its look). */
  learn(k: KickLook, delta: KickDelta): void {
    const was = this.deltas.get(Kicks.key(k));
    if (was && was.item !== delta.item) throw new Error(`internal error: the kick of guest slot ${k.slot} gave another delivery (transition cache)`);
    if (!was) this.deltas.set(Kicks.key(k), delta);
  }

  /**
   * The two effects of a step with kick `k`, from effect `e` recorded as if the kick was not sent
   * (its records, items and footprint without the IPI; `before`: how many of its records came
   * before the kick's): without the kick (the vCPU's bit clear), and with it (the bit set, the
   * IPI's delivery added, its record in its place, the footprint widened with what the send
   * touches). Null if `e` is keyed on more of that slot than the bit, or the kick was never seen
   * sent (its delivery is not known).
   */
  variants(e: Effect, k: KickLook, before: number, t: Tables): [Effect, Effect] | null {
    const delta = this.deltas.get(Kicks.key(k));
    const j = e.runsRead.indexOf(k.slot);
    if (!delta || j < 0 || e.runsMasks[j] !== k.mask || e.reacts.indexOf(k.slot) < 0 || e.removed.includes(delta.item)) return null;
    const bits = (v: number): Uint8Array => {
      const out = Uint8Array.from(e.runsVals);
      out[j] = v;
      return out;
    };
    const f = t.fps[e.fp] as (typeof t.fps)[number];
    const fp = t.internFootprint({ ...f, slots: f.slots | bitOf(k.to), local: false, seen: f.seen | delta.seen });
    const records = delta.relevant ? [...e.records.slice(0, before), delta.record, ...e.records.slice(before)] : e.records;
    const fresh = () => ({ refreshPacked: new Float64Array(e.refresh.length).fill(-1), refreshAns: new Int32Array(e.refresh.length).fill(-1), refreshSlots: 0, refreshWatch: 0, refreshFp: -1, next: -1 });
    return [
      { ...e, runsVals: bits(0), ...fresh() },
      { ...e, runsVals: bits(k.mask), added: Int32Array.from([...e.added, delta.item]), records, local: false, fp, ...fresh() },
    ];
  }
}
