/**
 * The guest actors as slots (slot.ts): each vCPU thread, VMM thread and vhost-vsock device of the
 * guest side (guests.ts), numbered after the CPUs. A guest step sets off more than its own actor
 * (an ioctl moves the vCPU, a vCPU instruction moves its physical CPU, a worker's call interrupts a
 * vCPU), so this family reports what moved, and in which order the scheduler looks at it again.
 */
import type { Guests, GuestKind } from './guests.js';
import type { Moved, Slot, SlotFamily } from './slot.js';
import type { HostExitReason } from '../kvm/types.js';

const NOTHING: readonly string[] = [];

class GuestSlot implements Slot {
  readonly settledBy = 'family';
  readonly item: { kind: GuestKind; cpu: number };
  readonly cpu: number;
  dependents: readonly number[] = [];

  constructor(
    private readonly guests: Guests,
    readonly kind: GuestKind,
    readonly index: number,
    readonly id: number,
    /** Its place among the guest slots (the order of `Guests.hashes()`). */
    private readonly j: number,
  ) {
    this.item = { kind, cpu: index };
    this.cpu = guests.cpuOf(kind, index);
  }
  runnable(): boolean {
    return this.guests.runnable(this.kind, this.index);
  }
  watches(): readonly string[] {
    return NOTHING;
  }
  step(): void {
    this.guests.step(this.kind, this.index);
  }
  activePaths(): string[] {
    return this.guests.activePathsOf(this.kind, this.index);
  }
  hash(): number {
    return this.guests.hashOf(this.j);
  }
  key(): string {
    return this.guests.keyOf(this.j);
  }
  capture(): unknown {
    return this.guests.captureSlot(this.j);
  }
}

export class GuestSlots implements SlotFamily {
  readonly slots: GuestSlot[] = [];
  readonly items: SlotFamily['items'];
  private readonly vcpuSlot: number[] = [];
  private readonly deviceSlot: number[] = [];
  /** VM exits the CPU steps caused, for the vCPU in guest mode there: run when the scheduler settles. */
  private readonly exits: { cpu: number; reason: HostExitReason }[] = [];

  constructor(
    readonly guests: Guests,
    /** The first guest slot's number (the CPU count). */
    readonly base: number,
  ) {
    const n = guests.count;
    for (let i = 0; i < n; i++) {
      this.vcpuSlot.push(base + 2 * i);
      this.slots.push(new GuestSlot(guests, 'vcpu', i, base + 2 * i, 2 * i), new GuestSlot(guests, 'vmm', i, base + 2 * i + 1, 2 * i + 1));
    }
    for (let d = 0; d < guests.devices.size; d++) {
      this.deviceSlot.push(base + 2 * n + d);
      this.slots.push(new GuestSlot(guests, 'vhost', d, base + 2 * n + d, 2 * n + d));
    }
    this.items = { vcpu: { base, stride: 2 }, vmm: { base: base + 1, stride: 2 }, vhost: { base: base + 2 * n, stride: 1 } };
  }

  triggerSlot(actor: string, index: number): Slot | undefined {
    const id = actor === 'vcpu' ? this.vcpuSlot[index] : actor === 'vsock' ? this.deviceSlot[index] : undefined;
    return id === undefined ? undefined : this.slots[id - this.base];
  }

  /** The guest slots that run on physical CPU `cpu`: its threads (vCPU, VMM thread, in vCPU order), then its vhost workers. */
  on(cpu: number): number[] {
    const out: number[] = [];
    for (const v of this.guests.on.get(cpu) ?? []) out.push(this.vcpuSlot[v] as number, (this.vcpuSlot[v] as number) + 1);
    for (const d of this.guests.workersOn.get(cpu) ?? []) out.push(this.deviceSlot[d] as number);
    return out;
  }

  /** A CPU step left a guest for a host event (an NMI, an interrupt): the vCPU there sees it when the scheduler settles. */
  hostExit(cpu: number, reason: HostExitReason): void {
    this.exits.push({ cpu, reason });
  }

  moved(): Moved | null {
    const guests = this.guests;
    while (this.exits.length > 0) {
      const e = this.exits.shift() as { cpu: number; reason: HostExitReason };
      guests.hostExit(e.cpu, e.reason);
      guests.drain();
    }
    const touched = guests.takeTouched();
    const changed = guests.takeChanged();
    const devices = guests.takeChangedDevices();
    if (touched.length === 0 && changed.length === 0 && devices.length === 0) return null;
    // A thread entering or leaving KVM_RUN takes or frees its CPU for the other threads pinned there.
    const cpus = new Set(changed.map((v) => guests.pcpu(v)));
    const refresh: number[] = [];
    for (const cpu of cpus) for (const w of guests.on.get(cpu) ?? []) refresh.push(this.vcpuSlot[w] as number, (this.vcpuSlot[w] as number) + 1);
    for (const d of devices) refresh.push(this.deviceSlot[d] as number);
    for (const cpu of cpus) for (const d of guests.workersOn.get(cpu) ?? []) refresh.push(this.deviceSlot[d] as number);
    const triggers = [...devices.map((d) => this.deviceSlot[d] as number), ...changed.map((v) => this.vcpuSlot[v] as number)];
    return { settle: touched, refresh, triggers };
  }
}
