/**
 * The vCPU actor's input, context and guest program (docs/model.md §4.0). The chart in
 * machines/vcpu.machine.ts re-exports these; the rules in this folder are pure functions of them.
 */
import type { KernelFeatures } from '../kernel/variants.js';
import type { KvmExitName } from './uapi.js';

export type Vendor = 'intel' | 'amd';

export interface GuestProgram {
  /** L1's code; instruction i is at RIP 0x1000 + i. */
  l1: GuestInsn[];
  /** L2's code; instruction i at RIP 0x2000 + i (entered by L1's vmlaunch/vmrun). */
  l2: GuestInsn[];
  /** The SMI handler; instruction i at SMBASE + 0x8000 + i (SMBASE 0x30000), normally [{op:'rsm'}]. */
  smm: GuestInsn[];
  /** vmcs12/vmcb12 exit on external interrupt (pin-based ext-int exiting / INTERCEPT_INTR). */
  l1InterceptsIrq: boolean;
  /** AMD: vmcb12 intercepts SHUTDOWN (VMX always reflects a triple fault). */
  l1InterceptsShutdown: boolean;
  /** vmcs12 exception bitmap / vmcb12 exception intercepts have #UD (KVM as L1 always sets it). */
  l1InterceptsUd: boolean;
}

export type GuestInsn =
  | { op: 'vmlaunch' }
  | { op: 'vmresume' }
  | { op: 'vmrun' }
  | { op: 'mmio' }
  | { op: 'io' }
  | { op: 'hlt' }
  | { op: 'rsm' }
  | { op: 'triple-fault' }
  | { op: 'spin' }
  | { op: 'nop' }
  /** The virtio-vsock driver's probe ends with DRIVER_OK written to the device: an MMIO exit to the VMM. */
  | { op: 'vsock-ready' }
  /** A packet into the TX ring and a notify write: KVM signals the ioeventfd in the kernel and re-enters (not stepped). */
  | { op: 'vsock-send' }
  | { op: 'jmp'; to: number };

export const L1_BASE = 0x1000;
export const L2_BASE = 0x2000;
export const SMBASE = 0x30000;
/** SMM entry: RIP = 0x8000 with CS.base = SMBASE (SDM 34.5.1); the model uses the linear address. */
export const SMM_ENTRY = SMBASE + 0x8000;

export interface VcpuInput {
  id: number;
  vm: number;
  vcpuId: number;
  pcpu: number;
  vendor: Vendor;
  features: KernelFeatures;
  program: GuestProgram;
  /** Physical addresses of vmcs01 / vmcs02 (Intel) or vmcb01 / vmcb02 (AMD). */
  vmcs: { l1: number; l2: number };
}

export type HostInsn =
  | { insn: 'VMPTRLD'; vmcs: number }
  | { insn: 'VMLAUNCH' }
  | { insn: 'VMRESUME' }
  | { insn: 'VMRUN'; vmcb: number }
  | { insn: 'vmexit'; why: string };

export type HostInsnResult = 'ok' | '#UD' | '#GP' | 'VMfailInvalid' | `VMfailValid(${number})`;

/**
 * A host event that took the physical CPU out of the guest: an NMI, an external interrupt, (AMD
 * only: KVM's INTERCEPT_SMI) an SMI, which the host then takes at KVM's STGI, or (Intel only) an INIT:
 * the VM exit with basic reason 3, EXIT_REASON_INIT_SIGNAL, which KVM has no handler for
 * (docs/model.md §4.6).
 */
export type HostExitReason = 'nmi' | 'intr' | 'smi' | 'init';

/** Why the guest left guest mode, as KVM's exit handler sees it. */
export type GuestExit =
  | { kind: 'insn'; op: GuestInsn['op'] }
  | { kind: 'host'; reason: HostExitReason };

/** The state-save area KVM writes on SMM entry (enter_smm_save_state_64), before the vendor hook. */
export interface Smram {
  rip: number;
  efer: number;
  /** svm/vmx smram "guest mode" flag: the SMI arrived while L2 ran. */
  guestMode: boolean;
}

/** The input, as given, then what KVM keeps per vCPU. */
export interface VcpuContext extends VcpuInput {

  /** The vCPU fd exists (KVM_CREATE_VCPU succeeded). */
  created: boolean;
  /** vcpu->arch.maxphyaddr (cpuid_query_maxphyaddr: 36 without leaf 0x80000008). */
  maxphyaddr: number;
  /** vcpu->arch.tdp_level; 0 = never computed (the docs/model.md §4.1 bug). */
  tdpLevel: number;
  /** KVM_RUN has been issued once (vcpu->arch.last_vmentry_cpu != -1 in later kernels). */
  ranOnce: boolean;
  /** The MMU root is loaded (root_hpa valid): kvm_mmu_reload() has nothing to do. */
  mmuLoaded: boolean;
  efer: number;
  /** KVM_REQ_* bits the model uses. */
  requests: { tripleFault: boolean; smi: boolean };
  /** vcpu->arch.smi_pending (set by process_smi). */
  smiPending: boolean;
  /** An interrupt queued by KVM_INTERRUPT (userspace irqchip), not yet delivered. */
  pendingIrq: number | null;
  /** Further interrupts raised while one was pending (kvm_set_irq), injected one after another. */
  moreIrqs: number[];
  /** Interrupt vectors injected into the guest, in order, with the level that got them. */
  injected: { vector: number; into: 'l1' | 'l2' }[];

  guestMode: 'l1' | 'l2';
  inSmm: boolean;
  nestedRunPending: boolean;
  /** nested.vmxon (VMX) / "L1 has EFER.SVME and a vmcb12" (SVM): L1 is a hypervisor. */
  nestedVmxon: boolean;
  /** vmx->nested.smm / svm SMRAM flags: the SMI came from L2, and vmxon to restore on RSM. */
  smm: { guestMode: boolean; vmxon: boolean };
  smram: Smram | null;
  /** KVM's register cache RIP: the architectural RIP of the current mode. */
  rip: number;
  /** AMD: RIP in the save area of the current VMCB; written from the cache at VMRUN, read back at #VMEXIT. */
  vmcbRip: number;
  /** Where L1 continues after a nested VM exit: the instruction after its last vmlaunch/vmresume/vmrun. */
  l1Rip: number;
  /** vmcs12 / vmcb12 guest RIP: where L2 continues on the next nested entry. */
  vmcs12Rip: number;
  /** Launch state of vmcs01 / vmcs02 (Intel): VMLAUNCH first, VMRESUME after. */
  launched: { l1: boolean; l2: boolean };
  /** The last nested VM exit KVM synthesized for L1 (reason as the tracepoint prints it). */
  lastNestedExit: string | null;

  /** arch.complete_userspace_io: an MMIO/PIO exit whose instruction completes on the next KVM_RUN. */
  completion: 'mmio' | 'io' | null;
  /** The device of the last MMIO exit to userspace, when the VMM must know it (the vsock status register). */
  mmioDevice: 'vsock' | null;
  /** The exit KVM is handling. */
  guestExit: GuestExit | null;
  /** req_immediate_exit: an event was blocked (-EBUSY) and must be taken right after the entry. */
  immediateExit: boolean;
  /** The guest took an exception it has no handler for in this model (#UD): it spins. */
  guestStuck: boolean;
  /** vcpu->arch.exception.pending with UD_VECTOR: queued by handle_emulation_failure(), not yet delivered. */
  udPending: boolean;
  /** The emulator's last triple fault came from a failed RSM (the v2 proposal's NeedVMEnter flag). */
  rsmTripleFault: boolean;

  /** The last host VMX/SVM instruction this thread executed, its result, and kvm_rebooting then. */
  host: { insn: HostInsn['insn']; result: HostInsnResult; rebooting: boolean } | null;
  /** WARN_ON_ONCE sites already reported. */
  warned: string[];

  exitReason: KvmExitName | null;
  thread: 'alive' | 'dead';
  /** Consecutive emulations at one L2 RIP. */
  emulation: { rip: number; repeats: number } | null;
  livelock: { rip: number; repeats: number } | null;
}
