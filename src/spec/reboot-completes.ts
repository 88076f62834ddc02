/**
 * reboot-completes (liveness): a reboot, an emergency restart, or a panic that is set to reboot or
 * kexec must end with the machine reset or in the crash kernel. Every run that ends otherwise is a
 * violation, whichever way it stopped: `hang` (nothing can move, a CPU is stuck) or `idle` (nothing
 * can move and every CPU runs its tasks again: the restart was abandoned, e.g. its task was killed by
 * an oops). Only `running` (the step budget ran out) is no verdict.
 *
 * A step in task context starts its restart when it runs. A step in interrupt or NMI context only
 * sends this CPU its interrupt (a device IRQ, a perf-watchdog NMI): its restart starts when the
 * handler begins it, which may be never (the IRQ held in the IRR with IF=0, the NMI latched behind a
 * handler that never returns, or taken by the emergency NMI handler instead). The handler's first
 * record says so: an emergency restart writes reboot_emergency = 1 (kernel/reboot.c
 * emergency_restart() → native_machine_emergency_restart()); a panic prints "Kernel panic - not
 * syncing" once it holds panic_cpu (kernel/panic.c panic()). A panic that finds another CPU's panic
 * under way stops itself (panic_smp_self_stop()) without either: that other panic is the restart.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Applicability, Observer, Violation } from './observer.js';

/** Whether a script action starts a restart that must end in a reset or the crash kernel (a panic only if it reboots or kexecs). */
function restartEnds(action: string, panicEnds: boolean): boolean {
  return action === 'reboot' || action === 'emergency-restart' || ((action === 'panic' || action === 'nmi-panic') && panicEnds);
}

/** panic()'s header line (pr_emerg("Kernel panic - not syncing: %s")), printed once the CPU holds panic_cpu. */
const PANIC_HEADER = 'Kernel panic - not syncing: ';

interface Step {
  index: number;
  cpu: number;
  action: string;
}

const byIndex = (a: Step, b: Step) => a.index - b.index;

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
  readonly reads = ['header', 'script', 'send', 'console', 'mem', 'end'] as const;
  private panicEnds = false;
  /**
   * Every restart that started, in script order (not in the order they started): the message names
   * them all, so it is a function of which script steps ran and which handlers began theirs, which
   * the machine state holds — two paths that ran the same steps in another order are one state to
   * the search (sound pruning).
   */
  private started: readonly Step[] = [];
  /** Steps in interrupt or NMI context whose interrupt was sent and whose handler has not begun the restart, in script order. */
  private armed: readonly Step[] = [];
  /** The restart step just done (its interrupt's send, if any, comes next), else null. */
  private last: Step | null = null;
  private end: string | null = null;

  relevant(r: TraceRecord): boolean {
    if (r.t === 'send') return r.source === 'script' || r.source === 'watchdog';
    if (r.t === 'console') return r.text.startsWith(PANIC_HEADER);
    if (r.t === 'mem') return r.name === 'reboot_emergency' && r.value === 1;
    return true;
  }

  observe(r: TraceRecord): void {
    if (!this.relevant(r)) return;
    const last = this.last;
    this.last = null;
    if (r.t === 'header') this.panicEnds = r.options.kdump || r.options.panicTimeout !== 0;
    else if (r.t === 'script' && r.status === 'done') {
      if (!restartEnds(r.action, this.panicEnds)) return;
      const step = { index: r.index, cpu: r.cpu, action: r.action };
      this.started = [...this.started, step].sort(byIndex);
      this.last = step;
    } else if (r.t === 'send' && last !== null && r.from === last.cpu && r.dest === `cpu${last.cpu}`) {
      // The step only sent this CPU its interrupt: it starts when the handler begins it.
      this.started = this.started.filter((s) => s !== last);
      this.armed = [...this.armed, last].sort(byIndex);
    } else if (r.t === 'console' || r.t === 'mem') {
      const panic = r.t === 'console';
      const step = this.armed.find((s) => s.cpu === r.cpu && (panic ? s.action !== 'emergency-restart' : s.action === 'emergency-restart'));
      if (step === undefined) return;
      this.armed = this.armed.filter((s) => s !== step);
      this.started = [...this.started, step].sort(byIndex);
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
   * The restarts that started (their actions and CPUs name the violation), those whose interrupt
   * was sent and not yet taken up (each may start later), and how the run ended. `panicEnds` comes
   * from the header, the same on every path; `last` is only set between a step's record and its
   * send, within one decision.
   */
  remembers(): string {
    if (this.started.length === 0 && this.armed.length === 0 && this.end === null) return '';
    const armed = this.armed.length === 0 ? '' : `+${this.armed.map((s) => s.index).join(',')}`;
    return `${this.started.map((s) => s.index).join(',')}${armed}:${this.end ?? ''}`;
  }

  clone(): RebootCompletes {
    const c = new RebootCompletes();
    c.panicEnds = this.panicEnds;
    c.started = this.started;
    c.armed = this.armed;
    c.last = this.last;
    c.end = this.end;
    return c;
  }
}
