/** no-kernel-bug: no BUG() and no oops, on any CPU, in any context; one violation per BUG. */
import type { TraceRecord } from '../trace/records.js';
import type { Observer, Violation } from './observer.js';

export class NoKernelBug implements Observer {
  readonly property = 'no-kernel-bug';
  readonly reads = ['fault', 'console'] as const;
  private found: Violation[] = [];
  /**
   * CPUs whose last relevant record was a fault handled as BUG: the "kernel BUG at arch/x86/kvm/..."
   * line that follows is that BUG's own first line (kvm_spurious_fault prints it for a VMCLEAR #UD
   * in the host's emergency path), not a second BUG in a vCPU thread.
   */
  private bugPrinting: number[] = [];

  relevant(r: TraceRecord): boolean {
    // Fixed, whatever this observer has seen: the transition cache keeps only the records some
    // observer finds relevant.
    if (r.t === 'fault') return r.handling === 'bug' || r.handling === 'oops';
    return r.t === 'console' && (r.text.startsWith('kernel BUG at lib/list_debug.c') || r.text.startsWith('kernel BUG at arch/x86/kvm/'));
  }

  observe(r: TraceRecord): void {
    const printing = 'cpu' in r && typeof r.cpu === 'number' && this.bugPrinting.includes(r.cpu);
    if (printing) this.bugPrinting = this.bugPrinting.filter((c) => c !== (r as { cpu: number }).cpu);
    if (r.t === 'fault' && (r.handling === 'bug' || r.handling === 'oops')) {
      const what = r.handling === 'bug' ? 'kernel BUG' : 'oops';
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.insn} ${r.fault} in ${r.context} context → ${what}` });
      if (r.handling === 'bug') this.bugPrinting = [...this.bugPrinting, r.cpu];
    } else if (r.t === 'console' && r.text.startsWith('kernel BUG at lib/list_debug.c')) {
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.text} (list_add double add)` });
    } else if (r.t === 'console' && r.text.startsWith('kernel BUG at arch/x86/kvm/') && !printing) {
      // A BUG() in KVM code a vCPU thread runs (e.g. kvm_mmu_load): the thread dies in its ioctl.
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.text} (in a vCPU thread)` });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /**
   * The CPUs whose BUG's own "kernel BUG at arch/x86/kvm/..." line is still to come: on them that line
   * is no second BUG. The BUGs found are reported already and change nothing later.
   */
  remembers(_now?: number, cpu: (id: number) => number = (c) => c): string {
    return this.bugPrinting.map(cpu).sort((a, b) => a - b).join(',');
  }

  clone(): NoKernelBug {
    const c = new NoKernelBug();
    c.found = [...this.found];
    c.bugPrinting = this.bugPrinting;
    return c;
  }
}
