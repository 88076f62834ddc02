import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { lifecycleOfLeaf, lifecycleOfState, vhostVsockMachine, vsockGroup } from '../../machines/vhost-vsock.machine.js';
import { BAD_POINTER, type Caller, type IoctlArg } from '../../src/vhost/device.js';
import { lifecycle } from '../vhost/lifecycle-oracle.js';
import { ERRNO, FEATURE_BIT, VHOST_IOCTLS, type VhostIoctlName } from '../../src/vhost/ioctl.js';

const QEMU: Caller = { mm: 'qemu', eventfds: [10, 11, 12, 13], files: [3] };
const OTHER: Caller = { mm: 'other', eventfds: [20] };
const RAM = { guestPhysAddr: 0, memorySize: 0x100000, userspaceAddr: 0x7f00_0000_0000 };
const ring = (index: number) => ({
  index,
  flags: 0,
  descUserAddr: RAM.userspaceAddr + index * 0x10000,
  availUserAddr: RAM.userspaceAddr + index * 0x10000 + 0x1000,
  usedUserAddr: RAM.userspaceAddr + index * 0x10000 + 0x2000,
  logGuestAddr: 0,
});

type Group = ReturnType<typeof newGroup>;
const newGroup = () => vsockGroup((machine, input) => createActor(machine, { input }).start());

/** A new instance of `group`'s host (a new one by default), as open() makes it. */
function start(group: Group = newGroup()) {
  const actor = group.add();
  const call = (request: VhostIoctlName | number, arg: IoctlArg, caller: Caller = QEMU) => {
    actor.send({ type: 'ioctl', caller, request, arg });
    const calls = actor.getSnapshot().context.calls;
    return calls[calls.length - 1]?.ret;
  };
  return { actor, group, call, state: () => lifecycleOfState(actor.getSnapshot().value) };
}

describe('the vhost-vsock actor', () => {
  it('follows the QEMU realize and start order through the states of docs/model.md §5.4, recording every call', () => {
    const { actor, call, state } = start();
    expect(state()).toBe('OPEN_UNOWNED');
    expect(call('VHOST_SET_OWNER', undefined)).toEqual({ ok: true });
    expect(call('VHOST_GET_FEATURES', undefined)).toMatchObject({ ok: true });
    expect(call('VHOST_VSOCK_SET_GUEST_CID', 3n)).toEqual({ ok: true });
    expect(state()).toBe('OWNED');
    call('VHOST_SET_FEATURES', 1n << BigInt(FEATURE_BIT.VIRTIO_F_VERSION_1));
    call('VHOST_SET_MEM_TABLE', { regions: [RAM] });
    for (const index of [0, 1]) {
      call('VHOST_SET_VRING_NUM', { index, num: 128 });
      call('VHOST_SET_VRING_BASE', { index, num: 0 });
      call('VHOST_SET_VRING_ADDR', ring(index));
      call('VHOST_SET_VRING_KICK', { index, fd: 10 + index });
    }
    expect(state()).toBe('CONFIGURED');
    expect(call('VHOST_SET_RUNNING', 1)).toEqual({ ok: true });
    expect(state()).toBe('RUNNING');
    expect(call('VHOST_SET_VRING_NUM', { index: 0, num: 64 })).toEqual({ ok: false, errno: ERRNO.EBUSY });
    expect(state()).toBe('RUNNING');
    expect(call('VHOST_VSOCK_SET_RUNNING', 0)).toEqual({ ok: true });
    expect(state()).toBe('STOPPED');
    actor.send({ type: 'close' });
    expect(state()).toBe('RELEASED');
    expect(actor.getSnapshot().status).toBe('done');

    const calls = actor.getSnapshot().context.calls;
    expect(calls[0]).toMatchObject({ names: ['VHOST_SET_OWNER'], number: 0xaf01, caller: 'qemu', ret: { ok: true } });
    const running = calls.find((c) => c.names.includes('VHOST_SET_RUNNING'));
    expect(running).toMatchObject({ number: 0x4004af61, names: ['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING'], arg: 1 });
  });

  it('two instances share the CID hash of their host', () => {
    const group = newGroup();
    const a = start(group);
    const b = start(group);
    expect(a.call('VHOST_VSOCK_SET_GUEST_CID', 5n)).toEqual({ ok: true });
    expect(b.call('VHOST_VSOCK_SET_GUEST_CID', 5n)).toEqual({ ok: false, errno: ERRNO.EADDRINUSE });
    a.actor.send({ type: 'close' });
    expect(b.call('VHOST_VSOCK_SET_GUEST_CID', 5n)).toEqual({ ok: true });
  });
});

/** Calls a VMM could make, right and wrong, with arguments drawn from small sets. */
const names = Object.keys(VHOST_IOCTLS) as VhostIoctlName[];
const argFor = (name: VhostIoctlName): fc.Arbitrary<IoctlArg> => {
  const index = fc.integer({ min: 0, max: 2 });
  switch (name) {
    case 'VHOST_SET_VRING_NUM':
    case 'VHOST_SET_VRING_BASE':
    case 'VHOST_GET_VRING_BASE':
      return fc.record({ index, num: fc.constantFrom(0, 1, 3, 64, 128, 0x10000) });
    case 'VHOST_SET_VRING_ADDR':
      return fc.tuple(index, fc.boolean()).map(([i, good]) => (good ? ring(Math.min(i, 1)) : { ...ring(Math.min(i, 1)), index: i, usedUserAddr: 0x1000 }));
    case 'VHOST_SET_VRING_KICK':
    case 'VHOST_SET_VRING_CALL':
    case 'VHOST_SET_VRING_ERR':
      return fc.record({ index, fd: fc.constantFrom(-1, 3, 10, 11, 99) });
    case 'VHOST_SET_MEM_TABLE':
      return fc.constantFrom<IoctlArg>({ regions: [RAM] }, { regions: [] }, { padding: 1, regions: [RAM] });
    case 'VHOST_SET_FEATURES':
      return fc.constantFrom<IoctlArg>(0n, 1n << 32n, 1n << 33n, 1n << 40n, BAD_POINTER);
    case 'VHOST_VSOCK_SET_GUEST_CID':
      return fc.constantFrom<IoctlArg>(2n, 3n, 4n, 0xffff_ffffn);
    case 'VHOST_VSOCK_SET_RUNNING':
    case 'VHOST_SET_RUNNING':
      return fc.constantFrom(0, 1);
    default:
      return fc.constantFrom<IoctlArg>(undefined, BAD_POINTER);
  }
};
const callArb = fc
  .tuple(fc.constantFrom(...names), fc.constantFrom(QEMU, QEMU, QEMU, OTHER), fc.integer({ min: 0, max: 1 }))
  .chain(([name, caller, dev]) => argFor(name).map((arg) => ({ name, caller, dev, arg: arg as IoctlArg })));

/** QEMU's realize-and-start order; the property runs an arbitrary ordered subset of it first, so
 * partial setups (rings but no kicks, no memory table, …) are reached often. */
type Call = { name: VhostIoctlName; caller: Caller; dev: number; arg: IoctlArg };
const SETUP: Call[] = [
  { name: 'VHOST_SET_OWNER', caller: QEMU, dev: 0, arg: undefined },
  { name: 'VHOST_SET_MEM_TABLE', caller: QEMU, dev: 0, arg: { regions: [RAM] } },
  ...[0, 1].flatMap((index): Call[] => [
    { name: 'VHOST_SET_VRING_NUM', caller: QEMU, dev: 0, arg: { index, num: 128 } },
    { name: 'VHOST_SET_VRING_ADDR', caller: QEMU, dev: 0, arg: ring(index) },
    { name: 'VHOST_SET_VRING_KICK', caller: QEMU, dev: 0, arg: { index, fd: 10 + index } },
  ]),
  { name: 'VHOST_VSOCK_SET_RUNNING', caller: QEMU, dev: 0, arg: 1 },
];

describe('random ioctl sequences (fast-check)', () => {
  it('the actor state is always the lifecycle of its device, a failed call changes nothing, CIDs stay unique', () => {
    fc.assert(
      fc.property(fc.subarray(SETUP), fc.array(callArb, { maxLength: 60 }), (setup, random) => {
        const calls = [...setup, ...random];
        const group = newGroup();
        const actors = [start(group), start(group)];
        for (const c of calls) {
          const a = actors[c.dev]!;
          const before = a.actor.getSnapshot().context.device;
          const ret = a.call(c.name, c.arg, c.caller);
          const snap = a.actor.getSnapshot();
          expect(a.state()).toBe(lifecycle(snap.context.device));
          // A failed call leaves the device as it was, unless it is a start (all or nothing).
          if (ret && !ret.ok && !(c.name.endsWith('SET_RUNNING') && c.arg === 1)) expect(snap.context.device).toEqual(before);
          const devices = group.actors.map((x) => x.getSnapshot().context.device);
          const cids = devices.filter((d) => !d.released && d.guestCid !== 0).map((d) => d.guestCid);
          expect(new Set(cids).size).toBe(cids.length);
        }
      }),
      { numRuns: 300, seed: 20261121 },
    );
  });
});

describe('the lifecycle of docs/model.md §5.4 is the chart itself', () => {
  it('each lifecycle state leaves on the ioctl that changes it, by the rules of src/vhost; no eventless edge', () => {
    const open = vhostVsockMachine.root.states.open;
    expect(open).toBeDefined();
    const edges: Record<string, string[]> = {};
    for (const [name, node] of Object.entries(open?.states ?? {})) {
      expect(node.always ?? []).toEqual([]);
      const ioctl = node.transitions.get('ioctl') ?? [];
      // Every branch applies the call once; the last one stays.
      for (const t of ioctl) expect(t.actions.map((a) => (typeof a === 'string' ? a : (a as { type: string }).type))).toEqual(['apply ioctl']);
      expect(ioctl.at(-1)?.target).toBeUndefined();
      edges[name] = ioctl.flatMap((t) => (t.target ?? []).map((n) => n.key));
    }
    expect(edges).toEqual({
      unowned: ['owned'],
      owned: ['running', 'configured'],
      configured: ['running', 'owned'],
      running: ['stopped'],
      stopped: ['running'],
    });
    expect(lifecycleOfLeaf('open.configured')).toBe('CONFIGURED');
    expect(lifecycleOfLeaf('released')).toBe('RELEASED');
    expect(() => lifecycleOfLeaf('open')).toThrow(/not a vhost-vsock state/);
  });
});
