/** What the `vms` section of a scenario reads into (vms.ts): the vCPUs with their VMM threads, and the vhost-vsock devices. */
import type { GuestProgram } from '../../machines/vcpu.machine.js';
import type { VmmCall } from '../../machines/vmm.machine.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';

/** One vCPU of the scenario, its VM and its VMM thread. */
export interface VcpuSpec {
  /** Index among all vCPUs of the scenario (VM order, then vCPU order). */
  index: number;
  vm: number;
  /** The id KVM_CREATE_VCPU is given. */
  vcpuId: number;
  /** The physical CPU its thread is pinned to. */
  pcpu: number;
  program: GuestProgram;
  calls: VmmCall[];
  /** KVM_EXIT_SHUTDOWN ends the KVM_RUN call ('exit', QEMU -no-reboot) or resets the VM ('reset'). */
  onShutdown: 'exit' | 'reset';
  /** The VM's vhost-vsock device is started and stopped by this thread's device model (QEMU setup). */
  vsock: { queueSize: number } | null;
  /** Where the guest's code starts again after a VM reset (the next boot may take another path). */
  resetRip: number;
}

/** A VM's vhost-vsock device: the kernel side, the host's sockets and the guest's driver. */
export interface VsockSpec {
  /** Index among the scenario's devices: the instance number (open() order). */
  index: number;
  vm: number;
  /** 'qemu': realized, started and stopped by the VMM's device model; 'script': by the VMM scripts only. */
  setup: 'qemu' | 'script';
  /** The CID QEMU's realize sets (guest-cid=). */
  cid: number;
  /** The physical CPU the vhost worker thread is pinned to. */
  worker: number;
  queueSize: number;
  rxBuffers: number;
  rxBufSize: number;
  /** Host ports with a listening AF_VSOCK socket. */
  hostListen: number[];
  guestListen: number[];
  guestTraffic: TrafficSpec[];
  /** The vector of the device's interrupt in the guest (its MSI). */
  vector: number;
  /** The guest sockets' receive buffer, advertised as buf_alloc (credit, docs/model.md §5.5). */
  guestBufAlloc: number;
  /** The vCPU that takes the device's interrupts (the VM's first). */
  vcpu: number;
}

export interface VmsSpec {
  vcpus: VcpuSpec[];
  vsock: VsockSpec[];
}
