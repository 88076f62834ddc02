/**
 * The final records of the guest side, for the outcome: each vCPU's (`vfinal`: its chart, its VMM
 * thread's, its VMCS/VMCB regions' launch state on its CPU) and each vhost-vsock device's
 * (`vsfinal`: its lifecycle and every packet's fate).
 */
import { lifecycleOfLeaf, type VsockContext, type VsockEvent } from '../../machines/vhost-vsock.machine.js';
import type { VcpuContext, VcpuEvent } from '../../machines/vcpu.machine.js';
import type { VmmContext, VmmEvent } from '../../machines/vmm.machine.js';
import { vsockOutcome } from '../vhost/outcome.js';
import { KVM_EXIT } from '../kvm/uapi.js';
import type { Vendor } from '../hw/cpu-state.js';
import type { VsockSpec } from '../scenarios/vms.js';
import type { TraceRecord } from '../trace/records.js';
import type { ChartDriver } from './chart-driver.js';
import { vmcsRegions } from './guest-inputs.js';

/** What the final records read of the guest side (Guests). */
export interface GuestFinalsSource {
  /** How many vCPUs (and VMM threads, one per vCPU). */
  readonly count: number;
  readonly vcpus: ChartDriver<VcpuContext, VcpuEvent>;
  readonly vmms: ChartDriver<VmmContext, VmmEvent>;
  readonly devices: ChartDriver<VsockContext, VsockEvent>;
  readonly vsock: readonly VsockSpec[];
  readonly vendor: Vendor;
  /** The launch state of a VMCS region on a CPU, or null if the CPU never touched it (GuestHost.launchState). */
  launchState(pcpu: number, addr: number): 'clear' | 'launched' | null;
}

/** The final record of each vCPU and each vsock device, for the outcome. */
export function guestFinals(g: GuestFinalsSource): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let i = 0; i < g.count; i++) {
    const c = g.vcpus.context(i);
    out.push({
      t: 'vfinal',
      vcpu: i,
      vm: c.vm,
      cpu: c.pcpu,
      state: g.vcpus.leaf(i),
      vmm: g.vmms.leaf(i),
      guestMode: c.guestMode,
      inSmm: c.inSmm,
      nestedRunPending: c.nestedRunPending,
      rip: c.rip,
      exitReason: c.exitReason ? `KVM_EXIT_${c.exitReason}` : null,
      exitCode: c.exitReason ? KVM_EXIT[c.exitReason] : null,
      thread: c.thread,
      livelock: c.livelock,
      vendor: g.vendor,
      vmcs:
        g.vendor === 'intel'
          ? [vmcsRegions(i).l1, vmcsRegions(i).l2].map((addr) => ({ addr, launch: g.launchState(c.pcpu, addr) ?? 'never loaded' }))
          : [],
    });
  }
  for (let d = 0; d < g.devices.size; d++) {
    const c = g.devices.context(d);
    const spec = g.vsock[d] as VsockSpec;
    out.push({
      t: 'vsfinal',
      dev: d,
      vm: c.vm,
      worker: spec.worker,
      chart: g.devices.leaf(d),
      ...vsockOutcome(lifecycleOfLeaf(g.devices.leaf(d)), c.device, c.dp),
      guestResets: c.driver.resets,
      fates: {
        delivered: [...c.dp.toGuest, ...c.dp.toHost].map((p) => p.id),
        queued: [...c.dp.txRing, ...c.dp.sendQueue, ...c.dp.guestQueue].map((p) => p.id),
        dropped: c.dp.dropped.map((x) => ({ id: x.id, reason: x.reason })),
      },
    });
  }
  return out;
}
