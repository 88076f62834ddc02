/**
 * The inputs of the guest-side charts, built from a scenario's specs: each vhost-vsock device's
 * (machines/vhost-vsock.machine.ts), each vCPU's (machines/vcpu.machine.ts) with the VMCS/VMCB
 * regions it uses, and each VMM thread's (machines/vmm.machine.ts).
 */
import type { VcpuInput } from '../../machines/vcpu.machine.js';
import type { VmmInput } from '../../machines/vmm.machine.js';
import type { VsockInput } from '../../machines/vhost-vsock.machine.js';
import { vhostKernel } from '../vhost/kernel.js';
import type { KernelFeatures } from '../kernel/variants.js';
import type { Vendor } from '../hw/cpu-state.js';
import { VMCS_REGION_BASE } from '../hw/cpu-state.js';
import type { VcpuSpec, VsockSpec } from '../scenarios/vms.js';

/** vCPU VMCS/VMCB regions sit above the ones the scenario's `loadedVmcs` puts on the CPUs. */
export const GUEST_VMCS_BASE = VMCS_REGION_BASE + 0x0800_0000;

export function vsockInputs(specs: readonly VsockSpec[], features: KernelFeatures): VsockInput[] {
  return specs.map((s) => ({
    id: s.index,
    vm: s.vm,
    kernel: vhostKernel(features),
    guest: { cid: s.cid, rxBuffers: s.rxBuffers, listen: s.guestListen, traffic: s.guestTraffic },
    listen: s.hostListen,
    rxBufSize: s.rxBufSize,
    guestBufAlloc: s.guestBufAlloc,
    ringSize: s.queueSize,
  }));
}

export function vcpuInputs(specs: readonly VcpuSpec[], vendor: Vendor, features: KernelFeatures): VcpuInput[] {
  return specs.map((s) => ({
    id: s.index,
    vm: s.vm,
    vcpuId: s.vcpuId,
    pcpu: s.pcpu,
    vendor,
    features,
    program: s.program,
    vmcs: vmcsRegions(s.index),
  }));
}

/** vmcs01 and vmcs02 (VMX), or vmcb01 and vmcb02 (SVM), of a vCPU: distinct 4 KiB regions. */
export function vmcsRegions(vcpu: number): { l1: number; l2: number } {
  return { l1: GUEST_VMCS_BASE + vcpu * 0x2000, l2: GUEST_VMCS_BASE + vcpu * 0x2000 + 0x1000 };
}

export function vmmInputs(specs: readonly VcpuSpec[]): VmmInput[] {
  return specs.map((s) => ({ id: s.index, vm: s.vm, pcpu: s.pcpu, calls: s.calls, onShutdown: s.onShutdown, vsock: s.vsock, resetRip: s.resetRip }));
}
