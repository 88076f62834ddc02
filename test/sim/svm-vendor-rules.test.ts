/**
 * Where AMD (SVM) and Intel (VMX) differ for a vCPU the host disturbs (docs/model.md §4.6), through the
 * whole simulator, for both vendors and several eras:
 *
 * - a VM entry that faults because the reboot's hardware disable ran first, with kvm_rebooting set:
 *   VMX turns it into VM-Fail (KVM_EXIT_FAIL_ENTRY; v5.19 on, see vmx-entry-fault-era.test.ts); SVM's __svm_vcpu_run fixup skips VMRUN, so
 *   svm_handle_exit() handles the stale exit code and vcpu_run() loops back into VMRUN;
 * - an SMI while the guest runs: SVM intercepts it (#VMEXIT, then SMM at KVM's STGI, in host context);
 *   VMX non-root enters SMM directly and RSM returns to the guest.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Vendor = 'intel' | 'amd';

function load(raw: Record<string, unknown>, preset: string): Scenario {
  const r = validateScenario(raw, String(raw.name), validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { ...r.scenario, kernel: { preset, fix: [], noFix: [] } };
}

/** T7-kvm with `cpus - 1` vCPUs, one per CPU 1…: reboot(2) on CPU 0 while their guests spin. */
function rebootWithVcpus(vendor: Vendor, preset: string, cpus: number): Scenario {
  const vcpus = Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, guest: { l1: ['nop', 'spin'] } }));
  return load({ name: `reboot-vcpus-${vendor}`, machine: { cpus, vendor }, vms: [{ vcpus }], script: [{ cpu: 0, do: 'reboot', at: 20_000 }] }, preset);
}

const entryFault = (r: TraceRecord, vendor: Vendor) =>
  r.t === 'insn' && (vendor === 'amd' ? /^VMRUN/.test(r.insn) : /^VM(RESUME|LAUNCH)/.test(r.insn)) && r.result === '#UD';
const kvmRunReturns = (trace: TraceRecord[]) => trace.filter((r) => r.t === 'ioctl' && r.name === 'KVM_RUN' && r.phase !== 'call');

describe('a VM entry that faults after the reboot disabled virtualization, kvm_rebooting set (vmenter.S fixups)', () => {
  for (const preset of ['v5.10', 'v5.11', 'v6.6', 'mainline']) {
    for (const cpus of [2, 3]) {
      it(`${preset}, ${cpus} CPUs, AMD: VMRUN is skipped, no KVM_EXIT_FAIL_ENTRY; the thread stays in KVM_RUN until the stop IPI, the machine resets`, () => {
        for (const seed of [1, 2, 3]) {
          const { outcome, trace } = runScenario(rebootWithVcpus('amd', preset, cpus), { seed, keepTrace: true });
          expect(outcome.end).toBe('reset');
          expect(outcome.violations).toEqual([]);
          expect(trace.some((r) => r.t === 'console' && r.text.includes('kernel BUG'))).toBe(false);
          // No KVM_RUN call returned to the VMM: each thread stayed inside it.
          expect(kvmRunReturns(trace)).toEqual([]);
          const faults = trace.flatMap((r, i) => (entryFault(r, 'amd') ? [i] : []));
          expect(faults.length).toBeGreaterThan(0);
          for (const i of faults) {
            // svm_handle_exit() on the stale exit code (kvm_exit) follows on that CPU, then the loop.
            const cpu = (trace[i] as Extract<TraceRecord, { t: 'insn' }>).cpu;
            const next = trace.slice(i + 1).find((r) => r.t === 'kvm' && r.cpu === cpu);
            expect(next).toMatchObject({ what: 'kvm_exit' });
          }
          const looping = outcome.vcpus.filter((v) => v.state === 'run.vmrunLoop');
          expect(looping.length).toBe(faults.length);
          for (const v of outcome.vcpus) {
            expect(v.thread).toBe('alive');
            expect(v.exitReason).toBeNull();
            expect(v.state.startsWith('run.')).toBe(true);
          }
        }
      });
    }
  }

  // Intel from v5.19 (KVM: VMX: Flatten __vmx_vcpu_run()); before it, KVM_EXIT_EXCEPTION: vmx-entry-fault-era.test.ts.
  for (const preset of ['v6.2', 'v6.6', 'mainline']) {
    it(`${preset}, Intel: VM-Fail, KVM_RUN returns KVM_EXIT_FAIL_ENTRY (9) once per faulting vCPU`, () => {
      for (const seed of [1, 2, 3]) {
        const { outcome, trace } = runScenario(rebootWithVcpus('intel', preset, 3), { seed, keepTrace: true });
        expect(outcome.end).toBe('reset');
        const faults = trace.filter((r) => entryFault(r, 'intel'));
        expect(faults.length).toBeGreaterThan(0);
        const failed = outcome.vcpus.filter((v) => v.exitReason === 'KVM_EXIT_FAIL_ENTRY');
        expect(failed.length).toBe(faults.length);
        for (const v of failed) expect(v.exitCode).toBe(9);
      }
    });
  }
});

describe('the properties judge a reboot that cannot finish the same way on both vendors', () => {
  // CPU 2 runs with IRQs off: on_each_cpu(hardware_disable) waits for it forever. On AMD the vCPU thread
  // on CPU 1 loops in KVM_RUN (skipped VMRUNs), a loop that moves nothing, as a spinning guest: the run
  // is a hang and reboot-completes says so, as on Intel where the thread went back to userspace.
  for (const vendor of ['amd', 'intel'] as const) {
    for (const preset of ['v5.10', 'v6.6']) {
      it(`${vendor}, ${preset}: hang, reboot-completes violated (not a run that ran out of steps)`, () => {
        const s = load(
          {
            name: `reboot-irqoff-${vendor}`,
            machine: { cpus: 3, vendor },
            initial: { cpus: { '2': { if: false } } },
            vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['nop', 'spin'] } }] }],
            script: [{ cpu: 0, do: 'reboot', at: 20_000 }],
          },
          preset,
        );
        const { outcome } = runScenario(s, { seed: 1, keepTrace: false });
        expect(outcome.end).toBe('hang');
        expect(outcome.violations.map((v) => v.property)).toContain('reboot-completes');
        expect(outcome.vcpus[0]?.state).toBe(vendor === 'amd' ? 'run.vmrunLoop' : 'userspace');
      });
    }
  }
});

/** One vCPU on CPU 1 spinning in L1; an SMI to CPU 1 at 20 µs. */
function smiInGuest(vendor: Vendor, preset: string): Scenario {
  return load(
    {
      name: `smi-in-guest-${vendor}`,
      machine: { cpus: 2, vendor },
      vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['nop', 'spin'] } }] }],
      script: [{ cpu: 1, do: 'smi', at: 20_000 }],
    },
    preset,
  );
}

describe('an SMI while a vCPU runs its guest', () => {
  for (const preset of ['v5.10', 'v6.6', 'mainline']) {
    it(`${preset}, AMD: INTERCEPT_SMI — #VMEXIT, SMM in host context, then KVM handles SVM_EXIT_SMI and re-enters`, () => {
      const { outcome, trace } = runScenario(smiInGuest('amd', preset), { seed: 1, keepTrace: true });
      const smi = trace.findIndex((r) => r.t === 'deliver' && r.mode === 'smi');
      expect(smi).toBeGreaterThan(0);
      const rest = trace.slice(smi);
      const hostExit = rest.findIndex((r) => r.t === 'kvm' && r.what === 'host_exit' && r.data.reason === 'smi');
      const rsm = rest.findIndex((r) => r.t === 'insn' && r.insn === 'RSM');
      const handled = rest.findIndex((r) => r.t === 'kvm' && r.what === 'kvm_exit');
      const reentry = rest.findIndex((r) => r.t === 'insn' && /^VMRUN/.test(r.insn) && r.result === 'ok');
      expect(hostExit).toBeGreaterThanOrEqual(0);
      expect(rsm).toBeGreaterThan(hostExit);
      expect(handled).toBeGreaterThan(rsm);
      expect(reentry).toBeGreaterThan(handled);
      expect(outcome.vcpus[0]).toMatchObject({ thread: 'alive', exitReason: null, state: 'run.spinning' });
      expect(outcome.violations).toEqual([]);
    });

    it(`${preset}, Intel: VMX non-root enters SMM directly, RSM returns to the guest: no VM exit`, () => {
      const { outcome, trace } = runScenario(smiInGuest('intel', preset), { seed: 1, keepTrace: true });
      const smi = trace.findIndex((r) => r.t === 'deliver' && r.mode === 'smi');
      expect(smi).toBeGreaterThan(0);
      const rest = trace.slice(smi);
      expect(rest.some((r) => r.t === 'insn' && r.insn === 'RSM')).toBe(true);
      expect(rest.some((r) => r.t === 'kvm' && (r.what === 'host_exit' || r.what === 'kvm_exit'))).toBe(false);
      expect(outcome.vcpus[0]).toMatchObject({ thread: 'alive', state: 'run.spinning' });
      expect(outcome.cpus[1]?.vmx).toBe('nonroot');
    });
  }
});
