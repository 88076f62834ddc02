/**
 * Built-in scenarios with KVM guests: rows T8–T10 of docs/model.md §6, and the host flows with vCPUs
 * running (§4.6). Plain scenario files like the others, validated the same way.
 */
import type { BuiltinScenario } from './builtin-scenario.js';

const CREATE = { ioctl: 'KVM_CREATE_VCPU' };
const CPUID = { ioctl: 'KVM_SET_CPUID2' };

/** T9: L1 runs L2, L2 exits to userspace (port I/O), the VMM sets a bad EFER and injects an SMI, the SMI handler's RSM fails. */
function rsmTripleFault(vendor: 'intel' | 'amd'): BuiltinScenario {
  const enter = vendor === 'intel' ? 'vmlaunch' : 'vmrun';
  const id = vendor === 'intel' ? 'T9' : 'T9-svm';
  const name = vendor === 'intel' ? 'rsm-to-l2-triple-fault-vmx' : 'rsm-to-l2-triple-fault-svm';
  return {
    id,
    name,
    summary: `L2 running, KVM_SMI, bad EFER in SMRAM, RSM back to L2 fails (${vendor === 'intel' ? 'nVMX' : 'nSVM'}): WARN in ${vendor === 'intel' ? 'nested_vmx_vmexit' : 'nested_svm_vmexit'} from v5.15 without the fixes (a #UD to L1 before v5.14)`,
    raw: {
      name,
      description:
        `docs/model.md §6 T9 / §4.4 (${vendor}): L1 enters L2, which exits to userspace with port I/O; the VMM sets EFER 0x2501 ` +
        '(LMSLE, which KVM rejects) with KVM_SET_SREGS and injects an SMI with KVM_SMI; on the next KVM_RUN the SMI is taken ' +
        'from L2, and the SMI handler\'s RSM re-enters L2 with nested_run_pending set before loading the bad EFER: a triple fault ' +
        '(before v5.14, an emulation failure: a #UD that L1 intercepts).',
      machine: { cpus: 2, vendor },
      vms: [
        {
          vcpus: [
            {
              cpu: 1,
              guest: { l1: [enter, 'hlt'], l2: ['io', 'spin'], smm: ['rsm'], l1InterceptsShutdown: true },
              vmm: [CREATE, CPUID, { ioctl: 'KVM_RUN' }, { ioctl: 'KVM_SET_SREGS', efer: '0x2501' }, { ioctl: 'KVM_SMI' }, { ioctl: 'KVM_RUN' }],
            },
          ],
        },
      ],
    },
  };
}

export const KVM_SCENARIOS: readonly BuiltinScenario[] = [
  {
    id: 'T8',
    name: 'kvm-run-before-set-cpuid',
    summary: 'KVM_RUN without KVM_SET_CPUID2: tdp_level 0 and a BUG in kvm_mmu_load without the 5.8-window fix',
    raw: {
      name: 'kvm-run-before-set-cpuid',
      description:
        'docs/model.md §6 T8 / §4.1: the VMM creates a vCPU and runs it at once. Without "KVM: x86: Initialize tdp_level during vCPU ' +
        'creation" the MMU finds root level 0: "kernel BUG at arch/x86/kvm/mmu/mmu.c" and the VMM thread dies in the ioctl.',
      machine: { cpus: 2 },
      vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['nop', 'hlt'] }, vmm: [CREATE, { ioctl: 'KVM_RUN', loop: true }] }] }],
    },
  },
  rsmTripleFault('intel'),
  rsmTripleFault('amd'),
  {
    id: 'T10',
    name: 'nsvm-stale-rip-livelock',
    summary: 'nSVM: L2 MMIO completed in userspace, then a nested #VMEXIT for an L1-intercepted IRQ saves a stale RIP: L2 loops',
    raw: {
      name: 'nsvm-stale-rip-livelock',
      description:
        'docs/model.md §6 T10 / §4.5: L2 writes to an MMIO register the VMM emulates; the device raises an interrupt (KVM_INTERRUPT) ' +
        'that L1 intercepts. KVM completes the MMIO on the next KVM_RUN (RIP advances in its register cache) and then ' +
        'synthesizes #VMEXIT(INTR). Before b6162e82aef1 nested_svm_vmexit copied RIP from the VMCB save area, so L1 resumes ' +
        'L2 on the MMIO instruction again, for ever.',
      machine: { cpus: 2, vendor: 'amd' },
      options: { maxSteps: 4000 },
      vms: [
        {
          vcpus: [
            {
              cpu: 1,
              guest: { l1: ['vmrun', { jmp: 0 }], l2: ['mmio', 'hlt'], l1InterceptsIrq: true },
              vmm: [CREATE, CPUID, { ioctl: 'KVM_RUN', loop: true, mmioIrq: 0x30 }],
            },
          ],
        },
      ],
    },
  },
  {
    id: 'T-L2',
    name: 'shootdown-vcpus-in-l2',
    summary: 'panic with kdump while every responder runs a vCPU in L2: VM exits on the NMI, VMCSs VMCLEARed, no vCPU resumes',
    raw: {
      name: 'shootdown-vcpus-in-l2',
      description:
        'docs/model.md §4.6: CPU0 panics with a crash kernel loaded while CPUs 1–3 each run a vCPU whose L1 has entered L2. The ' +
        'shootdown NMI makes each a VM exit; the host NMI handler on that CPU VMCLEARs the vCPU\'s vmcs01 and vmcs02 (both on ' +
        'loaded_vmcss_on_cpu), leaves VMX and halts, so the vCPU threads never run again.',
      machine: { cpus: 4 },
      options: { kdump: true },
      vms: [
        {
          vcpus: [1, 2, 3].map((cpu) => ({ cpu, guest: { l1: ['vmlaunch', { jmp: 0 }], l2: ['nop', 'spin'] } })),
        },
      ],
      script: [{ cpu: 0, do: 'panic', at: 20_000, message: 'sysrq triggered crash' }],
    },
  },
  {
    id: 'T7-kvm',
    name: 'reboot-with-vcpus-running',
    summary: '`reboot -f` while vCPUs run: kvm_reboot sets kvm_rebooting, the disable IPI exits the guests, VM entry faults are eaten',
    raw: {
      name: 'reboot-with-vcpus-running',
      description:
        'docs/model.md §4.6, T7 with guests: reboot(2) runs the KVM reboot notifier, which sets kvm_rebooting and sends every CPU ' +
        'the hardware-disable IPI. A vCPU in its guest takes a VM exit for it, the handler VMCLEARs and leaves VMX, and the ' +
        'vCPU thread\'s next VM entry faults; the fault is ignored only because kvm_rebooting was set first (on this Intel ' +
        'machine VM-Fail, KVM_EXIT_FAIL_ENTRY, from v5.19; in v5.10 and v5.11 the fault reads as a VM exit with reason 0 and ' +
        'KVM_RUN returns KVM_EXIT_EXCEPTION; with vendor amd the VMRUN is skipped and the thread stays in KVM_RUN).',
      machine: { cpus: 4 },
      vms: [{ vcpus: [1, 2, 3].map((cpu) => ({ cpu, guest: { l1: ['nop', 'spin'] } })) }],
      script: [{ cpu: 0, do: 'reboot', at: 20_000 }],
    },
  },
];
