/**
 * The architectural state of one x86 logical processor that the reboot, panic and kdump flows
 * depend on (docs/model.md §0.1). A plain JSON value: it lives in the physical CPU actor's context and
 * is read and updated only through the pure rules of `src/hw/`.
 */

export type Vendor = 'intel' | 'amd';

/** Where the processor is executing. The context stack in the actor has 'task' at the bottom. */
export type ExecContext = 'task' | 'irq' | 'nmi' | 'smm' | 'guest';

export type Activity = 'running' | 'hlt' | 'shutdown' | 'wait-for-sipi';

/** VMX operation: off, VMX root (post-VMXON, host), VMX non-root (guest). */
export type VmxOperation = 'off' | 'root' | 'nonroot';

/** Launch state of a VMCS region (SDM Vol. 3C 25.1: "clear" after VMCLEAR, "launched" after VMLAUNCH). */
export type LaunchState = 'clear' | 'launched';

/**
 * Processor mode bits that the VMX instruction checks look at. The kernel always runs with
 * CR0.PE=1, RFLAGS.VM=0, in 64-bit mode at CPL 0; the fields exist so that the SDM tables can be
 * tested row by row.
 */
export interface CpuMode {
  cr0Pe: boolean;
  /** RFLAGS.VM: virtual-8086 mode. */
  v86: boolean;
  /** IA32_EFER.LMA=1 with CS.L=0: compatibility mode. */
  compat: boolean;
  cpl: 0 | 1 | 2 | 3;
  /** IA32_FEATURE_CONTROL locked with "VMX outside SMX" enabled (BIOS did its job). */
  featureControlOk: boolean;
}

export interface CpuHw {
  vendor: Vendor;
  mode: CpuMode;
  /** RFLAGS.IF: maskable interrupts enabled. */
  if: boolean;
  /** NMIs blocked from NMI delivery until the next IRET (SDM 6.7.1). */
  nmiBlocked: boolean;
  /** NMIs waiting while blocked: at most one (SDM; Linux: "Only one NMI can be latched at a time"). */
  nmiLatched: 0 | 1;
  inSmm: boolean;
  /** NMIs were blocked when the SMI was taken, so they stay blocked after RSM (SDM 34.8). */
  nmiBlockedBeforeSmm: boolean;
  /** RFLAGS.IF when the SMI was taken: saved in SMRAM, restored by RSM (SDM Vol. 3C "SMRAM State Save Map"). */
  ifBeforeSmm: boolean;
  smiLatched: 0 | 1;
  activity: Activity;
  vmx: VmxOperation;
  cr4Vmxe: boolean;
  /** Physical address given to VMXON, while in VMX operation. */
  vmxonPtr: number | null;
  /** Current-VMCS pointer; null is the invalid pointer FFFFFFFF_FFFFFFFFh. */
  currentVmcs: number | null;
  /** Launch state of every VMCS region this processor has touched, keyed by physical address. */
  vmcsLaunch: Record<string, LaunchState>;
  /** AMD: EFER.SVME. */
  svme: boolean;
  /** AMD: global interrupt flag. */
  gif: boolean;
  /** AMD: MSR VM_HSAVE_PA. */
  vmHsavePa: number;
  /** AMD: executing a guest after VMRUN, until the next #VMEXIT (Intel says this with `vmx: 'nonroot'`). */
  svmGuest: boolean;
  /** Local APIC software enable (SVR bit 8). */
  lapicEnabled: boolean;
  /** INIT received while blocked (VMX root, SMM, GIF=0, shutdown in an NMI handler): held pending. */
  initPending: boolean;
  /** Fixed-vector interrupts waiting in the IRR because IF=0, lowest first. */
  irr: number[];
}

/** Physical address conventions of the model: VMCS regions are 4 KiB aligned and distinct per CPU. */
export const VMXON_REGION_BASE = 0x1000_0000;
export const VMCS_REGION_BASE = 0x2000_0000;

export function defaultCpuMode(): CpuMode {
  return { cr0Pe: true, v86: false, compat: false, cpl: 0, featureControlOk: true };
}

/** A processor as the kernel leaves it after boot: interrupts on, no virtualization. */
export function initialCpuHw(vendor: Vendor): CpuHw {
  return {
    vendor,
    mode: defaultCpuMode(),
    if: true,
    nmiBlocked: false,
    nmiLatched: 0,
    inSmm: false,
    nmiBlockedBeforeSmm: false,
    ifBeforeSmm: false,
    smiLatched: 0,
    activity: 'running',
    vmx: 'off',
    cr4Vmxe: false,
    vmxonPtr: null,
    currentVmcs: null,
    vmcsLaunch: {},
    svme: false,
    gif: true,
    vmHsavePa: 0,
    svmGuest: false,
    lapicEnabled: true,
    initPending: false,
    irr: [],
  };
}
