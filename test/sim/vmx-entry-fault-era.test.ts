/**
 * Intel: a VMLAUNCH/VMRESUME that faults (#UD: the reboot's hardware disable left VMX operation under
 * the vCPU thread) while kvm_rebooting is set — what KVM_RUN reports depends on the era
 * (docs/model.md §2.3, switch vmx-entry-fault-is-vmfail):
 *
 * - before "KVM: VMX: Flatten __vmx_vcpu_run()" (8bd200d23ec4, v5.19): vmx_vmenter's fixup
 *   `cmpb $0, kvm_rebooting; je 4f; ret` returns with CF=ZF=0, which __vmx_vcpu_run's `jbe` reads as a
 *   VM-Exit; the VM_EXIT_REASON VMREAD faults too and reads 0 (EXCEPTION_NMI, intr_info 0), and
 *   handle_exception_nmi() ends KVM_RUN with KVM_EXIT_EXCEPTION (1);
 * - from it on: `.Lfixup` jumps to `.Lvmfail`, vmx->fail, KVM_EXIT_FAIL_ENTRY (9).
 *
 * Through the whole simulator (library) and the command line, for several CPU counts, seeds and
 * fix mixes; AMD is not touched by the switch.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

const SWITCH = 'vmx-entry-fault-is-vmfail';
type Vendor = 'intel' | 'amd';
type Kernel = { preset: string; fix?: string[]; noFix?: string[] };

/** reboot(2) on CPU 0 while `cpus - 1` vCPUs (one per CPU 1…) spin in their guests. */
function rebootWithVcpus(vendor: Vendor, kernel: Kernel, cpus: number, seed: number) {
  const vcpus = Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, guest: { l1: ['nop', 'spin'] } }));
  return runRaw({ name: `reboot-vcpus-${vendor}`, machine: { cpus, vendor }, kernel, vms: [{ vcpus }], script: [{ cpu: 0, do: 'reboot', at: 20_000 }] }, seed);
}

const entryFaults = (records: TraceRecord[]) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'insn' }> => r.t === 'insn' && /^VM(RESUME|LAUNCH)/.test(r.insn) && r.result === '#UD');
const kvmRunReturns = (records: TraceRecord[]) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'ioctl' }> => r.t === 'ioctl' && r.name === 'KVM_RUN' && r.phase !== 'call');

const PRE_FLATTEN: Kernel[] = [{ preset: 'v5.10' }, { preset: 'v5.11' }, { preset: 'mainline', noFix: [SWITCH] }, { preset: 'v6.6', noFix: [SWITCH] }];
const FLATTENED: Kernel[] = [{ preset: 'v6.2' }, { preset: 'v6.6' }, { preset: 'mainline' }, { preset: 'v5.10', fix: [SWITCH] }, { preset: 'v5.11', fix: [SWITCH] }];
const label = (k: Kernel) => `${k.preset}${k.fix ? ` --fix ${k.fix.join(',')}` : ''}${k.noFix ? ` --no-fix ${k.noFix.join(',')}` : ''}`;

describe('Intel, a VM entry faulting after the reboot disabled VMX, kvm_rebooting set', () => {
  for (const kernel of PRE_FLATTEN) {
    for (const cpus of [2, 3, 5]) {
      it(`${label(kernel)}, ${cpus} CPUs: read as a VM-Exit with reason 0 (kvm_exit), KVM_RUN returns KVM_EXIT_EXCEPTION, never FAIL_ENTRY; the machine resets`, () => {
        let returned = 0;
        for (const seed of [1, 2, 3, 4]) {
          const { outcome, records } = rebootWithVcpus('intel', kernel, cpus, seed);
          expect(outcome.end).toBe('reset');
          expect(records.some((r) => r.t === 'console' && r.text.includes('kernel BUG'))).toBe(false);
          const faults = entryFaults(records);
          expect(faults.length).toBeGreaterThan(0);
          for (const f of faults) {
            // vmx_vcpu_run traces the exit it believes it saw: the next KVM record on that CPU.
            const next = records.slice(records.indexOf(f) + 1).find((r) => r.t === 'kvm' && r.cpu === f.cpu);
            expect(next).toMatchObject({ what: 'kvm_exit' });
          }
          const returns = kvmRunReturns(records);
          for (const r of returns) expect(r).toMatchObject({ exit: 'KVM_EXIT_EXCEPTION', exitCode: 1 });
          // Every faulting thread went back to userspace, unless the stop IPI halted its CPU first,
          // between the exit (IRQs off) and vmx_handle_exit (IRQs on again).
          const back = outcome.vcpus.filter((v) => v.exitReason === 'KVM_EXIT_EXCEPTION');
          const caught = outcome.vcpus.filter((v) => v.state === 'run.exceptionExit');
          expect(back.length + caught.length).toBe(faults.length);
          expect(returns.length).toBe(back.length);
          for (const v of outcome.vcpus) expect(v.exitReason).not.toBe('KVM_EXIT_FAIL_ENTRY');
          returned += back.length;
        }
        expect(returned).toBeGreaterThan(0);
      });
    }
  }

  for (const kernel of FLATTENED) {
    for (const cpus of [2, 4]) {
      it(`${label(kernel)}, ${cpus} CPUs: .Lfixup → .Lvmfail, KVM_EXIT_FAIL_ENTRY (9) once per faulting vCPU, no kvm_exit for it`, () => {
        for (const seed of [1, 2, 3]) {
          const { outcome, records } = rebootWithVcpus('intel', kernel, cpus, seed);
          expect(outcome.end).toBe('reset');
          const faults = entryFaults(records);
          expect(faults.length).toBeGreaterThan(0);
          for (const f of faults) {
            const next = records.slice(records.indexOf(f) + 1).find((r) => (r.t === 'kvm' || r.t === 'ioctl') && r.cpu === f.cpu);
            expect(next).not.toMatchObject({ what: 'kvm_exit' });
          }
          const failed = outcome.vcpus.filter((v) => v.exitReason === 'KVM_EXIT_FAIL_ENTRY');
          expect(failed.length).toBe(faults.length);
          for (const v of failed) expect(v.exitCode).toBe(9);
          expect(outcome.vcpus.some((v) => v.exitReason === 'KVM_EXIT_EXCEPTION')).toBe(false);
        }
      });
    }
  }

  for (const kernel of [{ preset: 'v5.10' }, { preset: 'v5.10', fix: [SWITCH] }, { preset: 'mainline', noFix: [SWITCH] }]) {
    it(`${label(kernel)}, AMD: the switch is Intel's; VMRUN is still skipped and the threads stay in KVM_RUN`, () => {
      for (const seed of [1, 2]) {
        const { outcome, records } = rebootWithVcpus('amd', kernel, 3, seed);
        expect(outcome.end).toBe('reset');
        expect(kvmRunReturns(records)).toEqual([]);
        expect(outcome.vcpus.filter((v) => v.state === 'run.vmrunLoop').length).toBeGreaterThan(0);
      }
    });
  }
});

describe('Intel, the same fault while the vCPUs run L2 (reboot with nested guests)', () => {
  /** reboot(2) on CPU 0 while `cpus - 1` vCPUs run L2 (L1 VMLAUNCHed it, as in T-L2). */
  const rebootInL2 = (kernel: Kernel, cpus: number, seed: number) => {
    const vcpus = Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, guest: { l1: ['vmlaunch', 'spin'], l2: ['nop', 'spin'] } }));
    return runRaw({ name: 'reboot-vcpus-l2', machine: { cpus }, kernel, vms: [{ vcpus }], script: [{ cpu: 0, do: 'reboot', at: 20_000 }] }, seed);
  };
  const warnings = (records: TraceRecord[]) => records.filter((r) => r.t === 'warning');

  for (const kernel of PRE_FLATTEN.slice(0, 3)) {
    it(`${label(kernel)}: the vmcs02 entry fault reads as an exit from L2 with reason 0, not reflected (#DE): KVM_EXIT_EXCEPTION, no WARN`, () => {
      for (const cpus of [2, 3]) {
        for (const seed of [1, 2, 3]) {
          const { outcome, records } = rebootInL2(kernel, cpus, seed);
          expect(outcome.end).toBe('reset');
          expect(warnings(records)).toEqual([]);
          expect(entryFaults(records).length).toBeGreaterThan(0);
          for (const r of kvmRunReturns(records)) expect(r.exit).toBe('KVM_EXIT_EXCEPTION');
          for (const v of outcome.vcpus.filter((x) => x.exitReason !== null)) expect(v.guestMode).toBe('l2');
        }
      }
    });
  }

  for (const kernel of FLATTENED.slice(0, 4)) {
    it(`${label(kernel)}: a late nested VM-Fail to L1 first, whose VM_INSTRUCTION_ERROR VMREAD reads 0: WARN in nested_vmx_vmexit (no-kernel-warn), then the vmcs01 entry fails: KVM_EXIT_FAIL_ENTRY`, () => {
      let warned = 0;
      for (const cpus of [2, 3]) {
        for (const seed of [1, 2, 3]) {
          const { outcome, records } = rebootInL2(kernel, cpus, seed);
          expect(outcome.end).toBe('reset');
          const w = warnings(records);
          for (const r of w) expect(r).toMatchObject({ where: 'nested_vmx_vmexit' });
          // Each vCPU whose vmcs02 entry faulted WARNs once (the model keeps WARN_ON_ONCE per vCPU thread).
          const l2Faults = new Set(entryFaults(records).map((r) => r.cpu));
          expect(w.length).toBe(l2Faults.size);
          if (w.length > 0) expect(outcome.violations.map((v) => v.property)).toContain('no-kernel-warn');
          for (const r of kvmRunReturns(records)) expect(r.exit).toBe('KVM_EXIT_FAIL_ENTRY');
          for (const v of outcome.vcpus.filter((x) => x.exitReason !== null)) expect(v.guestMode).toBe('l1');
          warned += w.length;
        }
      }
      expect(warned).toBeGreaterThan(0);
    });
  }
});

describe('shootdown run T7-kvm (the command line)', () => {
  const run = async (args: string[]) => {
    const t = memoryIo();
    expect(await main(['run', 'T7-kvm', ...args], t.cli)).toBe(0);
    return t.out();
  };
  it.each([['v5.10'], ['v5.11']])('--kernel %s: the faulting entries end KVM_RUN with KVM_EXIT_EXCEPTION (1), not FAIL_ENTRY', async (preset) => {
    const out = await run(['--kernel', preset]);
    expect(out).toMatch(/KVM_RUN = 0, exit_reason KVM_EXIT_EXCEPTION \(1\)/);
    expect(out).not.toContain('KVM_EXIT_FAIL_ENTRY');
    expect(out).toContain('outcome: reset');
  });
  it.each([['v6.2'], ['v6.6'], ['mainline']])('--kernel %s: KVM_EXIT_FAIL_ENTRY (9)', async (preset) => {
    const out = await run(['--kernel', preset]);
    expect(out).toMatch(/KVM_RUN = 0, exit_reason KVM_EXIT_FAIL_ENTRY \(9\)/);
    expect(out).not.toContain('KVM_EXIT_EXCEPTION');
  });
  it('the switch alone decides: v5.10 --fix gives FAIL_ENTRY, mainline --no-fix gives EXCEPTION; seeds 1–3', async () => {
    for (const seed of ['1', '2', '3']) {
      const fixed = await run(['--kernel', 'v5.10', '--fix', SWITCH, '--seed', seed]);
      expect(fixed).toContain('KVM_EXIT_FAIL_ENTRY (9)');
      expect(fixed).not.toContain('KVM_EXIT_EXCEPTION');
      const unfixed = await run(['--kernel', 'mainline', '--no-fix', SWITCH, '--seed', seed]);
      expect(unfixed).not.toContain('KVM_EXIT_FAIL_ENTRY');
    }
  });
  it('`shootdown kernels` lists the switch with its commit, off in v5.10/v5.11 and on from v6.2', async () => {
    const t = memoryIo();
    expect(await main(['kernels', '--json'], t.cli)).toBe(0);
    const k = JSON.parse(t.out()) as { presets: { name: string; switches: string[] }[]; switches: { name: string; upstream: string }[] };
    expect(k.switches.find((s) => s.name === SWITCH)?.upstream).toContain('8bd200d23ec4');
    const on = Object.fromEntries(k.presets.map((p) => [p.name, p.switches.includes(SWITCH)]));
    expect(on).toEqual({ 'v5.10': false, 'v5.11': false, 'v6.2': true, 'v6.6': true, mainline: true });
  });
});
