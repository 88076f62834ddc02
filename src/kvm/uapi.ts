/**
 * The KVM user API this model speaks (include/uapi/linux/kvm.h): exit reasons, the vCPU ioctls the
 * VMM issues, their numbers derived with `_IOC` from the argument struct sizes on x86-64, and the
 * errno values they return. The numbers are computed, not typed in, so a wrong size or direction
 * shows up as a different number in the test against the well-known values.
 */

export const KVMIO = 0xae;

/** `KVM_EXIT_*` (docs/model.md §4.0). */
export const KVM_EXIT = { EXCEPTION: 1, IO: 2, HLT: 5, MMIO: 6, SHUTDOWN: 8, FAIL_ENTRY: 9, INTR: 10, INTERNAL_ERROR: 17, SYSTEM_EVENT: 24 } as const;
export type KvmExitName = keyof typeof KVM_EXIT;

export type KvmIoctlName =
  | 'KVM_CREATE_VCPU'
  | 'KVM_SET_CPUID2'
  | 'KVM_RUN'
  | 'KVM_SMI'
  | 'KVM_SET_SREGS'
  | 'KVM_SET_VCPU_EVENTS'
  | 'KVM_INTERRUPT'
  | 'KVM_SET_REGS';

export type KvmIoctlArg =
  | { id: number }
  | { maxphyaddr: number }
  | { efer: number }
  | { tripleFault: boolean }
  | { vector: number }
  /** `reset`: the VMM's CPU reset, which also clears pending events (KVM_SET_VCPU_EVENTS, KVM_SET_MP_STATE). */
  | { rip: number; reset?: boolean }
  | Record<string, never>;

export type KvmIoctlReturn = { ok: true; value: number } | { ok: false; errno: string; value: number };

const IOC_NONE = 0;
const IOC_WRITE = 1;

/** `_IOC(dir, type, nr, size)` of include/uapi/asm-generic/ioctl.h. */
function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}

/** struct kvm_cpuid2 { __u32 nent; __u32 padding; struct kvm_cpuid_entry2 entries[]; } */
const KVM_CPUID2 = 8;
/** struct kvm_sregs: 8 × kvm_segment (24) + 2 × kvm_dtable (16) + cr0 cr2 cr3 cr4 cr8 efer apic_base (7 × 8) + interrupt_bitmap[4] (32). */
const KVM_SREGS = 8 * 24 + 2 * 16 + 7 * 8 + 4 * 8;
/** struct kvm_vcpu_events: exception (8), interrupt (4), nmi (4), sipi_vector, flags, smi (4), triple_fault (1) + reserved[26], exception_has_payload, exception_payload. */
const KVM_VCPU_EVENTS = 64;
/** struct kvm_regs: 16 general registers, rip, rflags, all __u64. */
const KVM_REGS = 18 * 8;
/** struct kvm_interrupt { __u32 irq; } */
const KVM_INTERRUPT_ARG = 4;

export const KVM_IOCTLS: Readonly<Record<KvmIoctlName, number>> = {
  KVM_CREATE_VCPU: ioc(IOC_NONE, 0x41, 0), // _IO(KVMIO, 0x41), issued on the VM fd
  KVM_RUN: ioc(IOC_NONE, 0x80, 0), // _IO(KVMIO, 0x80)
  KVM_SET_REGS: ioc(IOC_WRITE, 0x82, KVM_REGS), // _IOW(KVMIO, 0x82, struct kvm_regs)
  KVM_SET_SREGS: ioc(IOC_WRITE, 0x84, KVM_SREGS), // _IOW(KVMIO, 0x84, struct kvm_sregs)
  KVM_INTERRUPT: ioc(IOC_WRITE, 0x86, KVM_INTERRUPT_ARG), // _IOW(KVMIO, 0x86, struct kvm_interrupt)
  KVM_SET_CPUID2: ioc(IOC_WRITE, 0x90, KVM_CPUID2), // _IOW(KVMIO, 0x90, struct kvm_cpuid2)
  KVM_SET_VCPU_EVENTS: ioc(IOC_WRITE, 0xa0, KVM_VCPU_EVENTS), // _IOW(KVMIO, 0xa0, struct kvm_vcpu_events)
  KVM_SMI: ioc(IOC_NONE, 0xb7, 0), // _IO(KVMIO, 0xb7)
};

/** x86-64 errno values (include/uapi/asm-generic/errno-base.h). */
export const KVM_ERRNO = { ENXIO: 6, EBADF: 9, EBUSY: 16, EEXIST: 17, EINVAL: 22 } as const;
export type KvmErrno = keyof typeof KVM_ERRNO;

export function ioctlError(errno: KvmErrno): KvmIoctlReturn {
  return { ok: false, errno, value: -KVM_ERRNO[errno] };
}

export function ioctlOk(value = 0): KvmIoctlReturn {
  return { ok: true, value };
}

/** The argument fields that hold a register value: shown in hex, the way a VMM and a scenario write them. */
const REGISTER_FIELDS: ReadonlySet<string> = new Set(['efer', 'rip']);

/**
 * An ioctl's argument as the trace and the outcome show it: register values as hex strings
 * (`{ efer: '0x2501' }`, not 9473), everything else as it is.
 */
export function shownKvmArg(arg: KvmIoctlArg | undefined): unknown {
  if (typeof arg !== 'object' || arg === null) return arg;
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(arg)) {
    shown[key] = REGISTER_FIELDS.has(key) && typeof value === 'number' ? `0x${value.toString(16)}` : value;
  }
  return shown;
}
