/**
 * reboot-completes (liveness): a reboot, an emergency restart, or a panic that is set to reboot or
 * kexec must end with the machine reset or in the crash kernel. Every run that ends otherwise is a
 * violation, whichever way it stopped: `hang` (nothing can move, a CPU is stuck) or `idle` (nothing
 * can move and every CPU runs its tasks again: the restart was abandoned, e.g. its task was killed by
 * an oops). Only `running` (the step budget ran out) is no verdict.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Applicability, Observer, Violation } from './observer.js';

/** Whether a script action starts a restart that must end in a reset or the crash kernel (a panic only if it reboots or kexecs). */
function restartEnds(action: string, panicEnds: boolean): boolean {
  return action === 'reboot' || action === 'emergency-restart' || ((action === 'panic' || action === 'nmi-panic') && panicEnds);
}

export class RebootCompletes implements Observer {
  /** Only a script step starts what it checks: a reboot, an emergency restart, or a panic set to end in a reset or kexec. */
  static readonly inapplicable: Applicability = (s) => {
    const panicEnds = s.options.kdump || s.options.panicTimeout !== 0;
    const ends = s.script.some((st) => restartEnds(st.action, panicEnds));
    if (ends) return null;
    return s.script.some((st) => st.action === 'panic' || st.action === 'nmi-panic')
      ? 'its script\'s panics wait forever (no crash kernel loaded, panic timeout 0) and it has no reboot or emergency-restart step'
      : 'its script has no reboot, emergency-restart or panic step';
  };
  readonly property = 'reboot-completes';
  readonly reads = ['header', 'script', 'end'] as const;
  private panicEnds = false;
  /**
   * Every restart that started, in script order (not in the order they started): the message names
   * them all, so it is a function of which script steps ran, which the machine state holds — two
   * paths that ran the same steps in another order are one state to the search (sound pruning).
   */
  private started: readonly { index: number; cpu: number; action: string }[] = [];
  private end: string | null = null;

  observe(r: TraceRecord): void {
    if (r.t === 'header') this.panicEnds = r.options.kdump || r.options.panicTimeout !== 0;
    else if (r.t === 'script' && r.status === 'done') {
      const ends = restartEnds(r.action, this.panicEnds);
      if (ends) this.started = [...this.started, { index: r.index, cpu: r.cpu, action: r.action }].sort((a, b) => a.index - b.index);
    } else if (r.t === 'end') this.end = r.end;
  }

  violations(): Violation[] {
    if (this.started.length === 0 || (this.end !== 'hang' && this.end !== 'idle')) return [];
    const why = this.end === 'hang' ? 'nothing can move any more' : 'it was abandoned and every CPU runs its tasks again';
    const what = this.started.map((s) => `'${s.action}' on CPU ${s.cpu}`);
    const who = what.length === 1 ? (what[0] as string) : `${what.slice(0, -1).join(', ')} and ${what[what.length - 1] as string}`;
    return [{ property: this.property, message: `${who} never reset the machine: ${why}` }];
  }

  /**
   * The restarts that started (their actions and CPUs name the violation) and how the run ended.
   * `panicEnds` comes from the header, the same on every path.
   */
  remembers(): string {
    if (this.started.length === 0 && this.end === null) return '';
    return `${this.started.map((s) => s.index).join(',')}:${this.end ?? ''}`;
  }

  clone(): RebootCompletes {
    const c = new RebootCompletes();
    c.panicEnds = this.panicEnds;
    c.started = this.started;
    c.end = this.end;
    return c;
  }
}
