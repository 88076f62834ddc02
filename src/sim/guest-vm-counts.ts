/**
 * kvm->created_vcpus as KVM_CREATE_VCPU sees it (kvm_vm_ioctl_create_vcpu, virt/kvm/kvm_main.c):
 * how many of the VM's vCPUs were created so far. The model creates a vCPU in one step and never
 * destroys one, so that is the number of the VM's vCPUs whose context says `created`.
 *
 * Only a VM with at least KVM_MAX_VCPUS vCPUs can reach the limit; there the call reads the other
 * vCPUs' charts, which makes it depend on them (exploration's transition cache keys the step on the
 * charts it read, and sleep sets see the conflict). In a smaller VM the count is not asked for, and
 * the call depends on its own vCPU alone.
 */
import { kvmMaxVcpus } from '../kvm/ioctl.js';
import type { KernelFeatures } from '../kernel/variants.js';
import type { VcpuSpec } from '../scenarios/vms.js';

export class VmCreatedVcpus {
  /** For each vCPU: its VM's vCPUs if the VM has at least KVM_MAX_VCPUS of them, else none. */
  private readonly atLimit: (readonly number[])[];

  constructor(specs: readonly VcpuSpec[], features: KernelFeatures) {
    const byVm = new Map<number, number[]>();
    for (const s of specs) {
      const list = byVm.get(s.vm);
      if (list) list.push(s.index);
      else byVm.set(s.vm, [s.index]);
    }
    const limit = kvmMaxVcpus(features);
    this.atLimit = specs.map((s) => {
      const all = byVm.get(s.vm) ?? [];
      return all.length >= limit ? all : [];
    });
  }

  /** kvm->created_vcpus of vCPU `v`'s VM (`created(j)`: vCPU j was created), or undefined where it cannot reach the limit. */
  of(v: number, created: (j: number) => boolean): number | undefined {
    const vm = this.atLimit[v] ?? [];
    if (vm.length === 0) return undefined;
    let n = 0;
    for (const j of vm) if (created(j)) n++;
    return n;
  }
}
