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
   * The CPUs that acked (decremented waiting_for_crash_ipi) during the wait, its NMI to all but the
   * initiator having gone out: never the initiator itself. The counter is one for every shootdown, so
   * an ack counts for each shootdown waiting then; a CPU acks from its NMI handler, or without the NMI
   * from a loop that polls for it (nmi_panic_self_stop() → run_crash_ipi_callback(), while the NMI is
   * still on its way or held).
   */
  acked: number[];
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

  observe(r: TraceRecord): void {
    const nmiToOthers = this.nmiToOthers;
    if (r.t !== 'choice' && !(r.t === 'deliver' && r.msg === nmiToOthers?.msg)) this.nmiToOthers = null;
    switch (r.t) {
      case 'send':
        if (r.mode === 'nmi' && r.dest === 'all-but-self' && typeof r.from === 'number') {
          this.nmiToOthers = { from: r.from, msg: r.msg };
        }
        break;
      case 'deliver':
        if (r.mode === 'init' && r.status === 'delivered') {
          // An INIT taken in the wait puts the initiator in wait-for-SIPI: its wait is over.
          const open = this.open.get(r.cpu);
          if (open) open.initNs ??= r.ns;
        }
        break;
      case 'mem':
        if (r.name === 'waiting_for_crash_ipi' && r.op === 'atomic_dec') {
          // The one counter: the ack counts for every shootdown waiting that sent its NMI to this CPU,
          // that is to every CPU but its initiator.
          for (const s of this.open.values()) {
            if (s.msg !== null && s.record.initiator !== r.cpu && !s.record.acked.includes(r.cpu)) s.record.acked.push(r.cpu);
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
