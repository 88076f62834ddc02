/**
 * no-cpu-left-in-vmx-root: when the machine resets or jumps to the crash kernel, no CPU may still
 * be post-VMXON or have GIF=0: either blocks INIT, so an INIT-based reset or the crash kernel's
 * INIT-SIPI-SIPI cannot restart that CPU (docs/model.md §3.3).
 */
import type { TraceRecord } from '../trace/records.js';
import type { Observer, Violation } from './observer.js';

export class NoCpuLeftInVmxRoot implements Observer {
  readonly property = 'no-cpu-left-in-vmx-root';
  readonly reads = ['kexec', 'reset', 'final'] as const;
  private stuck: { cpu: number; why: string }[] = [];
  private reset = false;
  private kexecCpu: number | null = null;

  observe(r: TraceRecord): void {
    if (r.t === 'kexec') this.kexecCpu = r.cpu;
    else if (r.t === 'reset') this.reset = true;
    else if (r.t === 'final') {
      if (r.vmx === 'root' || r.vmx === 'nonroot') this.stuck.push({ cpu: r.cpu, why: `in VMX ${r.vmx} operation` });
      else if (r.svme && !r.gif) this.stuck.push({ cpu: r.cpu, why: 'with GIF=0' });
    }
  }

  violations(): Violation[] {
    if (!this.reset && this.kexecCpu === null) return [];
    const how = this.kexecCpu !== null ? 'jumped to the crash kernel' : 'was reset';
    return this.stuck
      .filter((s) => s.cpu !== this.kexecCpu)
      .map((s) => ({ property: this.property, message: `CPU ${s.cpu} was left ${s.why} when the machine ${how}: INIT is blocked there` }));
  }

  /**
   * All of it: whether the machine was reset, which CPU jumped to the crash kernel, and the CPUs
   * found stuck so far — the end-of-run verdict and its messages are made of them.
   */
  remembers(_now?: number, rename?: (id: number) => number): string {
    if (!this.reset && this.kexecCpu === null && this.stuck.length === 0) return '';
    const cpu = rename ?? ((c: number) => c);
    // Renamed (symmetry), the stuck CPUs are listed in order of their new numbers.
    const stuck = this.stuck.map((s) => `${cpu(s.cpu)} ${s.why}`);
    if (rename) stuck.sort();
    return `${this.reset ? 'reset' : ''}:${this.kexecCpu === null ? '' : cpu(this.kexecCpu)}:${stuck.join(';')}`;
  }

  clone(): NoCpuLeftInVmxRoot {
    const c = new NoCpuLeftInVmxRoot();
    c.stuck = [...this.stuck];
    c.reset = this.reset;
    c.kexecCpu = this.kexecCpu;
    return c;
  }
}
