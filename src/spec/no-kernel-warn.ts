/**
 * no-kernel-warn: no WARN splat, on any CPU or vCPU thread. A WARN does not stop the kernel, but it
 * says that code ran where its authors asserted it never would (a second nmi_shootdown_cpus(), a nested
 * VM exit with a run pending, …) and taints the kernel.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Observer, Violation } from './observer.js';

export class NoKernelWarn implements Observer {
  readonly property = 'no-kernel-warn';
  readonly reads = ['warning'] as const;
  private found: Violation[] = [];

  observe(r: TraceRecord): void {
    if (r.t !== 'warning') return;
    const who = r.vcpu === null ? `CPU ${r.cpu}` : `CPU ${r.cpu} (vCPU${r.vcpu} thread)`;
    this.found.push({ property: this.property, message: `${who}: WARN at ${r.where}` });
  }

  violations(): Violation[] {
    return this.found;
  }

  /** Nothing: each WARN is a violation of its own, reported as it shows. */
  remembers(): string {
    return '';
  }

  clone(): NoKernelWarn {
    const c = new NoKernelWarn();
    c.found = [...this.found];
    return c;
  }
}
