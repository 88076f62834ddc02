/**
 * A physical INIT that reaches a CPU while a vCPU runs its guest in VMX non-root operation (Intel;
 * docs/model.md §4.6). SDM Vol. 3C "Other Causes of VM Exits": the INIT is a VM exit, basic exit reason
 * 3 (EXIT_REASON_INIT_SIGNAL), and nothing else of an INIT happens. KVM has no handler for it:
 *
 * - L1 ran: kvm_vmx_exit_handlers[] (arch/x86/kvm/vmx/vmx.c) has no EXIT_REASON_INIT_SIGNAL entry, so
 *   __vmx_handle_exit() takes `unexpected_vmexit`: vcpu_unimpl "unexpected exit reason 0x3", dump_vmcs()
 *   ("set kvm_intel.dump_invalid_vmcs=1 …" with the parameter off) and KVM_EXIT_INTERNAL_ERROR (17),
 *   suberror KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON (4), data[0] = 3 — since 7396d337cfad "KVM: x86:
 *   Return to userspace with internal error on unexpected exit reason" (v5.4), so in every preset; no #UD
 *   for the guest (what KVM did before that commit). KVM does not re-enter the guest.
 * - L2 ran: nested_vmx_reflect_vmexit(): nested_vmx_l0_wants_exit() has no case for it (false),
 *   nested_vmx_l1_wants_exit() ends in `default: return true`: a nested VM exit to L1 with reason 3,
 *   after which L1 runs on (here: its HLT exits to userspace).
 *
 * The text: "vmx: unexpected exit reason 0x3" then the dump_vmcs line; from "KVM: x86: Add a helper to
 * dedup reporting of unhandled VM-Exits" (switch unexpected-exit-reason-helper) the dump_vmcs line first,
 * then "unexpected exit reason 0x3" printed by kvm_prepare_unexpected_reason_exit() in x86.c.
 *
 * The path: an emergency restart whose reset reaches the CPUs as INIT (`reset.initOnly`) from a CPU with
 * CR4.VMXE=0, on a kernel that then sends no shootdown NMI (v5.10; later presets with the switches that
 * made it shoot down turned off), so the guests still run when the INIT comes.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Kernel = { preset: string; fix?: string[]; noFix?: string[] };
const NO_SHOOTDOWN: Kernel[] = [
  { preset: 'v5.10' },
  { preset: 'v5.11', noFix: ['shootdown-if-vmx-supported'] },
  { preset: 'v6.2', noFix: ['shootdown-if-vmx-supported', 'emergency-disables-svm'] },
  { preset: 'v6.6', noFix: ['shootdown-if-vmx-supported', 'emergency-disables-svm', 'virt-disable-via-kvm-callback'] },
  {
    preset: 'mainline',
    noFix: ['shootdown-if-vmx-supported', 'emergency-disables-svm', 'virt-disable-via-kvm-callback', 'emergency-virt-in-virt-subsystem'],
  },
  { preset: 'v5.10', fix: ['unexpected-exit-reason-helper'] },
];
const label = (k: Kernel) => `${k.preset}${k.fix ? ` --fix ${k.fix.join(',')}` : ''}${k.noFix ? ` --no-fix ${k.noFix.join(',')}` : ''}`;
const helper = (k: Kernel) => (k.preset === 'mainline' || (k.fix ?? []).includes('unexpected-exit-reason-helper')) && !(k.noFix ?? []).includes('unexpected-exit-reason-helper');

function restartWithGuests(cpus: number, kernel: Kernel, seed: number, nested: boolean) {
  const guest = nested ? { l1: ['vmlaunch', 'hlt'], l2: ['nop', 'spin'] } : { l1: ['nop', 'spin'] };
  const vcpus = Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, guest }));
  return runRaw(
    {
      name: 'vmx-init-in-guest',
      machine: { cpus, vendor: 'intel' },
      kernel: { preset: kernel.preset, fix: kernel.fix ?? [], noFix: kernel.noFix ?? [] },
      initial: { cpus: { '0': { vmx: 'off', cr4Vmxe: false } } },
      options: { reset: { method: 'acpi', initOnly: true } },
      vms: [{ vcpus }],
      script: [{ cpu: 0, do: 'emergency-restart', at: 20_000 }],
    },
    seed,
  );
}

/**
 * The reset's INIT was eaten by the VM exit (it is not held for later: SDM "performs none of the
 * operations normally associated with these events"), and the CPU is back in VMX root under KVM: the
 * INIT-based reset never reaches it.
 */
const leftInRoot = (cpus: number) =>
  Array.from({ length: cpus - 1 }, (_, i) => ({
    property: 'no-cpu-left-in-vmx-root',
    message: `CPU ${i + 1} was left in VMX root operation when the machine was reset: INIT is blocked there`,
  }));
const on = (records: TraceRecord[], cpu: number) => records.filter((r) => 'cpu' in r && r.cpu === cpu);

describe('Intel: INIT while a vCPU runs L1 — exit reason 3 has no handler, KVM_RUN returns KVM_EXIT_INTERNAL_ERROR', () => {
  for (const kernel of NO_SHOOTDOWN) {
    for (const cpus of [2, 3]) {
      it(`${label(kernel)}, ${cpus} CPUs`, () => {
        for (const seed of [1, 2, 3]) {
          const { outcome, records } = restartWithGuests(cpus, kernel, seed, false);
          const reset = records.findIndex((r) => r.t === 'reset');
          expect(reset).toBeGreaterThan(0);
          // The guests still ran when the reset came: no shootdown NMI reached them.
          expect(records.slice(0, reset).some((r) => r.t === 'kvm' && (r.what === 'host_exit' || r.what === 'kvm_exit'))).toBe(false);
          for (let cpu = 1; cpu < cpus; cpu++) {
            const mine = on(records.slice(reset), cpu);
            const init = mine.find((r) => r.t === 'deliver' && r.mode === 'init');
            expect(init).toMatchObject({ status: 'dropped' });
            // vmx_vcpu_run's trace_kvm_exit shows reason 3; then no VM entry again on this CPU.
            const exit = mine.find((r): r is Extract<TraceRecord, { t: 'kvm' }> => r.t === 'kvm' && r.what === 'kvm_exit');
            expect(exit?.data).toMatchObject({ reason: 'INIT_SIGNAL' });
            const after = mine.slice(mine.indexOf(exit as TraceRecord) + 1);
            expect(after.some((r) => r.t === 'insn' && /^VM(RESUME|LAUNCH)/.test(r.insn))).toBe(false);
            expect(after.some((r) => r.t === 'kvm' && r.what === 'kvm_entry')).toBe(false);
            // vcpu_unimpl (pr_err_ratelimited) and dump_vmcs (pr_warn_ratelimited), in the era's order and words.
            const text = after.filter((r): r is Extract<TraceRecord, { t: 'console' }> => r.t === 'console').map((r) => r.text);
            const vcpu = cpu - 1;
            const unimpl = new RegExp(`^kvm \\[\\d+\\]: vcpu${vcpu}, guest rIP: 0x[0-9a-f]+ ${helper(kernel) ? '' : 'vmx: '}unexpected exit reason 0x3$`);
            const dump = 'set kvm_intel.dump_invalid_vmcs=1 to dump internal KVM state.';
            expect(text).toHaveLength(2);
            if (helper(kernel)) {
              expect(text[0]).toBe(dump);
              expect(text[1]).toMatch(unimpl);
            } else {
              expect(text[0]).toMatch(unimpl);
              expect(text[1]).toBe(dump);
            }
            expect(after.find((r) => r.t === 'kvm' && r.what === 'kvm_run internal')).toMatchObject({
              data: { suberror: 'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON', code: 4, data0: 3 },
            });
            // No #UD for the guest: the pre-v5.4 kvm_queue_exception(vcpu, UD_VECTOR) is gone.
            expect(after.some((r) => r.t === 'kvm' && r.what === 'kvm_inj_exception')).toBe(false);
            const ret = after.find((r): r is Extract<TraceRecord, { t: 'ioctl' }> => r.t === 'ioctl' && r.name === 'KVM_RUN' && r.phase !== 'call');
            expect(ret).toMatchObject({ exit: 'KVM_EXIT_INTERNAL_ERROR', exitCode: 17 });
            // The CPU stays in VMX root under the returned thread: a later INIT would be held.
            expect(outcome.cpus[cpu]).toMatchObject({ vmx: 'root' });
          }
          for (const v of outcome.vcpus) expect(v).toMatchObject({ exitReason: 'KVM_EXIT_INTERNAL_ERROR', exitCode: 17, thread: 'alive', guestMode: 'l1' });
          expect(outcome.violations).toEqual(leftInRoot(cpus));
        }
      });
    }
  }
});

describe('Intel: INIT while a vCPU runs L2 — reflected to L1 (nested_vmx_l1_wants_exit default), no internal error', () => {
  for (const kernel of NO_SHOOTDOWN.slice(0, 5)) {
    for (const cpus of [2, 3]) {
      it(`${label(kernel)}, ${cpus} CPUs`, () => {
        for (const seed of [1, 2]) {
          const { outcome, records } = restartWithGuests(cpus, kernel, seed, true);
          const reset = records.findIndex((r) => r.t === 'reset');
          expect(reset).toBeGreaterThan(0);
          for (let cpu = 1; cpu < cpus; cpu++) {
            const mine = on(records.slice(reset), cpu);
            const exit = mine.find((r): r is Extract<TraceRecord, { t: 'kvm' }> => r.t === 'kvm' && r.what === 'kvm_exit');
            expect(exit?.data).toMatchObject({ reason: 'INIT_SIGNAL', guestMode: 'l2' });
            const inject = mine.find((r) => r.t === 'kvm' && r.what === 'kvm_nested_vmexit_inject');
            expect(inject).toMatchObject({ data: { reason: 'INIT_SIGNAL', code: 3 } });
            expect(mine.some((r) => r.t === 'console' && r.text.includes('unexpected exit reason'))).toBe(false);
            // L1 runs on after its VMLAUNCH: its HLT is the exit KVM_RUN returns.
            const ret = mine.find((r): r is Extract<TraceRecord, { t: 'ioctl' }> => r.t === 'ioctl' && r.name === 'KVM_RUN' && r.phase !== 'call');
            expect(ret).toMatchObject({ exit: 'KVM_EXIT_HLT' });
          }
          for (const v of outcome.vcpus) expect(v).toMatchObject({ exitReason: 'KVM_EXIT_HLT', guestMode: 'l1' });
          expect(outcome.violations).toEqual(leftInRoot(cpus));
        }
      });
    }
  }
});
