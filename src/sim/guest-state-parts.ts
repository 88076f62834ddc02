/**
 * The guest part of the state key and hash (src/state/guests.ts): each guest actor's program point
 * and context as text (the key), and as a number remembered until the actor moves (the hash that
 * exploration takes of every state). Actors are numbered as guest slots (Guests.track): vCPU i is
 * 2i, its VMM thread 2i + 1, vsock device d is 2 * count + d.
 */
import type { VcpuContext, VcpuEvent } from '../../machines/vcpu.machine.js';
import type { VmmContext, VmmEvent } from '../../machines/vmm.machine.js';
import type { VsockContext, VsockEvent } from '../../machines/vhost-vsock.machine.js';
import type { Codec, Renaming } from '../state/codec.js';
import { VCPU_CONTEXT, VCPU_STATE, VMM_CONTEXT, VMM_STATE, VSOCK_CONTEXT, VSOCK_STATE, type GuestActorState } from '../state/guests.js';
import type { ChartCapture, ChartDriver } from './chart-driver.js';

const GUEST_SEED = 0x677374;

export class GuestStateParts {
  /** Each actor's part of the state hash, NaN once the actor moved (exploration hashes every state). */
  private readonly vcpuHash: number[];
  private readonly vmmHash: number[];
  private readonly devHash: number[];

  /** `count`: how many vCPUs (and VMM threads, one per vCPU). */
  constructor(
    private readonly count: number,
    private readonly vcpus: ChartDriver<VcpuContext, VcpuEvent>,
    private readonly vmms: ChartDriver<VmmContext, VmmEvent>,
    private readonly devices: ChartDriver<VsockContext, VsockEvent>,
    deviceCount: number,
  ) {
    this.vcpuHash = new Array<number>(count).fill(Number.NaN);
    this.vmmHash = new Array<number>(count).fill(Number.NaN);
    this.devHash = new Array<number>(deviceCount).fill(Number.NaN);
  }

  /** vCPU `i` moves or moved: its hash is taken again when asked. */
  vcpuMoved(i: number): void {
    this.vcpuHash[i] = Number.NaN;
  }

  vmmMoved(i: number): void {
    this.vmmHash[i] = Number.NaN;
  }

  deviceMoved(d: number): void {
    this.devHash[d] = Number.NaN;
  }

  /** The actors a restore moved (vCPUs, VMM threads, devices): their hashes as the capture knew them (`hashes()` order), or taken again. */
  restored(vcpus: readonly number[], vmms: readonly number[], devices: readonly number[], known: readonly number[] | undefined): void {
    for (const i of vcpus) this.vcpuHash[i] = known ? (known[2 * i] as number) : Number.NaN;
    for (const i of vmms) this.vmmHash[i] = known ? (known[2 * i + 1] as number) : Number.NaN;
    for (const i of devices) this.devHash[i] = known ? (known[2 * this.count + i] as number) : Number.NaN;
  }

  /** The key of the actor in guest slot `j`. */
  keyOf(j: number): string {
    const n = this.count;
    if (j < 2 * n) {
      const i = j >> 1;
      return j % 2 === 0
        ? VCPU_STATE.text({ paths: this.vcpus.activePaths(i), context: this.vcpus.context(i) })
        : VMM_STATE.text({ paths: this.vmms.activePaths(i), context: this.vmms.context(i) });
    }
    const d = j - 2 * n;
    return VSOCK_STATE.text({ paths: this.devices.activePaths(d), context: this.devices.context(d) });
  }

  /**
   * The hash `hashOf` gives of a capture of the actor in guest slot `j` with the CPU numbers and
   * vCPU references in it renamed (symmetry reduction), or NaN when the renaming changes nothing.
   */
  renamedHash(j: number, cap: ChartCapture<unknown>, r: Renaming): number {
    const n = this.count;
    const kind = j < 2 * n ? (j % 2 === 0 ? 0 : 1) : 2;
    const contextCodec = [VCPU_CONTEXT, VMM_CONTEXT, VSOCK_CONTEXT][kind] as unknown as Codec<unknown>;
    const renamed = contextCodec.rename?.(cap.context, r) ?? cap.context;
    if (renamed === cap.context) return Number.NaN;
    const driver = [this.vcpus, this.vmms, this.devices][kind] as ChartDriver<unknown, never>;
    const state = [VCPU_STATE, VMM_STATE, VSOCK_STATE][kind] as unknown as Codec<GuestActorState<unknown>>;
    if (!driver.pathsOf) throw new Error('internal error: symmetry needs the compiled engine');
    return state.hash(GUEST_SEED, { paths: driver.pathsOf(cap.leaves), context: renamed });
  }

  /** The hash of the actor in guest slot `j`, remembered until it moves. */
  hashOf(j: number): number {
    const n = this.count;
    if (j < 2 * n) {
      const i = j >> 1;
      if (j % 2 === 0) {
        if (Number.isNaN(this.vcpuHash[i])) this.vcpuHash[i] = VCPU_STATE.hash(GUEST_SEED, { paths: this.vcpus.activePaths(i), context: this.vcpus.context(i) });
        return this.vcpuHash[i] as number;
      }
      if (Number.isNaN(this.vmmHash[i])) this.vmmHash[i] = VMM_STATE.hash(GUEST_SEED, { paths: this.vmms.activePaths(i), context: this.vmms.context(i) });
      return this.vmmHash[i] as number;
    }
    const d = j - 2 * n;
    if (Number.isNaN(this.devHash[d])) this.devHash[d] = VSOCK_STATE.hash(GUEST_SEED, { paths: this.devices.activePaths(d), context: this.devices.context(d) });
    return this.devHash[d] as number;
  }
}
