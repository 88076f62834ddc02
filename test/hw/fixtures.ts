/** CPU states the hardware-rule tables start from. */
import { initialCpuHw, VMCS_REGION_BASE, VMXON_REGION_BASE, type CpuHw, type CpuMode } from '../../src/hw/cpu-state.js';
import type { InsnResult } from '../../src/hw/vmx.js';

export const VMXON_PA = VMXON_REGION_BASE;
export const VMCS_PA = VMCS_REGION_BASE;
export const VMCS2_PA = VMCS_REGION_BASE + 0x1000;

type Overrides = Partial<Omit<CpuHw, 'mode'>> & { mode?: Partial<CpuMode> };

function build(base: CpuHw, over: Overrides): CpuHw {
  return { ...base, ...over, mode: { ...base.mode, ...over.mode } };
}

/** An Intel CPU as the kernel leaves it after boot, with overrides. */
export function intel(over: Overrides = {}): CpuHw {
  return build(initialCpuHw('intel'), over);
}

export function amd(over: Overrides = {}): CpuHw {
  return build(initialCpuHw('amd'), over);
}

/** After KVM's hardware enable: CR4.VMXE=1 and VMXON done. */
export function vmxRoot(over: Overrides = {}): CpuHw {
  return intel({ cr4Vmxe: true, vmx: 'root', vmxonPtr: VMXON_PA, ...over });
}

/** Root with a VMCS loaded (VMPTRLD done), in the given launch state. */
export function withVmcs(launch: 'clear' | 'launched', over: Overrides = {}): CpuHw {
  return vmxRoot({ currentVmcs: VMCS_PA, vmcsLaunch: { [VMCS_PA]: launch }, ...over });
}

/** A vCPU running: VMX non-root with a launched current VMCS. */
export function vmxNonroot(over: Overrides = {}): CpuHw {
  return withVmcs('launched', { vmx: 'nonroot', ...over });
}

/** AMD with KVM's hardware enable done: EFER.SVME=1. */
export function svmOn(over: Overrides = {}): CpuHw {
  return amd({ svme: true, ...over });
}

export function okHw(r: InsnResult): CpuHw {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.hw;
}

/** Freezes a CPU state deeply, so that a rule mutating its input throws in strict mode. */
export function frozen(hw: CpuHw): CpuHw {
  Object.freeze(hw.mode);
  Object.freeze(hw.vmcsLaunch);
  Object.freeze(hw.irr);
  return Object.freeze(hw);
}
