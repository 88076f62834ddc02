/**
 * reboot-completes (liveness): a reboot, an emergency restart, or a panic that is set to reboot or
 * kexec must end with the machine reset or in the crash kernel. Every run that ends otherwise is a
 * violation, whichever way it stopped: `hang` (nothing can move, a CPU is stuck) or `idle` (nothing
 * can move and every CPU runs its tasks again: the restart was abandoned, e.g. its task was killed by
 * an oops). Only `running` (the step budget ran out) is no verdict.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Observer, Violation } from './observer.js';

export class RebootCompletes implements Observer {
  readonly property = 'reboot-completes';
  readonly reads = ['header', 'script', 'end'] as const;
  private panicEnds = false;
  private started: { cpu: number; action: string } | null = null;
  private end: string | null = null;

  observe(r: TraceRecord): void {
    if (r.t === 'header') this.panicEnds = r.options.kdump || r.options.panicTimeout !== 0;
    else if (r.t === 'script' && r.status === 'done' && !this.started) {
      const ends = r.action === 'reboot' || r.action === 'emergency-restart' || ((r.action === 'panic' || r.action === 'nmi-panic') && this.panicEnds);
      if (ends) this.started = { cpu: r.cpu, action: r.action };
    } else if (r.t === 'end') this.end = r.end;
  }

  violations(): Violation[] {
    if (!this.started || (this.end !== 'hang' && this.end !== 'idle')) return [];
    const why = this.end === 'hang' ? 'nothing can move any more' : 'it was abandoned and every CPU runs its tasks again';
    return [{ property: this.property, message: `'${this.started.action}' on CPU ${this.started.cpu} never reset the machine: ${why}` }];
  }

  /**
   * The restart that started (its action and CPU name the violation) and how the run ended.
   * `panicEnds` comes from the header, the same on every path.
   */
  remembers(): string {
    if (!this.started && this.end === null) return '';
    return `${this.started ? `${this.started.action}@${this.started.cpu}` : ''}:${this.end ?? ''}`;
  }

  clone(): RebootCompletes {
    const c = new RebootCompletes();
    c.panicEnds = this.panicEnds;
    c.started = this.started;
    c.end = this.end;
    return c;
  }
}
