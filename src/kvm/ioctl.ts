/**
 * What each vCPU ioctl does outside KVM_RUN (virt/kvm/kvm_main.c kvm_vcpu_ioctl, arch/x86/kvm/x86.c
 * kvm_arch_vcpu_ioctl): a pure function from the context and the call to the new context and the
 * return value. An error never changes the context.
 */
import type { KvmIoctlArg, KvmIoctlName, KvmIoctlReturn } from './uapi.js';
import { ioctlError, ioctlOk } from './uapi.js';
import type { VcpuContext, VcpuInput } from './types.js';
import { L1_BASE, L2_BASE } from './types.js';
import type { KernelFeatures } from '../kernel/variants.js';

/** KVM_VCPU_ID_RATIO (arch/x86/include/asm/kvm_host.h, from v5.15): vCPU ids are APIC ids, sparser than the vCPUs. */
export const KVM_VCPU_ID_RATIO = 4;

/**
 * x86 KVM_MAX_VCPUS (arch/x86/include/asm/kvm_host.h): 288 until "kvm: x86: Increase MAX_VCPUS to
 * 1024" (074c82c8f7cf, v5.15). From v6.8 "KVM: x86: Add CONFIG_KVM_MAX_NR_VCPUS to allow up to 4096
 * vCPUs" (f10a570b093e) makes it CONFIG_KVM_MAX_NR_VCPUS, 1024 by default and 4096 with MAXSMP: the
 * model's host kernel has the default. kvm_create_vm() copies it to kvm->max_vcpus, which x86 never
 * changes.
 */
export function kvmMaxVcpus(features: KernelFeatures): number {
  return features['kvm-max-vcpus-1024'] ? 1024 : 288;
}

/**
 * x86 KVM_MAX_VCPU_ID, renamed KVM_MAX_VCPU_IDS by "kvm: rename KVM_MAX_VCPU_ID to KVM_MAX_VCPU_IDS"
 * (a1c42ddedf35, v5.16; the value is a count of ids, not the largest one): 1023 until "kvm: x86: Set
 * KVM_MAX_VCPU_ID to 4*KVM_MAX_VCPUS" (4ddacd525a2f, v5.15), then KVM_VCPU_ID_RATIO * KVM_MAX_VCPUS.
 */
export function kvmMaxVcpuIds(features: KernelFeatures): number {
  return features['kvm-vcpu-id-ratio'] ? KVM_VCPU_ID_RATIO * kvmMaxVcpus(features) : 1023;
}

/** The largest KVM_MAX_VCPU_IDS of any modelled kernel (both switches on): an id of it or more is -EINVAL in every one. */
export const LARGEST_KVM_MAX_VCPU_IDS = KVM_VCPU_ID_RATIO * 1024;
/** KVM_NR_INTERRUPTS. */
export const KVM_NR_INTERRUPTS = 256;
/** cpuid_query_maxphyaddr(): no leaf 0x80000008 in the guest CPUID ⇒ 36. */
export const DEFAULT_MAXPHYADDR = 36;

export const EFER = { SCE: 1 << 0, LME: 1 << 8, LMA: 1 << 10, NX: 1 << 11, SVME: 1 << 12, LMSLE: 1 << 13, FFXSR: 1 << 14 } as const;

/** The vCPU fd a successful KVM_CREATE_VCPU returns (fd numbers are not modelled). */
export function vcpuFd(vcpuId: number): number {
  return 10 + vcpuId;
}

/**
 * kvm_mmu_get_tdp_level(): the host's maximum TDP level (5 where EPT/NPT 5-level paging exists)
 * unless the guest's MAXPHYADDR fits 4 levels. The model's host has 5-level TDP.
 */
export function tdpLevelFor(maxphyaddr: number): number {
  return maxphyaddr > 48 ? 5 : 4;
}

/**
 * kvm_valid_efer()/__kvm_valid_efer(): a bit in efer_reserved_bits is rejected. KVM starts from
 * SCE|LME|LMA and adds NX (both vendors) and SVME (svm_hardware_setup with nested=1). LMSLE (bit 13)
 * is reserved on Intel; on AMD svm_hardware_setup enabled it with nested=1 until the 2025 change that
 * enables it only without X86_FEATURE_EFER_LMSLE_MBZ — the model's AMD host is a Zen3+ part with
 * LMSLE_MBZ, so LMSLE is reserved on both vendors here.
 */
export function kvmValidEfer(vendor: VcpuContext['vendor'], efer: number): boolean {
  const allowed = EFER.SCE | EFER.LME | EFER.LMA | EFER.NX | (vendor === 'amd' ? EFER.SVME : 0);
  // efer_reserved_bits is a u64: a bit from 32 up is reserved too. JavaScript's `&` keeps only the
  // low 32 bits of its operands, so those bits are tested apart (an EFER here is at most 2^53 − 1).
  if (efer >= 2 ** 32) return false;
  return ((efer & ~allowed) >>> 0) === 0;
}

/** EFER without LMA, all 64 bits kept (rsm_load_state_64 writes `smstate->efer & ~EFER_LMA`; `&` would drop bits 32 and up). */
export function eferWithoutLma(efer: number): number {
  return (efer & EFER.LMA) !== 0 ? efer - EFER.LMA : efer;
}

/**
 * kvm_is_valid_sregs() (kvm_valid_sregs before 5.13) with CR0.PG=1 and CR4.PAE=1 assumed: LME
 * needs LMA, and LMA without LME is rejected. __set_sregs() then stores EFER through
 * kvm_x86_ops.set_efer() without kvm_valid_efer() — how syzkaller got LMSLE into SMRAM.
 *
 * Not modelled yet (docs/model.md §11): "KVM: x86: Check EFER validity on KVM_SET_SREGS*"
 * (184bd464bdb6, Yosry Ahmed, kvm for-linus August 2026, Cc: stable) adds kvm_valid_efer() to
 * kvm_is_valid_sregs(): reserved bits (efer_reserved_bits) and, through __kvm_valid_efer(), bits the
 * guest's CPUID does not allow (LME/LMA without LM, NX, SVME without SVM, FFXSR, AUTOIBRS) are
 * -EINVAL. Before it no kernel checked them here; it needs a kernel switch of its own.
 */
export function validSregsEfer(efer: number): boolean {
  return (efer & EFER.LME) !== 0 === ((efer & EFER.LMA) !== 0);
}

/** The initial context: no vCPU fd yet (the struct is zeroed by kvm_arch_vcpu_create). */
export function initialVcpuContext(input: VcpuInput): VcpuContext {
  return {
    id: input.id,
    vm: input.vm,
    vcpuId: input.vcpuId,
    pcpu: input.pcpu,
    vendor: input.vendor,
    features: input.features,
    program: input.program,
    vmcs: input.vmcs,
    created: false,
    maxphyaddr: 0,
    tdpLevel: 0,
    ranOnce: false,
    mmuLoaded: false,
    efer: EFER.SCE | EFER.LME | EFER.LMA | EFER.NX | (input.vendor === 'amd' ? EFER.SVME : 0),
    requests: { tripleFault: false, smi: false },
    smiPending: false,
    pendingIrq: null,
    moreIrqs: [],
    injected: [],
    guestMode: 'l1',
    inSmm: false,
    nestedRunPending: false,
    nestedVmxon: input.vendor === 'intel',
    smm: { guestMode: false, vmxon: false },
    smram: null,
    rip: L1_BASE,
    vmcbRip: L1_BASE,
    l1Rip: L1_BASE,
    vmcs12Rip: L2_BASE,
    launched: { l1: false, l2: false },
    lastNestedExit: null,
    completion: null,
    mmioDevice: null,
    guestExit: null,
    immediateExit: false,
    guestStuck: false,
    udPending: false,
    rsmTripleFault: false,
    host: null,
    warned: [],
    exitReason: null,
    thread: 'alive',
    emulation: null,
    livelock: null,
  };
}

export type IoctlOutcome = { ret: KvmIoctlReturn; set: Partial<VcpuContext> };

function has<K extends string>(arg: KvmIoctlArg, key: K): arg is KvmIoctlArg & Record<K, unknown> {
  return typeof arg === 'object' && arg !== null && key in arg;
}

/**
 * One ioctl other than a successful KVM_RUN (which the chart runs step by step). For KVM_RUN this
 * returns only its errors; `ok` means "enter the run loop".
 *
 * `createdVcpus`: for KVM_CREATE_VCPU, kvm->created_vcpus of the vCPU's VM when the call comes in
 * (its vCPUs created so far: the model creates a vCPU in one step and never destroys one). Left out
 * when the VM has fewer vCPUs than KVM_MAX_VCPUS, where the count cannot reach the limit.
 */
export function vcpuIoctl(c: VcpuContext, name: KvmIoctlName, arg: KvmIoctlArg, createdVcpus?: number): IoctlOutcome {
  const none = {};
  if (name === 'KVM_CREATE_VCPU') {
    // kvm_vm_ioctl_create_vcpu(), checks in this order: id >= KVM_MAX_VCPU_ID(S) → -EINVAL (before
    // taking kvm->lock); kvm->created_vcpus == KVM_MAX_VCPUS (>= kvm->max_vcpus from v5.15) → -EINVAL;
    // from v6.0 kvm_arch_vcpu_precreate(): id >= kvm->arch.max_vcpu_ids → -EINVAL, the same limit
    // unless the VMM set KVM_CAP_MAX_VCPU_ID (35875316384b; not modelled: no VM ioctls); only after
    // the vCPU is allocated, an id kvm_get_vcpu_by_id() finds → -EEXIST. So -EINVAL wins.
    const id = has(arg, 'id') && typeof arg.id === 'number' ? arg.id : -1;
    if (id < 0 || id >= kvmMaxVcpuIds(c.features)) return { ret: ioctlError('EINVAL'), set: none };
    if (createdVcpus !== undefined && createdVcpus >= kvmMaxVcpus(c.features)) return { ret: ioctlError('EINVAL'), set: none };
    if (c.created && id === c.vcpuId) return { ret: ioctlError('EEXIST'), set: none };
    // The actor models the one vCPU the scenario names; another id is a different vCPU (a scenario error).
    if (id !== c.vcpuId || c.created) return { ret: ioctlError('EINVAL'), set: none };
    // kvm_arch_vcpu_create(): maxphyaddr from the (empty) CPUID; the fix also sets tdp_level here.
    const maxphyaddr = DEFAULT_MAXPHYADDR;
    const tdpLevel = c.features['tdp-level-at-vcpu-create'] ? tdpLevelFor(maxphyaddr) : 0;
    return { ret: ioctlOk(vcpuFd(id)), set: { created: true, maxphyaddr, tdpLevel } };
  }
  // Every other call is made on the vCPU fd, which does not exist before KVM_CREATE_VCPU returned it:
  // fdget() in the ioctl syscall fails first, so the kernel answers -EBADF before any KVM code runs.
  if (!c.created) return { ret: ioctlError('EBADF'), set: none };
  switch (name) {
    case 'KVM_SET_CPUID2': {
      const maxphyaddr = has(arg, 'maxphyaddr') && typeof arg.maxphyaddr === 'number' ? arg.maxphyaddr : DEFAULT_MAXPHYADDR;
      // kvm_set_cpuid(): after the first KVM_RUN only an identical CPUID is accepted (v5.16+).
      if (c.features['set-cpuid-after-run-rejected'] && c.ranOnce && maxphyaddr !== c.maxphyaddr) {
        return { ret: ioctlError('EINVAL'), set: none };
      }
      // kvm_update_cpuid(): "maxphyaddr must be updated before tdp_level".
      return { ret: ioctlOk(), set: { maxphyaddr, tdpLevel: tdpLevelFor(maxphyaddr), mmuLoaded: false } };
    }
    case 'KVM_SET_SREGS': {
      const efer = has(arg, 'efer') && typeof arg.efer === 'number' ? arg.efer : c.efer;
      if (!validSregsEfer(efer)) return { ret: ioctlError('EINVAL'), set: none };
      return { ret: ioctlOk(), set: { efer } };
    }
    case 'KVM_SET_VCPU_EVENTS': {
      // kvm_vcpu_ioctl_x86_set_vcpu_events(): KVM_VCPUEVENT_VALID_TRIPLE_FAULT is an unknown flag
      // before v6.0, and needs KVM_CAP_X86_TRIPLE_FAULT_EVENT after (assumed enabled by the VMM).
      if (!c.features['triple-fault-event']) return { ret: ioctlError('EINVAL'), set: none };
      const pending = has(arg, 'tripleFault') ? arg.tripleFault === true : false;
      return { ret: ioctlOk(), set: { requests: { ...c.requests, tripleFault: pending } } };
    }
    case 'KVM_INTERRUPT': {
      // kvm_vcpu_ioctl_interrupt(): irq >= KVM_NR_INTERRUPTS → -EINVAL; without an in-kernel irqchip
      // kvm_queue_interrupt() + KVM_REQ_EVENT.
      const vector = has(arg, 'vector') && typeof arg.vector === 'number' ? arg.vector : -1;
      if (vector < 0 || vector >= KVM_NR_INTERRUPTS) return { ret: ioctlError('EINVAL'), set: none };
      return { ret: ioctlOk(), set: { pendingIrq: vector } };
    }
    case 'KVM_SET_REGS': {
      // kvm_arch_vcpu_ioctl_set_regs(): the register cache takes the new RIP (QEMU's CPU reset
      // writes the reset vector; the model's guest code restarts at L1's first instruction).
      // A pending userspace completion is dropped with the old instruction.
      const rip = has(arg, 'rip') && typeof arg.rip === 'number' ? arg.rip : c.rip;
      const set: Partial<VcpuContext> = { rip, vmcbRip: rip, completion: null, mmioDevice: null, guestStuck: false, emulation: null };
      // QEMU's kvm_arch_reset_vcpu + the event/MP-state puts of a reset: nothing stays pending.
      if (has(arg, 'reset') && arg.reset === true) return { ret: ioctlOk(), set: { ...set, pendingIrq: null, moreIrqs: [], requests: { tripleFault: false, smi: false }, smiPending: false, udPending: false } };
      return { ret: ioctlOk(), set };
    }
    case 'KVM_SMI':
      // kvm_vcpu_ioctl_smi(): kvm_make_request(KVM_REQ_SMI).
      return { ret: ioctlOk(), set: { requests: { ...c.requests, smi: true } } };
    case 'KVM_RUN':
      return { ret: ioctlOk(), set: none };
  }
}
