/**
 * The built-in scenarios: one per row T1–T7 of docs/model.md §6, each runnable by its row id and by its
 * name. They are scenario files like any other (plain JSON values) and go through the same
 * validator as a user's file.
 */

import { KVM_SCENARIOS } from './builtin-kvm.js';
import { VSOCK_SCENARIOS } from './builtin-vsock.js';

import type { BuiltinScenario } from './builtin-scenario.js';

export type { BuiltinScenario };

const VMS_ON_ALL = { all: { vmx: 'root', loadedVmcs: 1 } };

/** R2: A's own emergency virt disable is interrupted by B's kdump shootdown NMI at a chosen point. */
function raceR2(point: 'i' | 'ii' | 'iii', name: string, where: string, enters: string): BuiltinScenario {
  return {
    id: `T5${point === 'ii' ? '' : point === 'i' ? '-i' : '-iii'}`,
    name,
    summary: `R2 case (${point}): CPU1's task-context emergency restart is hit by CPU2's kdump shootdown NMI ${where}`,
    raw: {
      name,
      description:
        `docs/model.md §1.9 R2 case (${point}), T5: CPU1 runs SysRq-b (emergency restart, task context) with a VMCS on its ` +
        `loaded_vmcss_on_cpu list; when it is ${where} it stalls and CPU2 panics with a crash kernel loaded.`,
      machine: { cpus: 4, vendor: 'intel' },
      initial: VMS_ON_ALL,
      options: { kdump: true },
      script: [
        { cpu: 1, do: 'emergency-restart', at: 0 },
        { cpu: 1, do: 'stall', when: { cpu: 1, enters } },
        { cpu: 2, do: 'panic', when: { cpu: 1, enters }, message: 'Oops: 0000 in a driver (race R2)' },
      ],
    },
  };
}

export const BUILTIN_SCENARIOS: readonly BuiltinScenario[] = [
  {
    id: 'T1',
    name: 'panic-kdump-vms-on-all',
    summary: 'panic on CPU0 with kdump loaded and VMs on every CPU: NMI shootdown, 3 acks, kexec',
    raw: {
      name: 'panic-kdump-vms-on-all',
      description: 'docs/model.md §6 T1: 4 CPUs, KVM guests on all (VMX root, one loaded VMCS each), panic on CPU0, kdump loaded.',
      machine: { cpus: 4 },
      initial: VMS_ON_ALL,
      options: { kdump: true },
      script: [{ cpu: 0, do: 'panic', at: 0, message: 'sysrq triggered crash' }],
    },
  },
  {
    id: 'T2',
    name: 'double-shootdown-post-notifiers',
    summary: 'panic with crash_kexec_post_notifiers, no kdump, panic=1: the second shootdown of the restart path',
    raw: {
      name: 'double-shootdown-post-notifiers',
      description:
        'docs/model.md §6 T2 / race R1: panic() shoots down for kdump (crash_smp_send_stop) although no crash kernel is loaded, ' +
        'then panic_timeout reboots through emergency_restart(), which shoots down again.',
      machine: { cpus: 4 },
      initial: VMS_ON_ALL,
      options: { crashKexecPostNotifiers: true, panicTimeout: 1 },
      script: [{ cpu: 0, do: 'panic', at: 0, message: 'hung_task: blocked tasks' }],
    },
  },
  {
    id: 'T3',
    name: 'sysrq-b-initiator-vmx-off',
    summary: 'SysRq-b on CPU0 whose CR4.VMXE=0 while the others are in VMX root, INIT-based reset',
    raw: {
      name: 'sysrq-b-initiator-vmx-off',
      description:
        'docs/model.md §6 T3 / race R3: the initiator has no VMX on itself; before v5.11 nothing shoots the others down, ' +
        'they stay in VMX root and block the INIT the reset relies on.',
      machine: { cpus: 4 },
      initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '0': { vmx: 'off', loadedVmcs: 0, cr4Vmxe: false } } },
      options: { reset: { method: 'acpi', initOnly: true } },
      script: [{ cpu: 0, do: 'emergency-restart', at: 0 }],
    },
  },
  {
    id: 'T3-nokvm',
    name: 'sysrq-b-kvm-not-loaded',
    summary: 'SysRq-b on 4 CPUs with KVM not loaded: v6.6 resets with no shootdown, mainline shoots the other CPUs down first',
    raw: {
      name: 'sysrq-b-kvm-not-loaded',
      description:
        'Emergency restart with the KVM module not loaded. From v6.6 to v6.15 emergency_reboot_disable_virtualization() ' +
        'does nothing without the callback KVM registers, so no NMI is sent. The 2026 rework (arch/x86/virt/hw.c, ' +
        '428afac5a8ea) calls x86_virt_emergency_disable_virtualization_cpu(), which succeeds whenever the CPU has a ' +
        'VMX/SVM backend, and then shoots down: "Do the NMI shootdown even if virtualization is off on _this_ CPU".',
      machine: { cpus: 4 },
      options: { kvmLoaded: false },
      script: [{ cpu: 0, do: 'emergency-restart', at: 0 }],
    },
  },
  {
    id: 'T4',
    name: 'amd-crash-between-clgi-and-stgi',
    summary: 'AMD: CPU2 crashes between CLGI and STGI (GIF=0) and reboots at once; INIT-based reset',
    raw: {
      name: 'amd-crash-between-clgi-and-stgi',
      description:
        'docs/model.md §6 T4 / race R8: every CPU has EFER.SVME=1; CPU2 panics inside KVM\'s VMRUN window, after CLGI and ' +
        'before STGI, with panic=-1, so it runs the emergency restart with GIF=0. Before v6.3 the emergency path knows ' +
        'nothing of SVM: GIF stays 0 and INIT stays blocked. (The CPU with GIF=0 must be the initiator: GIF=0 also holds ' +
        'NMIs, so no other CPU\'s shootdown can reach it; see T4-sysrq.)',
      machine: { cpus: 4, vendor: 'amd' },
      initial: { all: { svme: true }, cpus: { '2': { gif: false } } },
      options: { panicTimeout: -1, reset: { method: 'acpi', initOnly: true } },
      script: [{ cpu: 2, do: 'panic', at: 0, message: 'Machine check in VMRUN window' }],
    },
  },
  {
    id: 'T4-sysrq',
    name: 'sysrq-b-amd-gif-clear-elsewhere',
    summary: 'AMD: SysRq-b on CPU0 while CPU2 is stuck with GIF=0: its NMI is held, the shootdown times out',
    raw: {
      name: 'sysrq-b-amd-gif-clear-elsewhere',
      description:
        'T3 on AMD with CPU2 stuck between CLGI and STGI. GIF=0 holds NMI and INIT (docs/model.md §3.2, §3.4), so even ' +
        'from v6.3 the shootdown NMI cannot reach CPU2: the initiator waits 1000 ms and the INIT-based reset hangs on CPU2.',
      machine: { cpus: 4, vendor: 'amd' },
      initial: { all: { svme: true }, cpus: { '2': { gif: false } } },
      options: { reset: { method: 'acpi', initOnly: true } },
      script: [{ cpu: 0, do: 'emergency-restart', at: 0 }],
    },
  },
  raceR2('ii', 'nmi-between-vmxoff-and-cr4-clear', 'between VMXOFF and the write that clears CR4.VMXE', 'emergencyRestart.selfVirt.*.clearVmxe'),
  raceR2('i', 'nmi-before-vmxoff', 'at the start of its virtualization disable, before VMXOFF', 'emergencyRestart.selfVirt'),
  raceR2('iii', 'nmi-after-cr4-clear', 'after it cleared CR4.VMXE, before its own shootdown', 'emergencyRestart.onRestart|emergencyRestart.shoot'),
  {
    id: 'T6',
    name: 'panic-stop-cpu-with-irqs-off',
    summary: 'panic without kdump while CPU3 spins with IRQs off: REBOOT_VECTOR times out, NMI fallback',
    raw: {
      name: 'panic-stop-cpu-with-irqs-off',
      description: 'docs/model.md §6 T6 / race R5: smp_send_stop() from panic(); CPU3 cannot take REBOOT_VECTOR with IF=0.',
      machine: { cpus: 4 },
      script: [
        { cpu: 3, do: 'irqs-off', at: 0 },
        { cpu: 0, do: 'panic', at: 100, message: 'Fatal machine check' },
      ],
    },
  },
  {
    id: 'T7',
    name: 'reboot-f-with-vms',
    summary: '`reboot -f` (reboot(2)) with VMs running: KVM hook, REBOOT_VECTOR stop with wait=1, no emergency virt step',
    raw: {
      name: 'reboot-f-with-vms',
      description: 'docs/model.md §6 T7 / §1.1: the orderly reboot(2) path that `reboot -f` takes.',
      machine: { cpus: 4 },
      initial: VMS_ON_ALL,
      script: [{ cpu: 0, do: 'reboot', at: 0 }],
    },
  },
  ...KVM_SCENARIOS,
  ...VSOCK_SCENARIOS,
];

/**
 * Races for exploration: 2 CPUs by default (`--cpus N` widens them), nothing aimed — the explorer
 * finds the windows.
 */
export const RACE_SCENARIOS: readonly BuiltinScenario[] = [
  {
    id: 'R1',
    name: 'race-double-shootdown',
    summary: 'R1: panic with crash_kexec_post_notifiers, no crash kernel, panic=1: the restart path shoots down a second time',
    raw: {
      name: 'race-double-shootdown',
      description: 'docs/model.md §1.9 R1, for exploration: CPU0 panics at time 0; everything else is the scheduler\'s choice.',
      machine: { cpus: 2 },
      initial: VMS_ON_ALL,
      options: { crashKexecPostNotifiers: true, panicTimeout: 1, kdumpBringsUpAps: false },
      script: [{ cpu: 0, do: 'panic', at: 0, message: 'race R1' }],
    },
  },
  {
    id: 'R2',
    name: 'race-restart-vs-kdump-panic',
    summary: 'R2: task-context emergency restart on CPU0 and a panic with kdump on CPU1, both at time 0, no aiming',
    raw: {
      name: 'race-restart-vs-kdump-panic',
      description:
        'docs/model.md §1.9 R2 and §9, for exploration: CPU0 runs SysRq-b (emergency restart) and CPU1 panics with a ' +
        'crash kernel loaded, both at time 0; every CPU is in VMX root with one loaded VMCS.',
      machine: { cpus: 2 },
      initial: VMS_ON_ALL,
      options: { kdump: true, kdumpBringsUpAps: false },
      script: [
        { cpu: 0, do: 'emergency-restart', at: 0 },
        { cpu: 1, do: 'panic', at: 0, message: 'race R2' },
      ],
    },
  },
  {
    id: 'R2-novmcs',
    name: 'race-restart-vs-kdump-panic-empty-list',
    summary: 'R2 with CPU0 (the restarting CPU) having no loaded VMCS: the E0 VMXOFF oops instead of the VMCLEAR BUG',
    raw: {
      name: 'race-restart-vs-kdump-panic-empty-list',
      description: 'R2 where CPU0\'s loaded_vmcss_on_cpu list is empty (docs/model.md §9 item 4): under v5.10 the VMXOFF #UD has no fixup.',
      machine: { cpus: 2 },
      initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '0': { loadedVmcs: 0 } } },
      options: { kdump: true, kdumpBringsUpAps: false },
      script: [
        { cpu: 0, do: 'emergency-restart', at: 0 },
        { cpu: 1, do: 'panic', at: 0, message: 'race R2' },
      ],
    },
  },
];

export const DEFAULT_SCENARIO = 'T5';

export function findBuiltin(name: string): BuiltinScenario | undefined {
  const lower = name.toLowerCase();
  return [...BUILTIN_SCENARIOS, ...RACE_SCENARIOS].find((s) => s.id.toLowerCase() === lower || s.name === lower);
}
