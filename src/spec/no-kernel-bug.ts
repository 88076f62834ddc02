/** no-kernel-bug: no BUG() and no oops, on any CPU, in any context. */
import type { TraceRecord } from '../trace/records.js';
import type { Observer, Violation } from './observer.js';

export class NoKernelBug implements Observer {
  readonly property = 'no-kernel-bug';
  readonly reads = ['fault', 'console'] as const;
  private found: Violation[] = [];

  relevant(r: TraceRecord): boolean {
    if (r.t === 'fault') return r.handling === 'bug' || r.handling === 'oops';
    return r.t === 'console' && (r.text.startsWith('kernel BUG at lib/list_debug.c') || r.text.startsWith('kernel BUG at arch/x86/kvm/'));
  }

  observe(r: TraceRecord): void {
    if (r.t === 'fault' && (r.handling === 'bug' || r.handling === 'oops')) {
      const what = r.handling === 'bug' ? 'kernel BUG' : 'oops';
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.insn} ${r.fault} in ${r.context} context → ${what}` });
    } else if (r.t === 'console' && r.text.startsWith('kernel BUG at lib/list_debug.c')) {
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.text} (list_add double add)` });
    } else if (r.t === 'console' && r.text.startsWith('kernel BUG at arch/x86/kvm/')) {
      // A BUG() in KVM code a vCPU thread runs (e.g. kvm_mmu_load): the thread dies in its ioctl.
      this.found.push({ property: this.property, message: `CPU ${r.cpu}: ${r.text} (in a vCPU thread)` });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  clone(): NoKernelBug {
    const c = new NoKernelBug();
    c.found = [...this.found];
    return c;
  }
}
