/**
 * Which kernel era does what when RSM emulation fails, and when a triple fault requested in L2 goes to
 * L1 on nSVM (docs/model.md §4.2, §4.4), through the whole simulator: scenarios as a user writes them,
 * every preset, and --fix/--no-fix mixes.
 *
 * - `rsm-failure-triple-faults` (25b17226cd9a, v5.14): em_rsm raises KVM_REQ_TRIPLE_FAULT. Before it,
 *   em_rsm returned X86EMUL_UNHANDLEABLE and handle_emulation_failure() queued #UD: outside guest
 *   mode at CPL 0, KVM_EXIT_INTERNAL_ERROR; in guest mode (the vendor pre_leave_smm re-entered L2),
 *   back into the guest with the #UD pending, which L1 gets as an exception exit if it intercepts #UD.
 * - `nsvm-triple-fault-needs-intercept` (92e7d5c83aff, v6.1): nested_svm_triple_fault() synthesizes
 *   the SHUTDOWN exit only when vmcb12 intercepts SHUTDOWN; from v5.12 until then, always.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Vendor = 'intel' | 'amd';
type Kernel = { preset: string; fix?: string[]; noFix?: string[] };

const SETUP = [{ ioctl: 'KVM_CREATE_VCPU' }, { ioctl: 'KVM_SET_CPUID2' }, { ioctl: 'KVM_RUN' }];
/** The syzkaller EFER (LMSLE) in SMRAM, an SMI, and the KVM_RUN that runs the SMI handler's RSM. */
const BAD_RSM = [{ ioctl: 'KVM_SET_SREGS', efer: '0x2501' }, { ioctl: 'KVM_SMI' }, { ioctl: 'KVM_RUN' }];

function raw(name: string, vendor: Vendor, kernel: Kernel, guest: Record<string, unknown>, vmm: unknown[], cpus = 2) {
  return {
    name,
    machine: { cpus, vendor },
    kernel: { fix: [], noFix: [], ...kernel },
    vms: [{ vcpus: [{ cpu: cpus - 1, guest, vmm }] }],
  };
}

/** The brief's reproducer: RSM fails with the vCPU in L1 (no nested guest at all). */
function rsmInL1(vendor: Vendor, kernel: Kernel, extra: unknown[] = [], cpus = 2) {
  return runRaw(raw('rsm-l1-fail', vendor, kernel, { l1: ['io', 'hlt'], smm: ['rsm'] }, [...SETUP, ...BAD_RSM, ...extra], cpus));
}

/** T9 / T9-svm as a scenario file: the SMI arrives in L2, RSM re-enters L2 and then fails. */
function rsmToL2(vendor: Vendor, kernel: Kernel, guest: Record<string, unknown> = {}, seed = 1) {
  const enter = vendor === 'intel' ? 'vmlaunch' : 'vmrun';
  const program = { l1: [enter, 'hlt'], l2: ['io', 'spin'], smm: ['rsm'], l1InterceptsShutdown: true, ...guest };
  return runRaw(raw('rsm-l2-fail', vendor, kernel, program, [...SETUP, ...BAD_RSM]), seed);
}

const kvm = (records: TraceRecord[], what: string) =>
  records.flatMap((r) => (r.t === 'kvm' && r.what === what ? [r.data as Record<string, unknown>] : []));
/** Nested VM exits shown to L1, without SVM's synthetic SVM_EXIT_SW of SMM entry (VMX's is not traced). */
const nestedExitReasons = (records: TraceRecord[]) =>
  kvm(records, 'kvm_nested_vmexit_inject').flatMap((d) => (d.reason === 'SW' ? [] : [d.reason]));
const runExits = (records: TraceRecord[]) =>
  records.flatMap((r) => (r.t === 'ioctl' && r.phase === 'return' && r.name === 'KVM_RUN' ? [r.exit ?? null] : []));

const UD_EXIT: Record<Vendor, string> = { intel: 'EXCEPTION_NMI', amd: 'UD excp' };
const VMEXIT: Record<Vendor, string> = { intel: 'nested_vmx_vmexit', amd: 'nested_svm_vmexit' };
const VENDORS: Vendor[] = ['intel', 'amd'];

describe.each(VENDORS)('failed RSM with the vCPU in L1 (%s)', (vendor) => {
  it.each(['v5.10', 'v5.11'])('%s (before 25b17226cd9a): KVM_EXIT_INTERNAL_ERROR (17), out of SMM, #UD queued', (preset) => {
    const { outcome, records } = rsmInL1(vendor, { preset });
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_INTERNAL_ERROR', exitCode: 17, guestMode: 'l1', inSmm: false });
    expect(kvm(records, 'kvm_emulate_insn_failed')).toHaveLength(1);
    expect(runExits(records)).toEqual(['KVM_EXIT_IO', 'KVM_EXIT_INTERNAL_ERROR']);
    expect(outcome.warnings).toEqual([]);
  });

  it.each(['v6.2', 'v6.6', 'mainline'])('%s: the emulator triple-faults, KVM_EXIT_SHUTDOWN (8)', (preset) => {
    const { outcome, records } = rsmInL1(vendor, { preset });
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_SHUTDOWN', exitCode: 8, guestMode: 'l1', inSmm: false });
    expect(kvm(records, 'kvm_emulate_insn_failed')).toEqual([]);
  });

  it('the switch alone decides: --fix on v5.10 shuts down, --no-fix on mainline is the internal error', () => {
    expect(rsmInL1(vendor, { preset: 'v5.10', fix: ['rsm-failure-triple-faults'] }).outcome.vcpus[0]?.exitReason).toBe('KVM_EXIT_SHUTDOWN');
    expect(rsmInL1(vendor, { preset: 'mainline', noFix: ['rsm-failure-triple-faults'] }).outcome.vcpus[0]?.exitReason).toBe(
      'KVM_EXIT_INTERNAL_ERROR',
    );
  });

  it('the #UD stays queued: the next KVM_RUN injects it into L1 (which has no handler and never exits again)', () => {
    const { outcome, records } = rsmInL1(vendor, { preset: 'v5.10' }, [{ ioctl: 'KVM_RUN' }], 3);
    expect(kvm(records, 'kvm_inj_exception')).toHaveLength(1);
    // The third KVM_RUN never returns: the VMM's thread is still inside it.
    expect(runExits(records)).toEqual(['KVM_EXIT_IO', 'KVM_EXIT_INTERNAL_ERROR']);
    expect(outcome.vcpus[0]?.state).not.toBe('userspace');
  });
});

describe.each(VENDORS)('failed RSM back to L2 (%s, T9 / T9-svm)', (vendor) => {
  it.each(['v5.10', 'v5.11'])('%s: no triple fault; the #UD queued in L2 is an exception exit to L1, then L1 halts', (preset) => {
    const { outcome, records } = rsmToL2(vendor, { preset });
    expect(nestedExitReasons(records)).toEqual([UD_EXIT[vendor]]);
    expect(kvm(records, 'kvm_emulate_insn_failed')).toHaveLength(1);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_HLT', exitCode: 5, guestMode: 'l1' });
    expect(outcome.warnings).toEqual([]);
  });

  it('L1 not intercepting #UD: the #UD goes into L2, KVM_RUN does not return', () => {
    const { outcome, records } = rsmToL2(vendor, { preset: 'v5.10' }, { l1InterceptsUd: false });
    expect(nestedExitReasons(records)).toEqual([]);
    expect(kvm(records, 'kvm_inj_exception').map((d) => d.guestMode)).toEqual(['l2']);
    expect(runExits(records)).toEqual(['KVM_EXIT_IO']);
    expect(outcome.vcpus[0]?.guestMode).toBe('l2');
  });

  it('v5.10 + rsm-sets-nested-run-pending: the exception waits for the entry (immediate exit), no WARN', () => {
    const { outcome, records } = rsmToL2(vendor, { preset: 'v5.10', fix: ['rsm-sets-nested-run-pending'] });
    expect(outcome.warnings).toEqual([]);
    expect(nestedExitReasons(records)).toEqual([UD_EXIT[vendor]]);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_HLT', nestedRunPending: false });
  });

  it('v5.10 + rsm-shutdown-leaves-nested: L1 gets nothing, userspace the internal error (CPL 0 in L1)', () => {
    const { outcome, records } = rsmToL2(vendor, { preset: 'v5.10', fix: ['rsm-shutdown-leaves-nested'] });
    expect(nestedExitReasons(records)).toEqual([]);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_INTERNAL_ERROR', exitCode: 17, guestMode: 'l1' });
  });

  it('mainline --no-fix rsm-failure-triple-faults: the same internal error', () => {
    const { outcome } = rsmToL2(vendor, { preset: 'mainline', noFix: ['rsm-failure-triple-faults'] });
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_INTERNAL_ERROR', guestMode: 'l1' });
  });

  it('v6.6 keeps the triple fault of §4.4: the WARN and the exit to L1', () => {
    const { outcome, records } = rsmToL2(vendor, { preset: 'v6.6' });
    expect(outcome.warnings.map((w) => w.where)).toEqual([VMEXIT[vendor]]);
    expect(nestedExitReasons(records)).toEqual([vendor === 'intel' ? 'TRIPLE_FAULT' : 'SHUTDOWN']);
  });
});

/** L1 runs L2, L2 exits with port I/O, the VMM makes a triple fault pending (KVM_SET_VCPU_EVENTS) and runs again. */
function pendingTripleFaultInL2(vendor: Vendor, kernel: Kernel, l1InterceptsShutdown: boolean) {
  const enter = vendor === 'intel' ? 'vmlaunch' : 'vmrun';
  const guest = { l1: [enter, 'hlt'], l2: ['io', 'spin'], l1InterceptsShutdown };
  const vmm = [...SETUP, { ioctl: 'KVM_SET_VCPU_EVENTS', tripleFault: true }, { ioctl: 'KVM_RUN' }];
  return runRaw(raw('l2-triple-fault-event', vendor, kernel, guest, vmm));
}

describe('nSVM: a triple fault requested in L2, L1 not intercepting SHUTDOWN (92e7d5c83aff)', () => {
  it.each(['v6.2', 'v6.6', 'mainline'])('%s: nested_svm_triple_fault leaves it: KVM_EXIT_SHUTDOWN, no exit to L1', (preset) => {
    const { outcome, records } = pendingTripleFaultInL2('amd', { preset }, false);
    expect(nestedExitReasons(records)).toEqual([]);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_SHUTDOWN', guestMode: 'l2' });
  });

  it('v5.12-v6.0 (--no-fix nsvm-triple-fault-needs-intercept): a SHUTDOWN exit to L1 all the same, L1 halts', () => {
    const { outcome, records } = pendingTripleFaultInL2('amd', { preset: 'mainline', noFix: ['nsvm-triple-fault-needs-intercept'] }, false);
    expect(nestedExitReasons(records)).toEqual(['SHUTDOWN']);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_HLT', guestMode: 'l1' });
  });

  it('v5.11 + nested-triple-fault-to-l1 + triple-fault-event (a v5.12-v6.0 kernel): always the exit to L1', () => {
    const fix = ['nested-triple-fault-to-l1', 'triple-fault-event'];
    expect(nestedExitReasons(pendingTripleFaultInL2('amd', { preset: 'v5.11', fix }, false).records)).toEqual(['SHUTDOWN']);
    const later = pendingTripleFaultInL2('amd', { preset: 'v5.11', fix: [...fix, 'nsvm-triple-fault-needs-intercept'] }, false);
    expect(nestedExitReasons(later.records)).toEqual([]);
    expect(later.outcome.vcpus[0]?.exitReason).toBe('KVM_EXIT_SHUTDOWN');
  });

  it('L1 intercepting SHUTDOWN, or nVMX: the exit to L1 in every era that has the nested op', () => {
    for (const noFix of [[], ['nsvm-triple-fault-needs-intercept']]) {
      expect(nestedExitReasons(pendingTripleFaultInL2('amd', { preset: 'mainline', noFix }, true).records)).toEqual(['SHUTDOWN']);
      expect(nestedExitReasons(pendingTripleFaultInL2('intel', { preset: 'mainline', noFix }, false).records)).toEqual(['TRIPLE_FAULT']);
    }
  });

  it("the hardware SHUTDOWN #VMEXIT from L2 is reflected only if vmcb12 intercepts it, whatever the switch (nested_svm_exit_handled)", () => {
    const guest = { l1: ['vmrun', 'hlt'], l2: ['triple-fault'], l1InterceptsShutdown: false };
    for (const noFix of [[], ['nsvm-triple-fault-needs-intercept']]) {
      const { outcome, records } = runRaw(raw('l2-hw-triple-fault', 'amd', { preset: 'mainline', noFix }, guest, SETUP));
      expect(nestedExitReasons(records)).toEqual([]);
      expect(outcome.vcpus[0]?.exitReason).toBe('KVM_EXIT_SHUTDOWN');
    }
  });
});

describe('an SMRAM EFER with a reserved bit from 32 up fails the RSM as LMSLE does', () => {
  // rsm_load_state_64: kvm_set_msr(MSR_EFER, efer & ~EFER_LMA) is checked against the u64
  // efer_reserved_bits: bit 32 is as reserved as LMSLE (bit 13). A 32-bit mask dropped it.
  const withEfer = (vendor: Vendor, preset: string, efer: string) =>
    runRaw(raw('rsm-l1-efer', vendor, { preset }, { l1: ['io', 'hlt'], smm: ['rsm'] }, [...SETUP, { ioctl: 'KVM_SET_SREGS', efer }, { ioctl: 'KVM_SMI' }, { ioctl: 'KVM_RUN' }]));
  for (const vendor of VENDORS) {
    it.each(['v5.10', 'v6.6', 'mainline'])(`${vendor}, %s: 0x100000501 ends KVM_RUN as 0x2501 does`, (preset) => {
      const high = withEfer(vendor, preset, '0x100000501');
      const lmsle = withEfer(vendor, preset, '0x2501');
      expect(runExits(high.records)).toEqual(runExits(lmsle.records));
      expect(runExits(high.records).at(-1)).not.toBe('KVM_EXIT_HLT');
    });
  }
});
