/**
 * The NMI shootdowns of a run (outcome.shootdowns), derived from its trace: who sent one, whether its
 * NMI went out, how the wait for the acks ended and who acked it. Part of the outcome (outcome.ts).
 */
import type { TraceRecord } from '../trace/records.js';

/**
 * How nmi_shootdown_cpus()'s wait for the acks ended: all acked; timed out (1 s); cut short by the
 * platform reset or the kexec another CPU did meanwhile; cut short by an INIT the initiator took (an
 * INIT-only reset that did not restart the machine: the run went on to hang or idle, the initiator
 * in wait-for-SIPI); still waiting when the run stopped (hang, idle or step budget); refused: no NMI
 * was sent, so there was no wait.
 */
export type ShootdownEnd = 'acked' | 'timeout' | 'reset' | 'kexec' | 'init' | 'still-waiting' | 'refused';

export interface ShootdownOutcome {
  initiator: number;
  /**
   * NMIs went out (false: refused by the once-only check or the double-registration check, or no
   * other CPU was online: apic_send_IPI_allbutself() sends nothing then, and nothing is waited for).
   */
  sent: boolean;
  /** How long the initiator waited: until the end of its wait, or until the run ended; 0 when refused. */
  waitedMs: number | null;
  timedOut: boolean;
  endedBy: ShootdownEnd;
  /**
   * The CPUs that acked (decremented waiting_for_crash_ipi) during the wait after this shootdown's NMI
   * reached them: taken, held, or merged into an NMI already held or on its way. The counter is one for
   * every shootdown, so a CPU both shootdowns' NMIs reached counts for both; never the initiator itself.
   */
  acked: number[];
}

type DeliverRecord = Extract<TraceRecord, { t: 'deliver' }>;

/**
 * Whether an NMI reached the CPU in a way its next NMI handler answers: taken; held (latched, or
 * pending in wait-for-SIPI); or dropped because one NMI is already held or on its way, which the
 * dropped one merges into (hw/interrupts.ts latchOrDrop, bus/interconnect.ts collapsedReason). An NMI
 * dropped for any other reason (the CPU was reset, a state that takes none) reached nothing.
 */
function nmiReached(r: DeliverRecord): boolean {
  if (r.status !== 'dropped') return true;
  return r.reason === 'an NMI is already latched' || (r.reason?.startsWith('collapsed into NMI message ') ?? false);
}

export class ShootdownCollector {
  /** Every shootdown, in the order they were sent or refused. */
  readonly list: ShootdownOutcome[] = [];
  /**
   * Each initiator's shootdown still waiting, with the NMI message it sent (null: none went out) and
   * when the initiator took an INIT meanwhile (null: it did not).
   */
  private readonly open = new Map<number, { record: ShootdownOutcome; sentNs: number; msg: number | null; initNs: number | null }>();
  /**
   * The NMI to all but itself that is the last record but choices and that message's own deliveries
   * (null: none): a shootdown's send comes right before its 'shootdown-sent', with only the deliveries
   * the interconnect collapsed into an NMI of the same target still on its way written in between (by
   * time alone, an untimed run's earlier stop NMI, at the same instant, would pass for it).
   */
  private nmiToOthers: { from: number; msg: number } | null = null;
  /**
   * The NMIs to all but self that reached each CPU (by CPU): taken, held (latched, or pending in
   * wait-for-SIPI), or merged into one already held or on its way to it (one NMI answers them all:
   * SDM Vol. 3A "Handling Multiple NMIs"). A CPU's ack answers the shootdowns whose NMI reached it.
   */
  private readonly nmisReached = new Map<number, Set<number>>();
  /** The messages of NMIs to all but self (the only ones nmisReached keeps). */
  private readonly nmisToOthers = new Set<number>();

  observe(r: TraceRecord): void {
    const nmiToOthers = this.nmiToOthers;
    if (r.t !== 'choice' && !(r.t === 'deliver' && r.msg === nmiToOthers?.msg)) this.nmiToOthers = null;
    switch (r.t) {
      case 'send':
        if (r.mode === 'nmi' && r.dest === 'all-but-self' && typeof r.from === 'number') {
          this.nmiToOthers = { from: r.from, msg: r.msg };
          this.nmisToOthers.add(r.msg);
        }
        break;
      case 'deliver':
        if (r.mode === 'init' && r.status === 'delivered') {
          // An INIT taken in the wait puts the initiator in wait-for-SIPI: its wait is over.
          const open = this.open.get(r.cpu);
          if (open) open.initNs ??= r.ns;
        }
        if (r.mode === 'nmi' && this.nmisToOthers.has(r.msg) && nmiReached(r)) {
          const reached = this.nmisReached.get(r.cpu) ?? new Set<number>();
          reached.add(r.msg);
          this.nmisReached.set(r.cpu, reached);
        }
        break;
      case 'mem':
        if (r.name === 'waiting_for_crash_ipi' && r.op === 'atomic_dec') {
          // The ack answers the shootdowns whose NMI reached this CPU: never its own (an NMI to all
          // but self does not reach its sender), never one that did not count it as a target.
          const reached = this.nmisReached.get(r.cpu);
          for (const s of this.open.values()) {
            if (s.msg !== null && reached?.has(s.msg) && !s.record.acked.includes(r.cpu)) s.record.acked.push(r.cpu);
          }
        }
        break;
      case 'kernel':
        if (r.what === 'shootdown-sent') {
          const msg = nmiToOthers?.from === r.cpu ? nmiToOthers.msg : null;
          const record: ShootdownOutcome = { initiator: r.cpu, sent: msg !== null, waitedMs: null, timedOut: false, endedBy: 'still-waiting', acked: [] };
          this.list.push(record);
          this.open.set(r.cpu, { record, sentNs: r.ns, msg, initNs: null });
        } else if (r.what === 'shootdown-refused') {
          this.list.push({ initiator: r.cpu, sent: false, waitedMs: 0, timedOut: false, endedBy: 'refused', acked: [] });
        } else if (r.what === 'shootdown-acked' || r.what === 'shootdown-timeout') {
          const open = this.open.get(r.cpu);
          if (open) {
            open.record.waitedMs = (r.ns - open.sentNs) / 1e6;
            open.record.timedOut = r.what === 'shootdown-timeout';
            open.record.endedBy = r.what === 'shootdown-timeout' ? 'timeout' : 'acked';
            this.open.delete(r.cpu);
          }
        }
        break;
      case 'end':
        // A wait still open when the run ends: the reset or kexec ended it, an INIT that restarted
        // nothing else did (its initiator waits for a SIPI), or it never ended.
        for (const { record, sentNs, initNs } of this.open.values()) {
          record.waitedMs = (r.ns - sentNs) / 1e6;
          if (r.end === 'reset' || r.end === 'kexec') record.endedBy = r.end;
          else if (initNs !== null) {
            record.endedBy = 'init';
            record.waitedMs = (initNs - sentNs) / 1e6;
          }
        }
        this.open.clear();
        break;
      default:
        break;
    }
  }
}
