/**
 * Kernel variants: every modelled upstream change is a named switch (docs/model.md §0.2). A preset is a
 * set of switches; a scenario picks a preset and turns single switches on or off. The machines read
 * the resulting `KernelFeatures` through guards, so the same chart runs every era.
 */

export interface KernelSwitch {
  /** Stable kebab-case name used on the command line and in scenario files. */
  readonly name: SwitchName;
  /** What the kernel does differently with the switch on. */
  readonly summary: string;
  /** The upstream patch subject (and commit, where known). */
  readonly upstream: string;
  /** The era tag of docs/model.md §0.2. */
  readonly era: string;
  /** `false` for a proposal that was posted but never merged: no preset contains it, not even mainline. */
  readonly merged?: false;
}

export const SWITCH_NAMES = [
  'vmxoff-eats-faults',
  'shootdown-if-vmx-supported',
  'register-nmi-handler-refuses-double',
  'shootdown-only-once',
  'core-nmi-handler-disables-virt',
  'emergency-disables-svm',
  'stop-disables-svm',
  'stop-cpus-mask',
  'virt-disable-via-kvm-callback',
  'emergency-callback-sets-kvm-rebooting',
  'skip-vmclear-if-vmxe-clear',
  'emergency-nmi-handler-slot',
  'emergency-virt-in-virt-subsystem',
  'kvm-max-vcpus-1024',
  'kvm-vcpu-id-ratio',
  'tdp-level-at-vcpu-create',
  'nsvm-vmexit-reads-register-cache',
  'nested-triple-fault-to-l1',
  'rsm-failure-triple-faults',
  'rsm-sets-nested-run-pending',
  'nsvm-triple-fault-needs-intercept',
  'triple-fault-event',
  'set-cpuid-after-run-rejected',
  'vmx-entry-fault-is-vmfail',
  'rsm-shutdown-leaves-nested',
  'rsm-clears-nested-run-pending',
  'triple-fault-before-nested-run-exits',
  'unexpected-exit-reason-helper',
  'vhost-access-platform',
  'vsock-backend-features',
  'vsock-seqpacket',
  'vsock-tx-used-len-zero',
  'vsock-release-no-owner-check',
  'kvm-shutdown-syscore',
  'on-each-cpu-local-before-wait',
] as const;

export type SwitchName = (typeof SWITCH_NAMES)[number];

export const SWITCHES: readonly KernelSwitch[] = [
  {
    name: 'vmxoff-eats-faults',
    summary: 'cpu_vmxoff() has an exception fixup: a #UD on VMXOFF is ignored and CR4.VMXE is cleared anyway',
    upstream: 'x86/virt: Eat faults on VMXOFF in reboot flows (aec511ad1535)',
    era: 'E1 v5.12, backported to 5.11.y',
  },
  {
    name: 'shootdown-if-vmx-supported',
    summary: 'emergency restart shoots down the other CPUs whenever CPUID has VMX, not only when this CPU has CR4.VMXE=1',
    upstream: 'x86/reboot: Force all cpus to exit VMX root if VMX is supported (ed72736183c4)',
    era: 'E1 v5.12, backported to 5.10.y and 5.11.y',
  },
  {
    name: 'register-nmi-handler-refuses-double',
    summary: 'registering an nmiaction already on a list WARNs and fails, so a second nmi_shootdown_cpus() returns without sending NMIs',
    upstream: 'x86/nmi: Make register_nmi_handler() more robust (a7fed5c0431d)',
    era: 'E1b v5.19',
  },
  {
    name: 'shootdown-only-once',
    summary: 'nmi_shootdown_cpus() WARNs and returns if crash_ipi_issued is set; the restart path skips its shootdown after an earlier one',
    upstream: 'x86/crash: Disable virt in core NMI crash handler to avoid double shootdown (26044aff37a5)',
    era: 'E2 v6.3',
  },
  {
    name: 'core-nmi-handler-disables-virt',
    summary: 'crash_nmi_callback() disables virtualization itself after the callback; the emergency-restart callback becomes NULL',
    upstream: 'x86/crash: Disable virt in core NMI crash handler to avoid double shootdown (26044aff37a5)',
    era: 'E2 v6.3',
  },
  {
    name: 'emergency-disables-svm',
    summary: 'emergency restart and the crash handler also disable SVM: STGI first (GIF=1), then clear EFER.SVME',
    upstream:
      'x86/reboot: Disable virtualization in an emergency if SVM is supported (d81f952aa657); x86/virt: Force GIF=1 prior to disabling SVM (for reboot flows) (6a3236580b0b)',
    era: 'E2 v6.3',
  },
  {
    name: 'stop-disables-svm',
    summary: 'the REBOOT_VECTOR and stop-NMI handlers disable SVM as well as VMX before stop_this_cpu()',
    upstream: 'x86/reboot: Disable SVM, not just VMX, when stopping CPUs (a2b07fa7b933)',
    era: 'E2 v6.3',
  },
  {
    name: 'stop-cpus-mask',
    summary: 'native_stop_other_cpus() tracks cpus_stop_mask and sends the NMI fallback only to CPUs still in it',
    upstream: 'x86/smp: Make stop_other_cpus() more robust (1f5e7eb7868e)',
    era: 'E2b v6.5',
  },
  {
    name: 'virt-disable-via-kvm-callback',
    summary: 'virtualization is disabled only through the callback KVM registers (VMCLEAR, then VMXOFF / SVM off); no callback means no shootdown on emergency restart',
    upstream: 'x86/reboot: Disable virtualization during reboot iff callback is registered (59765db5fc82)',
    era: 'E3 v6.6',
  },
  {
    name: 'emergency-callback-sets-kvm-rebooting',
    summary: 'the emergency virt-disable callback sets kvm_rebooting=true first, so KVM ignores faults on VMX/SVM instructions from then on',
    upstream: 'KVM: x86: Force kvm_rebooting=true during emergency reboot/crash (6ae44e012f4c)',
    era: 'E3 v6.6',
  },
  {
    name: 'skip-vmclear-if-vmxe-clear',
    summary: 'the VMX emergency callback returns at once when CR4.VMXE=0 (no VMCLEAR walk, no VMXOFF)',
    upstream: 'KVM: VMX: Skip VMCLEAR logic during emergency reboots if CR4.VMXE=0 (a788fbb763b5)',
    era: 'E3 v6.6',
  },
  {
    name: 'kvm-shutdown-syscore',
    summary:
      "KVM's reboot hook (print, kvm_rebooting = true, hardware_disable on every CPU) is the syscore op kvm_shutdown(), run after " +
      'migrate_to_reboot_cpu() on the CPU the reboot runs on, no longer the reboot notifier kvm_reboot() run before it',
    upstream: 'KVM: Use syscore_ops instead of reboot_notifier to hook restart/shutdown (6735150b6997)',
    era: 'v6.4',
  },
  {
    name: 'on-each-cpu-local-before-wait',
    summary:
      'on_each_cpu() is on_each_cpu_cond_mask() → smp_call_function_many_cond(SCF_WAIT | SCF_RUN_LOCAL): it sends the IPIs, runs the ' +
      'function here with IRQs off, then waits for the others; before, smp_call_function() sent the IPIs and waited for every ' +
      'other CPU first, and the function ran here only after that (kernel/smp.c on_each_cpu())',
    upstream:
      'smp: Inline on_each_cpu_cond() and on_each_cpu() (a5aa5ce30059); with smp: Run functions concurrently in ' +
      'smp_call_function_many_cond() (a32a4d8a815c)',
    era: 'v5.13 (tip x86/mm, March 2021, on v5.12-rc2; not in 5.10.y or 5.11.y)',
  },
  {
    name: 'emergency-nmi-handler-slot',
    summary: 'the crash NMI handler goes into an exclusive emergency slot, so a second registration overwrites instead of corrupting a list',
    upstream: 'x86/nmi: Add an emergency handler in nmi_desc & use it in nmi_shootdown_cpus() (fe37c699ae3e)',
    era: 'E5 v6.15',
  },
  {
    name: 'emergency-virt-in-virt-subsystem',
    summary:
      'core x86 (arch/x86/virt/hw.c) owns VMXON/VMXOFF and EFER.SVME: every stop path calls x86_virt_emergency_disable_virtualization_cpu() ' +
      'directly (virt_rebooting=true, then KVM\'s VMCLEAR callback and VMXOFF only if CR4.VMXE / SVME), and emergency restart shoots ' +
      'down whenever a VMX/SVM backend exists, KVM loaded or not; kvm_rebooting is now virt_rebooting',
    upstream:
      'KVM: x86: Move bulk of emergency virtualizaton logic to virt subsystem (428afac5a8ea); with KVM: x86: Move "kvm_rebooting" ' +
      'to kernel as "virt_rebooting" (a1450a8156c6) and KVM: VMX: Move core VMXON enablement to kernel (920da4f75519)',
    era: 'E6 2026 mainline (kvm-x86 "vmxon" series v3, applied March 2026; release UNVERIFIED)',
  },
  // ---- KVM vCPU (docs/model.md §4) ---------------------------------------------------------------------
  {
    name: 'kvm-max-vcpus-1024',
    summary:
      'x86 KVM_MAX_VCPUS is 1024, not 288: kvm_vm_ioctl_create_vcpu() refuses a vCPU with -EINVAL only once kvm->created_vcpus ' +
      'has reached 1024',
    upstream: 'kvm: x86: Increase MAX_VCPUS to 1024 (074c82c8f7cf)',
    era: 'docs/model.md §4.1 v5.15',
  },
  {
    name: 'kvm-vcpu-id-ratio',
    summary:
      'x86 KVM_MAX_VCPU_ID (KVM_MAX_VCPU_IDS from v5.16) is KVM_VCPU_ID_RATIO (4) * KVM_MAX_VCPUS, not 1023: ' +
      'KVM_CREATE_VCPU takes the ids below it (4096 with kvm-max-vcpus-1024, 1152 without), an id of it or more is -EINVAL',
    upstream: 'kvm: x86: Set KVM_MAX_VCPU_ID to 4*KVM_MAX_VCPUS (4ddacd525a2f)',
    era: 'docs/model.md §4.1 v5.15',
  },
  {
    name: 'tdp-level-at-vcpu-create',
    summary: 'kvm_arch_vcpu_create() sets arch.tdp_level right after maxphyaddr, so KVM_RUN before KVM_SET_CPUID2 no longer BUGs in mmu_alloc_direct_roots()',
    upstream: 'KVM: x86: Initialize tdp_level during vCPU creation (fixes e93fd3b3e89e "Capture TDP level when updating CPUID"; 5.8 merge window)',
    era: 'docs/model.md §4.1 v5.8 (the bug never left the 5.8 development window)',
  },
  {
    name: 'nsvm-vmexit-reads-register-cache',
    summary: 'nested_svm_vmexit() copies RAX/RSP/RIP into vmcb12 from the register cache, not from the (stale) VMCB save area',
    upstream: 'KVM: nSVM: Preserve registers modifications done before nested_svm_vmexit() (b6162e82aef1; subject from memory, UNVERIFIED)',
    era: 'docs/model.md §4.5 v5.8',
  },
  {
    name: 'nested-triple-fault-to-l1',
    summary: 'a triple fault requested while in L2 goes through nested_ops->triple_fault (nVMX: TRIPLE_FAULT VM exit to L1; nSVM: SHUTDOWN exit to L1) instead of KVM_EXIT_SHUTDOWN',
    upstream: 'KVM: x86: Handle triple fault in L2 without killing L1 (cb6a32c2b877)',
    era: 'docs/model.md §4.2 v5.12',
  },
  {
    name: 'rsm-failure-triple-faults',
    summary:
      'em_rsm: a failed RSM (pre_leave_smm or rsm_load_state_*) raises the emulator triple fault (KVM_REQ_TRIPLE_FAULT); before, em_rsm ' +
      'returned X86EMUL_UNHANDLEABLE ("FIXME: should triple fault") and handle_emulation_failure() queued #UD: KVM_EXIT_INTERNAL_ERROR ' +
      '(KVM_INTERNAL_ERROR_EMULATION) outside guest mode at CPL 0, back into the guest with the #UD pending in guest mode',
    upstream: 'KVM: x86: Emulate triple fault shutdown if RSM emulation fails (25b17226cd9a)',
    era: 'docs/model.md §4.4 v5.14',
  },
  {
    name: 'nsvm-triple-fault-needs-intercept',
    summary:
      'nested_svm_triple_fault() synthesizes the SHUTDOWN exit to L1 only if vmcb12 intercepts SHUTDOWN, else it leaves the request: ' +
      'KVM_EXIT_SHUTDOWN; before (v5.12-v6.0), it always called nested_svm_simple_vmexit(SVM_EXIT_SHUTDOWN)',
    upstream: 'KVM: x86: allow L1 to not intercept triple fault (92e7d5c83aff)',
    era: 'docs/model.md §4.2 v6.1 (merged for v6.1-rc7)',
  },
  {
    name: 'rsm-sets-nested-run-pending',
    summary: 'vmx_leave_smm()/svm_leave_smm() set nested_run_pending=1 when RSM re-enters L2 (before the SMRAM state is loaded)',
    upstream: 'KVM: x86: nSVM/nVMX: set nested_run_pending on VM entry which is a result of RSM (759cbd59674a)',
    era: 'docs/model.md §4.3 v5.15 (release UNVERIFIED)',
  },
  {
    name: 'triple-fault-event',
    summary: 'KVM_SET_VCPU_EVENTS accepts KVM_VCPUEVENT_VALID_TRIPLE_FAULT (the VMM enabled KVM_CAP_X86_TRIPLE_FAULT_EVENT); before, the flag is unknown: -EINVAL',
    upstream: 'KVM: x86: Extend KVM_{G,S}ET_VCPU_EVENTS to support pending triple fault (commit UNVERIFIED)',
    era: 'docs/model.md §4.2 v6.0',
  },
  {
    name: 'set-cpuid-after-run-rejected',
    summary: 'KVM_SET_CPUID2 after the first KVM_RUN fails with -EINVAL unless the CPUID is unchanged',
    upstream: 'KVM: x86: Forbid KVM_SET_CPUID{,2} after KVM_RUN; KVM: x86: Partially allow KVM_SET_CPUID{,2} after KVM_RUN (commits UNVERIFIED)',
    era: 'docs/model.md §4.1 v5.16-v5.17 (UNVERIFIED)',
  },
  {
    name: 'vmx-entry-fault-is-vmfail',
    summary:
      'Intel: a VMLAUNCH/VMRESUME that faults with kvm_rebooting set is VM-Fail (vmenter.S .Lfixup → .Lvmfail): vmx->fail, ' +
      'KVM_EXIT_FAIL_ENTRY; before, vmx_vmenter\'s fixup `cmpb $0, kvm_rebooting; je 4f; ret` returned with CF=ZF=0, which ' +
      '__vmx_vcpu_run\'s `jbe` reads as a VM-Exit: the VM_EXIT_REASON VMREAD faults to 0 (EXCEPTION_NMI, intr_info 0) and ' +
      'handle_exception_nmi() ends KVM_RUN with KVM_EXIT_EXCEPTION (vector 0)',
    upstream: 'KVM: VMX: Flatten __vmx_vcpu_run() (8bd200d23ec4), retbleed series',
    era: 'docs/model.md §2.3 v5.19 (x86/bugs retbleed merge; backported with retbleed to 5.10.y and 5.15.y stable)',
  },
  {
    name: 'rsm-shutdown-leaves-nested',
    summary: 'if rsm_load_state_*() fails while already back in guest mode, emulator_leave_smm() calls kvm_leave_nested() first: L1 shuts down (KVM_EXIT_SHUTDOWN), no VM exit to L1, no WARN',
    upstream: 'KVM: x86: Forcibly leave nested if RSM to L2 hits shutdown (3f6821aa147b)',
    era: 'docs/model.md §4.4 v6.12 (UNVERIFIED release; Sept 2024)',
  },
  {
    name: 'rsm-clears-nested-run-pending',
    summary: 'RSM is marked NeedVMEnter and the vendor triple_fault handlers clear nested_run_pending first: no WARN, but L1 still sees a TRIPLE_FAULT/SHUTDOWN exit from L2',
    upstream: 'KVM: x86: nSVM/nVMX: Fix handling triple fault on RSM instruction (v2, Michal Wilczynski, Jan 2024; rejected)',
    era: 'docs/model.md §4.4 proposal, never merged',
    merged: false,
  },
  {
    name: 'triple-fault-before-nested-run-exits',
    summary: 'kvm_x86_vcpu_pre_run(): a triple fault pending in L2 while nested_run_pending exits to userspace with KVM_EXIT_SHUTDOWN instead of synthesizing a nested VM exit',
    upstream: 'KVM: x86: Do not inject triple faults into an L2 with a pending run (Yosry Ahmed, Feb 2026; merge UNVERIFIED)',
    era: 'docs/model.md §4.2 2026 mainline',
  },
  {
    name: 'unexpected-exit-reason-helper',
    summary:
      'an exit reason KVM has no handler for (Intel: EXIT_REASON_INIT_SIGNAL from a physical INIT in L1) is reported by ' +
      'kvm_prepare_unexpected_reason_exit() in x86.c: dump_vmcs() first, then "unexpected exit reason 0x3"; before, vmx.c ' +
      'printed "vmx: unexpected exit reason 0x3" and then dumped. KVM_EXIT_INTERNAL_ERROR with suberror ' +
      'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON either way (7396d337cfad, v5.4)',
    upstream: 'KVM: x86: Add a helper to dedup reporting of unhandled VM-Exits (65a70164aba7, applied to kvm-x86 misc in November 2025; the mainline release not checked)',
    era: 'docs/model.md §4.6 2026 mainline (kvm-x86 misc, late 2025; release not checked)',
  },
  // ---- vhost-vsock (docs/model.md §5) -------------------------------------------------------------------
  {
    name: 'vhost-access-platform',
    summary: 'VIRTIO_F_ACCESS_PLATFORM is in VHOST_VSOCK_FEATURES: GET_FEATURES offers it, SET_FEATURES with it creates the device IOTLB; before, the bit is unknown: -EOPNOTSUPP',
    upstream: 'vhost/vsock: add IOTLB API support (e13a6915a03f)',
    era: 'V1 v5.11 (merged after v5.11-rc1)',
  },
  {
    name: 'vsock-backend-features',
    summary: 'vhost_vsock_dev_ioctl handles VHOST_GET/SET_BACKEND_FEATURES (IOTLB_MSG_V2); before, they fall into vhost_dev_ioctl/vhost_vring_ioctl: owner check, the u64 is read as a vring index (>= 2: -ENOBUFS), else -ENOIOCTLCMD = -ENOTTY',
    upstream: 'vhost/vsock: add IOTLB API support (e13a6915a03f)',
    era: 'V1 v5.11 (merged after v5.11-rc1)',
  },
  {
    name: 'vsock-seqpacket',
    summary: 'VIRTIO_VSOCK_F_SEQPACKET (bit 1) is in VHOST_VSOCK_FEATURES and SET_FEATURES sets seqpacket_allow; before, the bit is unknown: -EOPNOTSUPP',
    upstream: 'vhost/vsock: support SEQPACKET for transport (ced7b713711f)',
    era: 'V2 v5.14',
  },
  {
    name: 'vsock-tx-used-len-zero',
    summary: 'vhost_vsock_handle_tx_kick marks a TX descriptor used with length 0 (the device wrote nothing); before, with sizeof(hdr) + pkt->len',
    upstream: 'vhost/vsock: fix incorrect used length reported to the guest (49d8c5ffad07)',
    era: 'V3 v5.16 (Cc stable)',
  },
  {
    name: 'vsock-release-no-owner-check',
    summary: 'vhost_vsock_dev_release stops the device without the owner check; before, a release by a task that is not the owner (another process, or do_exit with current->mm NULL) left both backends set, so the flush that follows still runs the worker on the rings',
    upstream: "vhost/vsock: don't check owner in vhost_vsock_stop() while releasing (a58da53ffd70)",
    era: 'V4 v5.17 (Cc stable: 5.10.103)',
  },
];

/** The KVM changes every modelled release has (both landed in v5.8, before the oldest preset). */
const KVM_V58: SwitchName[] = ['tdp-level-at-vcpu-create', 'nsvm-vmexit-reads-register-cache'];
/** The KVM changes of v5.12–v6.1, in every preset from v6.2 on. */
const KVM_V61: SwitchName[] = [
  'kvm-max-vcpus-1024',
  'kvm-vcpu-id-ratio',
  'nested-triple-fault-to-l1',
  'rsm-failure-triple-faults',
  'rsm-sets-nested-run-pending',
  'triple-fault-event',
  'set-cpuid-after-run-rejected',
  'nsvm-triple-fault-needs-intercept',
  'vmx-entry-fault-is-vmfail',
];

/** vhost-vsock changes of v5.11 (one commit, merged after v5.11-rc1). */
const VSOCK_V511: SwitchName[] = ['vhost-access-platform', 'vsock-backend-features'];
/** vhost-vsock changes of v5.14–v5.17, in every preset from v6.2 on. */
const VSOCK_V517: SwitchName[] = ['vsock-seqpacket', 'vsock-tx-used-len-zero', 'vsock-release-no-owner-check'];

const E1: SwitchName[] = ['vmxoff-eats-faults', 'shootdown-if-vmx-supported', ...KVM_V58, ...VSOCK_V511];
const E2: SwitchName[] = [
  ...E1,
  ...KVM_V61,
  'on-each-cpu-local-before-wait',
  ...VSOCK_V517,
  'register-nmi-handler-refuses-double',
  'shootdown-only-once',
  'core-nmi-handler-disables-virt',
  'emergency-disables-svm',
  'stop-disables-svm',
];
const E3: SwitchName[] = [
  ...E2,
  'stop-cpus-mask',
  'virt-disable-via-kvm-callback',
  'emergency-callback-sets-kvm-rebooting',
  'skip-vmclear-if-vmxe-clear',
  'kvm-shutdown-syscore',
];

export interface KernelPreset {
  readonly name: string;
  readonly summary: string;
  readonly switches: readonly SwitchName[];
}

export const PRESETS: readonly KernelPreset[] = [
  { name: 'v5.10', summary: 'E0: before the December 2020 reboot fixes', switches: KVM_V58 },
  { name: 'v5.11', summary: 'E1: VMXOFF eats faults; shootdown whenever VMX is supported (upstream v5.12, in 5.11.y)', switches: E1 },
  { name: 'v6.2', summary: 'E1b + E2: double shootdown fixed, SVM disabled in emergencies (upstream v6.3)', switches: E2 },
  { name: 'v6.6', summary: 'E2b + E3: stop mask, virt disable through the KVM callback', switches: E3 },
  { name: 'mainline', summary: 'every merged modelled change', switches: SWITCH_NAMES.filter((n) => SWITCHES.find((s) => s.name === n)?.merged !== false) },
];

export const DEFAULT_PRESET = 'mainline';

/** The switch set a scenario runs with: a name maps to true when the fix is applied. */
export type KernelFeatures = Readonly<Record<SwitchName, boolean>>;

export function isSwitchName(name: string): name is SwitchName {
  return (SWITCH_NAMES as readonly string[]).includes(name);
}

export function findPreset(name: string): KernelPreset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** Resolve a preset plus explicit switches; unknown names are the validator's job and throw here. */
export function resolveFeatures(preset: string, fix: readonly string[], noFix: readonly string[]): KernelFeatures {
  const base = findPreset(preset);
  if (!base) throw new Error(`unknown kernel preset '${preset}'`);
  const on = new Set<string>(base.switches);
  for (const name of fix) on.add(name);
  for (const name of noFix) on.delete(name);
  const features = {} as Record<SwitchName, boolean>;
  for (const name of SWITCH_NAMES) features[name] = on.has(name);
  for (const name of [...fix, ...noFix]) if (!isSwitchName(name)) throw new Error(`unknown kernel switch '${name}'`);
  return features;
}
