/**
 * KVM's reboot hook calls on_each_cpu(hardware_disable_nolock, NULL, 1) (kernel/smp.c). Until v5.13 that is
 * smp_call_function(func, info, 1) — IPI the others and wait for all of them — and only then
 * local_irq_save(); func(info); local_irq_restore(). From v5.13 (a5aa5ce30059 "smp: Inline on_each_cpu_cond()
 * and on_each_cpu()", with a32a4d8a815c) it is smp_call_function_many_cond(SCF_WAIT | SCF_RUN_LOCAL): IPI,
 * run func here, then wait. Switch `on-each-cpu-local-before-wait`: off in v5.10 and v5.11, on from v6.2.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

const run = runRaw;

const ERAS: [string, boolean][] = [
  ['v5.10', false],
  ['v5.11', false],
  ['v6.2', true],
  ['v6.6', true],
];

describe('on_each_cpu() order in KVM reboot hook: wait-then-local before v5.13, local-then-wait after', () => {
  for (const [kernel, localFirst] of ERAS) {
    for (const cpus of [2, 3, 5]) {
      it(`${kernel}, ${cpus} CPUs, the last with IRQs off: CPU 0 hangs in the wait ${localFirst ? 'out of' : 'still in'} VMX root`, () => {
        const deaf = cpus - 1;
        const raw = {
          name: 'reboot-irqoff',
          kernel: { preset: kernel },
          machine: { cpus, vendor: 'intel' },
          initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { [String(deaf)]: { if: false } } },
          script: [{ cpu: 0, do: 'reboot', at: 0 }],
        };
        for (const seed of [1, 2, 3]) {
          const { outcome } = run(raw, seed);
          expect(outcome.end).toBe('hang');
          const c0 = outcome.cpus[0];
          expect(c0?.state).toBe('os.task.reboot.waitOthers');
          expect(c0?.vmx).toBe(localFirst ? 'off' : 'root');
          expect(c0?.cr4Vmxe).toBe(!localFirst);
          expect(c0?.loadedVmcs).toBe(localFirst ? 0 : 1);
          // The CPUs that took the IPI disabled VMX either way; the deaf one never did.
          for (let i = 1; i < deaf; i++) expect(outcome.cpus[i]?.vmx).toBe('off');
          expect(outcome.cpus[deaf]?.vmx).toBe('root');
        }
      });
    }

    it(`${kernel}, AMD, 4 CPUs: the reboot CPU clears EFER.SVME ${localFirst ? 'before' : 'after'} the others have run the function`, () => {
      const raw = {
        name: 'reboot-amd',
        kernel: { preset: kernel },
        machine: { cpus: 4, vendor: 'amd' },
        initial: { all: { svme: true } },
        script: [{ cpu: 0, do: 'reboot', at: 0 }],
      };
      for (const seed of [1, 2, 3]) {
        const { outcome, records } = run(raw, seed);
        expect(outcome.end).toBe('reset');
        // CPU 0's own hardware_disable: its EFER write; the wait: call_function_pending reaching 0.
        const own = records.findIndex((r) => r.t === 'insn' && r.cpu === 0 && r.insn.startsWith('WRMSR EFER'));
        const allDone = records.findIndex((r) => r.t === 'mem' && r.name === 'call_function_pending' && r.value === 0);
        expect(own).toBeGreaterThanOrEqual(0);
        expect(allDone).toBeGreaterThanOrEqual(0);
        if (localFirst) expect(own).toBeLessThan(allDone);
        else expect(own).toBeGreaterThan(allDone);
      }
    });
  }
});
