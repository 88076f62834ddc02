/**
 * panic_on_oops (oops=panic, sysctl kernel.panic_on_oops): oops_end() (arch/x86/kernel/dumpstack.c)
 * first calls crash_kexec() when kexec_should_crash() (kernel/kexec_core.c, later crash_core.c) says so
 * — not with crash_kexec_post_notifiers; then in interrupt context, or with panic_on_oops — and then
 * panics "Fatal exception in interrupt" in interrupt context, "Fatal exception" in task context with
 * panic_on_oops, and otherwise kills the task. The oops here: an emergency restart in task context on a
 * v5.10 kernel whose CPU has CR4.VMXE set outside VMX operation, so cpu_emergency_vmxoff()'s VMXOFF
 * takes #UD with no fixup.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

const consoleOf = (records: TraceRecord[], cpu: number) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'console' }> => r.t === 'console' && r.cpu === cpu).map((r) => r.text);
const kernelEvents = (records: TraceRecord[], what: string) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'kernel' }> => r.t === 'kernel' && r.what === what).map((r) => r.cpu);

function oopsing(cpus: number, cpu: number, options: Record<string, unknown>) {
  return {
    name: 'task-oops',
    kernel: { preset: 'v5.10' },
    machine: { cpus },
    initial: { cpus: { [String(cpu)]: { vmx: 'off', cr4Vmxe: true } } },
    options,
    script: [{ cpu, do: 'emergency-restart', at: 0 }],
  };
}

const PANIC = 'Kernel panic - not syncing: Fatal exception';

describe('an oops in task context: the task dies, or with panic_on_oops the kernel panics', () => {
  it.each([
    [2, 0],
    [3, 2],
    [4, 1],
  ])('%i CPUs, CPU %i: without panic_on_oops (the default) the task is killed and the CPU runs tasks again', (cpus, cpu) => {
    for (const kdump of [false, true]) {
      const { outcome, records } = runRaw(oopsing(cpus, cpu, { kdump }));
      expect(consoleOf(records, cpu).filter((t) => t.startsWith('invalid opcode'))).toHaveLength(1);
      expect(consoleOf(records, cpu).some((t) => t.startsWith('Kernel panic'))).toBe(false);
      expect(kernelEvents(records, 'kdump-start')).toEqual([]);
      expect(outcome.cpus[cpu]?.state).toBe('os.task.idle');
      expect(outcome.end).toBe('idle');
    }
  });

  it.each([
    [2, 0],
    [3, 1],
    [4, 3],
  ])('%i CPUs, CPU %i, panic_on_oops with a crash kernel: crash_kexec() first; its own VMXOFF oopses again; the panic() that follows skips the held kexec mutex and stops', (cpus, cpu) => {
    const { outcome, records } = runRaw(oopsing(cpus, cpu, { kdump: true, panicOnOops: true }));
    const lines = consoleOf(records, cpu);
    // The first oops goes to kdump straight from oops_end(): no panic line before kdump starts.
    const kdumpAt = records.findIndex((r) => r.t === 'kernel' && r.what === 'kdump-start');
    const firstPanicAt = records.findIndex((r) => r.t === 'console' && r.text === PANIC);
    expect(kdumpAt).toBeGreaterThan(-1);
    expect(firstPanicAt).toBeGreaterThan(kdumpAt);
    // native_machine_crash_shutdown()'s cpu_emergency_vmxoff() oopses again (CR4.VMXE is still set).
    expect(lines.filter((t) => t.startsWith('invalid opcode'))).toHaveLength(2);
    expect(lines.filter((t) => t === PANIC)).toHaveLength(1);
    // panic(): __crash_kexec() finds kexec_mutex held, panic_timeout 0: the end line, and no loop.
    expect(lines).toContain(`---[ end ${PANIC} ]---`);
    expect(kernelEvents(records, 'panic-recursion')).toEqual([]);
    expect(outcome.cpus[cpu]?.state).toBe('os.task.panic.spin');
    expect(outcome.end).toBe('hang');
  });

  it('panic_on_oops, no crash kernel, panic_timeout 1: the restart after the delay oopses at the same VMXOFF: the loop is stopped (panic-recursion)', () => {
    for (const [cpus, cpu] of [
      [2, 1],
      [3, 0],
    ] as const) {
      const { outcome, records } = runRaw(oopsing(cpus, cpu, { kdump: false, panicOnOops: true, panicTimeout: 1 }));
      const lines = consoleOf(records, cpu);
      expect(lines.filter((t) => t === PANIC)).toHaveLength(1);
      expect(lines.filter((t) => t.startsWith('Rebooting in 1 seconds'))).toHaveLength(1);
      expect(lines.filter((t) => t.startsWith('invalid opcode'))).toHaveLength(2);
      expect(kernelEvents(records, 'panic-recursion')).toEqual([cpu]);
      expect(outcome.cpus[cpu]?.state).toMatch(/\.task\.die\.recursion$/);
      expect(records.some((r) => r.t === 'reset')).toBe(false);
    }
  });

  it('panic_on_oops with crash_kexec_post_notifiers: oops_end() does not kexec; panic() shoots down, then kexecs after the notifiers', () => {
    const { records } = runRaw(oopsing(3, 0, { kdump: true, panicOnOops: true, crashKexecPostNotifiers: true }));
    const panicAt = records.findIndex((r) => r.t === 'console' && r.text === PANIC);
    const shootAt = records.findIndex((r) => r.t === 'kernel' && r.what === 'shootdown-sent');
    const kdumpAt = records.findIndex((r) => r.t === 'kernel' && r.what === 'kdump-start');
    expect(panicAt).toBeGreaterThan(-1);
    expect(shootAt).toBeGreaterThan(panicAt);
    expect(kdumpAt).toBeGreaterThan(shootAt);
  });

  it('the option is validated like the other booleans', () => {
    expect(() => runRaw(oopsing(2, 0, { panicOnOops: 'yes' }))).toThrow(/panicOnOops/);
  });

  // A VMM thread's KVM_RUN before KVM_SET_CPUID in the v5.8 development window (tdp-level-at-vcpu-create
  // off): mmu_alloc_direct_roots() BUGs in the ioctl, in the thread's task context on its CPU.
  const vmmOops = (cpus: number, cpu: number, vendor: string, options: Record<string, unknown>) => ({
    name: 'vmm-oops',
    kernel: { preset: 'mainline', noFix: ['tdp-level-at-vcpu-create'] },
    machine: { cpus, vendor },
    options,
    vms: [{ vcpus: [{ cpu, guest: { l1: ['nop', 'spin'] }, vmm: [{ ioctl: 'KVM_CREATE_VCPU' }, { ioctl: 'KVM_RUN' }] }] }],
  });

  it.each([
    [2, 1, 'intel'],
    [3, 2, 'amd'],
    [4, 0, 'intel'],
  ])('%i CPUs, a vCPU thread on CPU %i (%s) BUGs in KVM_RUN: the thread dies; with panic_on_oops its CPU kdumps or panics', (cpus, cpu, vendor) => {
    const killed = runRaw(vmmOops(cpus, cpu, vendor, { kdump: true }));
    expect(killed.records.some((r) => r.t === 'kvm' && r.what === 'oops')).toBe(true);
    expect(kernelEvents(killed.records, 'kdump-start')).toEqual([]);
    expect(killed.outcome.cpus[cpu]?.state).toBe('os.task.idle');

    const dumped = runRaw(vmmOops(cpus, cpu, vendor, { kdump: true, panicOnOops: true }));
    expect(kernelEvents(dumped.records, 'kdump-start')).toEqual([cpu]);
    expect(consoleOf(dumped.records, cpu).some((t) => t.startsWith('Kernel panic'))).toBe(false);
    expect(dumped.outcome.end).toBe('kexec');

    const panicked = runRaw(vmmOops(cpus, cpu, vendor, { panicOnOops: true }));
    expect(kernelEvents(panicked.records, 'kdump-start')).toEqual([]);
    expect(consoleOf(panicked.records, cpu)).toContain(PANIC);
    expect(panicked.outcome.cpus[cpu]?.state).toMatch(/^os\.task\.panic\./);
  });
});
