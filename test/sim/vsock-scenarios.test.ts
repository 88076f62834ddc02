/**
 * The vhost-vsock rows of docs/model.md §6 (T11–T15), the guest reboot of §5.6 and a host emergency
 * restart under traffic, through the whole simulator: VMM thread, device actor, vhost worker on a
 * physical CPU, vCPU, bus, scheduler. Then the docs/model.md §5.4 invalid orders one by one, the observers on
 * traces made to break them, and random ioctl sequences with random traffic (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadBuiltin, validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';
import { decodeHeader } from '../../src/vhost/header.js';
import { VsockCreditNeverNegative, VsockNoPacketWithoutBackend, VsockPacketsBalance, VsockRepliesThrottleTx } from '../../src/spec/vsock.js';

type Ioctl = Extract<TraceRecord, { t: 'ioctl' }>;
type Vsock = Extract<TraceRecord, { t: 'vsock' }>;

function builtin(id: string, preset = 'mainline'): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(`built-in ${id} does not load`);
  return { ...r.scenario, kernel: { preset, fix: [], noFix: [] } };
}

function fromRaw(raw: unknown): Scenario {
  const r = validateScenario(raw, 'test', validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

const run = (s: Scenario, seed = 1) => runScenario(s, { seed, keepTrace: true });

/** The vhost returns of a run, in order. */
const vhostReturns = (trace: TraceRecord[]) => trace.filter((r): r is Ioctl => r.t === 'ioctl' && r.dev !== undefined && r.phase === 'return');
const vsockRecords = (trace: TraceRecord[], what: string) => trace.filter((r): r is Vsock => r.t === 'vsock' && r.what === what);
const vsockViolations = (o: { violations: { property: string }[] }) => o.violations.filter((v) => v.property.startsWith('vsock-'));

describe('T11: SET_RUNNING 1 right after open', () => {
  it('is -EPERM under both names of 0x4004AF61, and the device stays unowned', () => {
    const { outcome, trace } = run(builtin('T11'));
    const rets = vhostReturns(trace);
    expect(rets.map((r) => [r.name, r.number, r.errno, r.ret, r.state])).toEqual([
      ['VHOST_VSOCK_SET_RUNNING', 0x4004af61, 'EPERM', -1, 'open.unowned'],
      ['VHOST_SET_RUNNING', 0x4004af61, 'EPERM', -1, 'open.unowned'],
    ]);
    expect(rets[0]?.names).toEqual(['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING']);
    expect(outcome.vsock).toMatchObject({ state: 'OPEN_UNOWNED', running: false, guestCid: 0 });
    expect(vsockViolations(outcome)).toEqual([]);
  });
});

describe('T12: owner, no memory table, SET_RUNNING 1', () => {
  it('is -EFAULT and both backends stay NULL', () => {
    const { outcome, trace } = run(builtin('T12'));
    expect(vhostReturns(trace).map((r) => [r.name, r.errno ?? r.ret])).toEqual([
      ['VHOST_SET_OWNER', 0],
      ['VHOST_SET_RUNNING', 'EFAULT'],
    ]);
    expect(outcome.vsock?.state).toBe('OWNED');
    expect(outcome.vsock?.queues.map((q) => q.backend)).toEqual([false, false]);
  });
});

describe('T13: SET_VRING_NUM while running', () => {
  it('is -EBUSY (BASE too); after SET_RUNNING 0 both succeed', () => {
    const { outcome, trace } = run(builtin('T13'));
    const tail = vhostReturns(trace).slice(-6).map((r) => [r.name, r.errno ?? r.ret, r.state]);
    expect(tail).toEqual([
      ['VHOST_SET_VRING_CALL', 0, 'open.running'],
      ['VHOST_SET_VRING_NUM', 'EBUSY', 'open.running'],
      ['VHOST_SET_VRING_BASE', 'EBUSY', 'open.running'],
      ['VHOST_SET_RUNNING', 0, 'open.stopped'],
      ['VHOST_SET_VRING_NUM', 0, 'open.stopped'],
      ['VHOST_SET_VRING_BASE', 0, 'open.stopped'],
    ]);
    expect(outcome.vsock?.queues[0]?.num).toBe(64);
  });
});

describe('T15: two instances, one CID', () => {
  it('the second gets -EADDRINUSE, CID 2 is -EINVAL, and the CID is free once the first fd is closed', () => {
    const { outcome, trace } = run(builtin('T15'));
    const cid = vhostReturns(trace).filter((r) => r.name === 'VHOST_VSOCK_SET_GUEST_CID' || r.name === 'close');
    expect(cid.map((r) => [r.dev, r.name, r.errno ?? r.ret])).toEqual([
      [0, 'VHOST_VSOCK_SET_GUEST_CID', 0],
      [1, 'VHOST_VSOCK_SET_GUEST_CID', 'EADDRINUSE'],
      [1, 'VHOST_VSOCK_SET_GUEST_CID', 'EINVAL'],
      [0, 'close', 0],
      [1, 'VHOST_VSOCK_SET_GUEST_CID', 0],
    ]);
    expect(outcome.vsockDevices.map((d) => [d.state, d.guestCid])).toEqual([
      ['RELEASED', 5],
      ['OPEN_UNOWNED', 5],
    ]);
  });
});

describe('T14: guest reboot with traffic both ways (docs/model.md §5.6)', () => {
  // SET_RUNNING 0 first, the ring positions saved, then the guest notifiers unbound (calls back to the masked fds).
  const STOP = ['VHOST_VSOCK_SET_RUNNING', 'VHOST_GET_VRING_BASE', 'VHOST_GET_VRING_BASE', 'VHOST_SET_VRING_CALL', 'VHOST_SET_VRING_CALL'];
  const RING = ['VHOST_SET_VRING_NUM', 'VHOST_SET_VRING_BASE', 'VHOST_SET_VRING_ADDR', 'VHOST_SET_VRING_KICK'];
  const START = ['VHOST_SET_FEATURES', 'VHOST_SET_MEM_TABLE', ...RING, ...RING, 'VHOST_VSOCK_SET_RUNNING'];

  for (const [preset, seed] of [['mainline', 1], ['mainline', 2], ['mainline', 3], ['v5.10', 1]] as const) {
    it(`${preset}, seed ${seed}: stop then start in QEMU's order; host packets queued while stopped reach the new guest, which resets them`, () => {
      const { outcome, trace } = run(builtin('T14', preset), seed);
      const calls = trace.filter((r): r is Ioctl => r.t === 'ioctl' && r.phase === 'call');
      const names = calls.map((r) => r.name);
      const shutdown = trace.findIndex((r) => r.t === 'ioctl' && r.exit === 'KVM_EXIT_SHUTDOWN');
      expect(shutdown).toBeGreaterThan(0);
      const after = calls.filter((r) => trace.indexOf(r) > shutdown).map((r) => r.name);
      // SET_RUNNING 0 first, the ring positions saved, the vCPU reset, the guest runs to DRIVER_OK, then the start.
      expect(after.slice(0, STOP.length)).toEqual(STOP);
      expect(calls.find((r) => trace.indexOf(r) > shutdown)?.arg).toBe(0);
      expect(after[STOP.length]).toBe('KVM_SET_REGS');
      const restart = after.indexOf('VHOST_SET_FEATURES');
      expect(after.slice(restart, restart + START.length)).toEqual(START);
      // The guest notifiers are bound before vhost_dev_start (set_guest_notifiers), and unmasked after SET_RUNNING 1.
      expect(after.slice(restart - 2, restart)).toEqual(['VHOST_SET_VRING_CALL', 'VHOST_SET_VRING_CALL']);
      expect(after.slice(restart + START.length, restart + START.length + 2)).toEqual(['VHOST_SET_VRING_CALL', 'VHOST_SET_VRING_CALL']);
      expect(names.filter((n) => n === 'VHOST_SET_OWNER')).toHaveLength(1);

      // The three packets sent while stopped: queued, then taken on RX only after SET_RUNNING 1.
      const stoppedSend = vsockRecords(trace, 'host-send').find((r) => r.data.len === 300);
      expect(stoppedSend).toBeDefined();
      const restarted = trace.findIndex((r) => r.t === 'ioctl' && r.phase === 'return' && r.dev === 0 && r.state === 'open.running' && trace.indexOf(r) > shutdown);
      expect(trace.indexOf(stoppedSend as TraceRecord)).toBeLessThan(restarted);
      const rxAfter = vsockRecords(trace, 'packet').filter((r) => r.data.queue === 0 && trace.indexOf(r) > restarted);
      expect(rxAfter).toHaveLength(3);
      // Each as it lay in the guest's RX ring: the host's RW, header included.
      const hdr = String(rxAfter[0]?.data.hdr);
      expect(decodeHeader(Uint8Array.from(hdr.match(/../g) ?? [], (b) => parseInt(b, 16)))).toMatchObject({
        srcCid: 2,
        dstCid: 3,
        srcPort: 7000,
        dstPort: 6000,
        len: 300,
        type: 'STREAM',
        op: 'RW',
      });
      expect(outcome.vsock).toMatchObject({ state: 'RUNNING', running: true, sendQueue: 0, queuedReplies: 0, guestResets: 3 });
      const p = outcome.vsock?.packets;
      expect(p).toBeDefined();
      expect(p?.sent).toBe((p?.delivered ?? 0) + (p?.queued ?? 0) + (p?.dropped.reduce((n, d) => n + d.count, 0) ?? 0));
      expect(outcome.violations).toEqual([]);
    });
  }
});

describe('host emergency restart while traffic flows', () => {
  it('the worker stops with its CPU; what it had delivered is delivered, what was queued is lost with the host', () => {
    const { outcome, trace } = run(builtin('T-vsock-restart'));
    expect(outcome.end).toBe('reset');
    const p = outcome.vsock?.packets;
    expect(p?.delivered).toBeGreaterThan(0);
    expect(p?.queued).toBe(0);
    const lost = p?.dropped.find((d) => d.reason === 'host-reset')?.count ?? 0;
    expect(lost).toBeGreaterThan(0);
    expect(p?.sent).toBe((p?.delivered ?? 0) + lost + (p?.dropped.filter((d) => d.reason !== 'host-reset').reduce((n, d) => n + d.count, 0) ?? 0));
    // No worker run after the shootdown NMI reached the worker's CPU.
    const worker = outcome.vsock?.worker ?? -1;
    const nmi = trace.findIndex((r) => r.t === 'deliver' && r.cpu === worker && r.mode === 'nmi');
    expect(nmi).toBeGreaterThan(0);
    expect(vsockRecords(trace, 'work').filter((r) => trace.indexOf(r) > nmi)).toEqual([]);
    // The calls reached the guest as interrupts: the kick IPIs crossed the bus.
    expect(trace.some((r) => r.t === 'send' && r.mode === 'fixed' && r.vector === 0xfd)).toBe(true);
    expect(outcome.violations).toEqual([]);
  });

  it('seeds 1–6: the packet balance always holds and the losses are named', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const { outcome } = run(builtin('T-vsock-restart'), seed);
      const p = outcome.vsock?.packets;
      const dropped = p?.dropped.reduce((n, d) => n + d.count, 0) ?? 0;
      expect(p?.sent).toBe((p?.delivered ?? 0) + (p?.queued ?? 0) + dropped);
      expect(p?.dropped.every((d) => d.reason.length > 0)).toBe(true);
      expect(vsockViolations(outcome)).toEqual([]);
    }
  });
});

describe('stream credit in a run (docs/model.md §5.5)', () => {
  it('a host write larger than the guest buffer goes out a window at a time, each opened by a CREDIT_UPDATE', () => {
    const { outcome, trace } = run(builtin('T-vsock-credit'));
    const credit = vsockRecords(trace, 'credit').map((r) => r.data.h2g as { txCnt: number; peerFwdCnt: number; peerBufAlloc: number });
    expect(credit.length).toBeGreaterThan(0);
    expect(Math.max(...credit.map((c) => c.txCnt - c.peerFwdCnt))).toBe(4096);
    const last = vsockRecords(trace, 'credit').at(-1)?.data;
    expect(last).toMatchObject({ backlog: 0, h2g: { txCnt: 16384, fwdCnt: 16384 } });
    // The stream opens empty; the write then goes out in four windows, the backlog shrinking after each.
    const backlogs = [...new Set(vsockRecords(trace, 'credit').map((r) => r.data.backlog))];
    expect(backlogs).toEqual([0, 12288, 8192, 4096]);
    expect(outcome.violations).toEqual([]);
  });

  it('the observer reports a sender past the advertised window and a receiver past its buffer', () => {
    const o = new VsockCreditNeverNegative();
    const rec = (h2g: object): TraceRecord => ({ t: 'vsock', ns: 1, dev: 0, cpu: 2, what: 'credit', data: { key: '1>2', h2g, backlog: 0 } });
    const ok = { txCnt: 4096, peerBufAlloc: 4096, peerFwdCnt: 0, rxCnt: 4096, fwdCnt: 0, bufAlloc: 4096 };
    o.observe(rec(ok));
    expect(o.violations()).toEqual([]);
    o.observe(rec({ ...ok, txCnt: 4097 }));
    o.observe(rec({ ...ok, rxCnt: 5000 }));
    expect(o.violations().map((v) => v.message)).toEqual([
      'vsock 0 stream 1>2 host→guest: 4097 bytes in flight > advertised buf_alloc 4096',
      'vsock 0 stream 1>2 host→guest: receiver holds 5000 bytes > buf_alloc 4096',
    ]);
  });
});

describe('found in review, kept as tests', () => {
  const oneVm = (vm: object, script: unknown[] = [], cpus = 3) => fromRaw({ name: 'r', machine: { cpus }, vms: [vm], script });

  it('an ioctl after close() is -EBADF, whatever the call before it returned', () => {
    const { trace } = run(oneVm({ vsock: { setup: 'script', worker: 0 }, vcpus: [{ cpu: 1, vmm: [{ vhost: 'realize' }, { vhost: 'start' }, { ioctl: 'close' }, { ioctl: 'VHOST_GET_FEATURES' }, { ioctl: 'VHOST_SET_RUNNING', arg: 1 }] }] }));
    const tail = vhostReturns(trace).slice(-3).map((r) => [r.name, r.errno ?? r.ret]);
    expect(tail).toEqual([
      ['close', 0],
      ['VHOST_GET_FEATURES', 'EBADF'],
      ['VHOST_SET_RUNNING', 'EBADF'],
    ]);
  });

  it('a packet queued before the start reaches the guest as an interrupt: the irqfd is bound before SET_RUNNING 1', () => {
    for (const seed of [1, 2, 3]) {
      const { trace, outcome } = run(
        oneVm({ vsock: { cid: 3, worker: 2, guestListen: [6000] }, vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] } }] }, [
          // After SET_GUEST_CID (the CID exists), before SET_RUNNING 1: the packet waits in the send queue.
          { at: 500, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } },
        ]),
        seed,
      );
      expect(vsockRecords(trace, 'call').every((r) => r.data.irqfd === true)).toBe(true);
      expect(vsockRecords(trace, 'guest-rx').length).toBeGreaterThan(0);
      // The guest answered the REQUEST: RESPONSE delivered to the host, no RST.
      expect(outcome.vsock?.packets).toMatchObject({ sent: 2, delivered: 2, queued: 0 });
      expect(outcome.vsock?.guestResets).toBe(0);
    }
  });

  it('SET_RUNNING with an unreadable argument is -EFAULT and changes nothing: traffic goes on, no false violation', () => {
    const { outcome, trace } = run(
      oneVm(
        {
          vsock: { cid: 3, worker: 2, setup: 'script', guestListen: [6000] },
          vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] }, vmm: [{ vhost: 'realize' }, { vhost: 'start' }, { ioctl: 'VHOST_SET_RUNNING', badPointer: true }] }],
        },
        [{ at: 1000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } }],
      ),
    );
    expect(vhostReturns(trace).at(-1)).toMatchObject({ name: 'VHOST_SET_RUNNING', errno: 'EFAULT', state: 'open.running' });
    expect(outcome.vsock?.running).toBe(true);
    expect(vsockViolations(outcome)).toEqual([]);
  });

  it('a guest reset drops what its driver left in the TX ring: the new driver does not send it', () => {
    // The worker's CPU is stalled, so the old guest's packet is still in the ring when it triple-faults.
    const { outcome, trace } = run(
      oneVm(
        {
          onShutdown: 'reset',
          vsock: { cid: 3, worker: 2, hostListen: [5000], guestTraffic: [{ op: 'REQUEST', srcPort: 1024, dstPort: 5000 }] },
          vcpus: [{ cpu: 1, afterReset: 3, guest: { l1: ['vsock-ready', 'vsock-send', 'triple-fault', 'vsock-ready', 'spin'] } }],
        },
        [{ at: 0, cpu: 2, do: 'stall' }],
      ),
    );
    expect(trace.some((r) => r.t === 'ioctl' && r.exit === 'KVM_EXIT_SHUTDOWN')).toBe(true);
    expect(outcome.vsock?.packets).toMatchObject({ sent: 1, delivered: 0, queued: 0, dropped: [{ reason: 'guest-reset', count: 1 }] });
    expect(vsockViolations(outcome)).toEqual([]);
  });

  it('a host RST ends the stream: a later write on those ports is no stream data', () => {
    const { trace } = run(
      oneVm({ vsock: { cid: 3, worker: 2, guestListen: [6000], guestBufAlloc: 4096 }, vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] } }] }, [
        { at: 500, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } },
        { at: 3000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RST', srcPort: 7000, dstPort: 6000 } },
        { at: 4000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6000, len: 1024, count: 8 } },
      ]),
    );
    // After the RST no credit record names the stream again: the 8 KiB went out as plain packets (and the guest resets them).
    const rst = trace.findIndex((r) => r.t === 'vsock' && r.what === 'host-send' && r.data.op === 'RST');
    expect(rst).toBeGreaterThan(0);
    expect(vsockRecords(trace, 'credit').filter((r) => trace.indexOf(r) > rst)).toEqual([]);
  });

  it('the rings have the configured size: ten guest packets through a 2-descriptor TX ring, two at a time', () => {
    const { outcome, trace } = run(
      oneVm({
        vsock: {
          cid: 3,
          worker: 2,
          queueSize: 2,
          rxBuffers: 2,
          hostListen: [5000],
          guestTraffic: [
            { op: 'REQUEST', srcPort: 1024, dstPort: 5000 },
            { op: 'RW', srcPort: 1024, dstPort: 5000, len: 100, count: 9 },
          ],
        },
        vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'vsock-send', 'io', 'vsock-send', 'spin'] } }],
      }),
    );
    const txRuns = vsockRecords(trace, 'work').filter((r) => r.data.kind === 'tx');
    const taken = txRuns.map((w) => {
      const i = trace.indexOf(w);
      let n = 0;
      for (let j = i + 1; j < trace.length && (trace[j] as TraceRecord).t === 'vsock' && (trace[j] as Vsock).what !== 'work'; j++) {
        if ((trace[j] as Vsock).what === 'packet' && (trace[j] as Vsock).data.queue === 1) n += 1;
      }
      return n;
    });
    expect(taken.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...taken)).toBeLessThanOrEqual(2);
    expect(outcome.vsock?.packets).toMatchObject({ queued: 0, dropped: [] });
  });

  it('a call on a masked notifier stays pending in the VMM and reaches the guest when the queue is unmasked', () => {
    const ring = (index: number) => [
      { ioctl: 'VHOST_SET_VRING_NUM', index, num: 128 },
      { ioctl: 'VHOST_SET_VRING_BASE', index, num: 0 },
      { ioctl: 'VHOST_SET_VRING_ADDR', index },
      { ioctl: 'VHOST_SET_VRING_KICK', index },
    ];
    const { trace } = run(
      oneVm(
        {
          vsock: { cid: 3, worker: 2, setup: 'script', guestListen: [6000] },
          vcpus: [
            {
              cpu: 1,
              guest: { l1: ['vsock-ready', 'spin'] },
              vmm: [
                { vhost: 'realize' },
                { ioctl: 'KVM_CREATE_VCPU' },
                { ioctl: 'KVM_SET_CPUID2' },
                // Returns at DRIVER_OK: the guest driver has posted its RX buffers.
                { ioctl: 'KVM_RUN' },
                { ioctl: 'VHOST_SET_FEATURES', arg: '0x100000000' },
                { ioctl: 'VHOST_SET_MEM_TABLE' },
                ...ring(0),
                ...ring(1),
                // Started with the calls still on the masked notifiers (a VMM that unmasks late).
                { ioctl: 'VHOST_SET_RUNNING', arg: 1 },
                { ioctl: 'VHOST_GET_FEATURES' },
                { ioctl: 'VHOST_GET_FEATURES' },
                { ioctl: 'VHOST_SET_VRING_CALL', index: 0 },
                { ioctl: 'KVM_RUN', loop: true },
              ],
            },
          ],
        },
        [{ at: 250, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } }],
      ),
    );
    const calls = vsockRecords(trace, 'call');
    expect(calls[0]?.data).toMatchObject({ queue: 0, irqfd: false });
    const delivered = calls.findIndex((r) => r.data.pendingWhileMasked === true);
    expect(delivered).toBeGreaterThan(0);
    const unmask = trace.findIndex((r) => r.t === 'ioctl' && r.phase === 'call' && r.name === 'VHOST_SET_VRING_CALL' && (r.arg as { fd: number }).fd === 40);
    expect(trace.indexOf(calls[delivered] as TraceRecord)).toBeGreaterThan(unmask);
    expect(vsockRecords(trace, 'guest-rx').length).toBeGreaterThan(0);
  });

  it('the default worker avoids the CPUs of every VM, later VMs included', () => {
    const s = fromRaw({
      name: 'w',
      machine: { cpus: 4 },
      vms: [
        { vsock: { cid: 3 }, vcpus: [{ cpu: 0 }] },
        { vsock: { cid: 4 }, vcpus: [{ cpu: 1 }] },
      ],
    });
    expect(s.vsock.map((d) => d.worker)).toEqual([2, 2]);
  });

  it('two QEMU-managed devices with one CID are refused: QEMU\'s realize would fail', () => {
    const r = validateScenario(
      { name: 'c', machine: { cpus: 3 }, vms: [{ vsock: { cid: 5 }, vcpus: [{ cpu: 0 }] }, { vsock: { cid: 5 }, vcpus: [{ cpu: 1 }] }] },
      'c.json',
      validationContext,
    );
    expect(r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(["vms[1].vsock: cid 5 is VM 0's already: QEMU's realize would fail with EADDRINUSE"]);
  });
});

/** A scripted device on CPU 1: the calls, then `probe`, whose return is checked. */
function order(calls: unknown[], probe: unknown, mm?: string) {
  const vmm = [...calls, mm ? { ...(probe as object), mm } : probe];
  const { trace } = run(fromRaw({ name: 'order', machine: { cpus: 2 }, vms: [{ vsock: { setup: 'script', worker: 0 }, vcpus: [{ cpu: 1, vmm }] }] }));
  const rets = vhostReturns(trace);
  const last = rets[rets.length - 1] as Ioctl;
  const before = rets.length > 1 ? (rets[rets.length - 2] as Ioctl).state : 'open.unowned';
  return { errno: last.errno ?? null, before, after: last.state };
}

describe('docs/model.md §5.4 invalid orders: the kernel errno, and the device state unchanged', () => {
  const OWNER = { ioctl: 'VHOST_SET_OWNER' };
  const RUNNING = [{ vhost: 'realize' }, { vhost: 'start' }];
  const STOPPED = [...RUNNING, { ioctl: 'VHOST_SET_RUNNING', arg: 0 }];
  it.each([
    ['SET_RUNNING 1 in OPEN_UNOWNED', [], { ioctl: 'VHOST_SET_RUNNING', arg: 1 }, 'EPERM', undefined],
    ['SET_RUNNING 1 in OWNED without a memory table', [OWNER], { ioctl: 'VHOST_SET_RUNNING', arg: 1 }, 'EFAULT', undefined],
    ['SET_VRING_NUM in RUNNING', RUNNING, { ioctl: 'VHOST_SET_VRING_NUM', index: 0, num: 64 }, 'EBUSY', undefined],
    ['SET_VRING_BASE in RUNNING', RUNNING, { ioctl: 'VHOST_SET_VRING_BASE', index: 1, num: 3 }, 'EBUSY', undefined],
    ['a second SET_OWNER', [OWNER], OWNER, 'EBUSY', undefined],
    ['a second SET_OWNER from another process', [OWNER], OWNER, 'EBUSY', 'other'],
    ['SET_MEM_TABLE from a process that is not the owner', [OWNER], { ioctl: 'VHOST_SET_MEM_TABLE' }, 'EPERM', 'other'],
    ['SET_RUNNING 0 from a process that is not the owner', RUNNING, { ioctl: 'VHOST_SET_RUNNING', arg: 0 }, 'EPERM', 'other'],
    ['SET_VRING_NUM before SET_OWNER', [], { ioctl: 'VHOST_SET_VRING_NUM', index: 0, num: 64 }, 'EPERM', undefined],
  ] as const)('%s', (_, calls, probe, errno, mm) => {
    const r = order([...calls], probe, mm);
    expect(r.errno).toBe(errno);
    expect(r.after).toBe(r.before);
  });

  it.each([
    ['SET_VRING_NUM in STOPPED', STOPPED, { ioctl: 'VHOST_SET_VRING_NUM', index: 0, num: 64 }],
    ['SET_VRING_BASE in STOPPED', STOPPED, { ioctl: 'VHOST_SET_VRING_BASE', index: 1, num: 3 }],
    ['SET_GUEST_CID in OPEN_UNOWNED (no owner needed)', [], { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 9 }],
    ['GET_FEATURES from another process', [OWNER], { ioctl: 'VHOST_GET_FEATURES', mm: 'other' }],
  ] as const)('legal: %s', (_, calls, probe) => {
    expect(order([...calls], probe).errno).toBeNull();
  });
});

describe('the vsock observers catch what they watch for', () => {
  const at = (ns: number) => ({ ns, vcpu: 0, cpu: 1, dev: 0 });
  const packet = (queue: number, queuedReplies = 0, txNum = 128): TraceRecord => ({
    t: 'vsock',
    ns: 5,
    dev: 0,
    cpu: 2,
    what: 'packet',
    data: { id: 1, queue, backend: true, queuedReplies, txNum },
  });

  it('a packet taken before SET_RUNNING 1, or after SET_RUNNING 0, is reported; one taken while running is not', () => {
    const o = new VsockNoPacketWithoutBackend();
    o.observe(packet(1));
    expect(o.violations()).toHaveLength(1);
    o.observe({ t: 'ioctl', ...at(1), phase: 'call', name: 'VHOST_SET_RUNNING', number: 0x4004af61, arg: 1 });
    o.observe({ t: 'ioctl', ...at(1), phase: 'return', name: 'VHOST_SET_RUNNING', number: 0x4004af61, ret: 0 });
    o.observe(packet(0));
    expect(o.violations()).toHaveLength(1);
    o.observe({ t: 'ioctl', ...at(2), phase: 'call', name: 'VHOST_VSOCK_SET_RUNNING', number: 0x4004af61, arg: 0 });
    o.observe({ t: 'ioctl', ...at(2), phase: 'return', name: 'VHOST_VSOCK_SET_RUNNING', number: 0x4004af61, ret: 0 });
    o.observe(packet(0));
    expect(o.violations()).toHaveLength(2);
  });

  it('a failed start (-EFAULT) clears the backends; an -EPERM one leaves them', () => {
    const o = new VsockNoPacketWithoutBackend();
    const call = (arg: number, errno?: string) => {
      o.observe({ t: 'ioctl', ...at(1), phase: 'call', name: 'VHOST_SET_RUNNING', number: 0x4004af61, arg });
      o.observe({ t: 'ioctl', ...at(1), phase: 'return', name: 'VHOST_SET_RUNNING', number: 0x4004af61, ret: errno ? -1 : 0, ...(errno ? { errno } : {}) });
    };
    call(1);
    call(0, 'EPERM');
    o.observe(packet(1));
    expect(o.violations()).toHaveLength(0);
    call(1, 'EFAULT');
    o.observe(packet(1));
    expect(o.violations()).toHaveLength(1);
  });

  it('TX processed with queued_replies at TX.num is reported', () => {
    const o = new VsockRepliesThrottleTx();
    o.observe(packet(1, 127, 128));
    o.observe(packet(0, 300, 128));
    expect(o.violations()).toHaveLength(0);
    o.observe(packet(1, 128, 128));
    expect(o.violations()).toHaveLength(1);
  });

  /** A vsfinal record of device 0 with the given packet counts and fates. */
  const finalRecord = (packets: { sent: number; delivered: number; queued: number; dropped: { reason: string; count: number }[] }, fates: Extract<TraceRecord, { t: 'vsfinal' }>['fates']): TraceRecord => ({
    t: 'vsfinal',
    dev: 0,
    vm: 0,
    worker: 2,
    chart: 'open.running',
    state: 'RUNNING',
    running: true,
    guestCid: 3,
    queues: [],
    sendQueue: 0,
    queuedReplies: 0,
    packets,
    guestResets: 0,
    fates,
  });

  it('a final record whose counts do not add up is reported', () => {
    const o = new VsockPacketsBalance();
    const final = (delivered: number): TraceRecord =>
      finalRecord(
        { sent: 5, delivered, queued: 1, dropped: [{ reason: 'misaddressed', count: 1 }] },
        { delivered: [1, 2, 3].slice(0, delivered), queued: [4], dropped: [{ id: 5, reason: 'misaddressed' }] },
      );
    o.observe(final(3));
    expect(o.violations()).toHaveLength(0);
    o.observe(final(2));
    expect(o.violations().map((v) => v.message)).toEqual([
      'vsock 0: sent 5 ≠ delivered 2 + queued 1 + dropped 1',
      'vsock 0: packet 3 has no fate',
    ]);
  });

  it('a packet counted twice and another never counted are caught even when the counts add up', () => {
    const o = new VsockPacketsBalance();
    o.observe(finalRecord({ sent: 3, delivered: 2, queued: 1, dropped: [] }, { delivered: [1, 2], queued: [2], dropped: [] }));
    expect(o.violations().map((v) => v.message)).toEqual(['vsock 0: packet 2 has two fates', 'vsock 0: packet 3 has no fate']);
  });
});

describe('random ioctl sequences and random traffic through the simulator (fast-check)', () => {
  const vhostCall = fc.oneof(
    fc.constantFrom<unknown>(
      { vhost: 'realize' },
      { vhost: 'start' },
      { vhost: 'stop' },
      { ioctl: 'VHOST_SET_OWNER' },
      { ioctl: 'VHOST_SET_MEM_TABLE' },
      { ioctl: 'VHOST_SET_MEM_TABLE', regions: 0 },
      { ioctl: 'VHOST_SET_RUNNING', arg: 1 },
      { ioctl: 'VHOST_SET_RUNNING', arg: 0 },
      { ioctl: 'VHOST_VSOCK_SET_RUNNING', arg: 1 },
      { ioctl: 'VHOST_SET_RUNNING', arg: 0, mm: 'other' },
      { ioctl: 'VHOST_GET_FEATURES' },
      { ioctl: 'VHOST_SET_FEATURES', arg: '0x100000000' },
      { ioctl: 'VHOST_SET_FEATURES', arg: '0x10000000000' },
      { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 3 },
      { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: 2 },
      { ioctl: 'KVM_CREATE_VCPU' },
      { ioctl: 'KVM_SET_CPUID2' },
      { ioctl: 'KVM_RUN', loop: true },
      { ioctl: 'close' },
    ),
    fc.record({
      ioctl: fc.constantFrom('VHOST_SET_VRING_NUM', 'VHOST_SET_VRING_BASE', 'VHOST_GET_VRING_BASE'),
      index: fc.integer({ min: 0, max: 2 }),
      num: fc.constantFrom(0, 1, 3, 4, 128),
    }),
    fc.record({ ioctl: fc.constantFrom('VHOST_SET_VRING_ADDR', 'VHOST_SET_VRING_KICK', 'VHOST_SET_VRING_CALL'), index: fc.integer({ min: 0, max: 1 }) }),
  );
  const op = fc.constantFrom('REQUEST', 'RW', 'RST', 'SHUTDOWN', 'CREDIT_UPDATE');
  const traffic = fc.record({ op, srcPort: fc.constantFrom(1024, 7000), dstPort: fc.constantFrom(5000, 6000, 9), len: fc.constantFrom(0, 100, 5000, 70000), count: fc.integer({ min: 1, max: 40 }) });
  const guestInsn = fc.constantFrom('vsock-ready', 'vsock-send', 'io', 'nop', 'triple-fault');
  const hostSend = fc.record({ at: fc.integer({ min: 0, max: 3000 }), cid: fc.constantFrom(3, 4), t: traffic });

  it('the observers hold and the packets balance, whatever the order of the calls and the traffic', () => {
    // The generator must reach the interesting paths, not only setups that never run.
    const reached = { delivered: 0, queued: 0, dropped: 0, resets: 0 };
    fc.assert(
      fc.property(
        // An ordered part of QEMU's setup first, so running devices are reached often.
        fc.tuple(fc.subarray<unknown>([{ vhost: 'realize' }, { vhost: 'start' }]), fc.array(vhostCall, { maxLength: 25 })).map(([a, b]) => [...a, ...b]),
        fc.array(guestInsn, { maxLength: 10 }),
        fc.array(traffic, { maxLength: 4 }),
        fc.array(hostSend, { maxLength: 4 }),
        fc.constantFrom('qemu', 'script'),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(4096, 4096, 16),
        fc.constantFrom(262144, 2048),
        (calls, l1, guestTraffic, sends, setup, queueSize, seed, rxBufSize, guestBufAlloc) => {
          const raw = {
            name: 'random-vsock',
            machine: { cpus: 3 },
            options: { maxSteps: 1500 },
            vms: [
              {
                onShutdown: 'reset',
                vsock: { setup, worker: 2, queueSize: 2 ** (queueSize - 1), rxBuffers: Math.min(2, 2 ** (queueSize - 1)), rxBufSize, guestBufAlloc, hostListen: [5000], guestListen: [6000], guestTraffic },
                vcpus: [{ cpu: 1, guest: { l1: [...l1, 'spin'] }, vmm: setup === 'qemu' ? [{ ioctl: 'KVM_CREATE_VCPU' }, { ioctl: 'KVM_SET_CPUID2' }, { ioctl: 'KVM_RUN', loop: true }, ...calls] : calls }],
              },
            ],
            script: sends.map((s) => ({ at: s.at, cpu: 0, do: 'vsock-send', send: { cid: s.cid, ...s.t } })),
          };
          const { outcome } = runScenario(fromRaw(raw), { seed });
          expect(vsockViolations(outcome)).toEqual([]);
          const p = outcome.vsock?.packets;
          expect(p).toBeDefined();
          expect(p?.sent).toBe((p?.delivered ?? 0) + (p?.queued ?? 0) + (p?.dropped.reduce((n, d) => n + d.count, 0) ?? 0));
          expect(outcome.vsock?.queuedReplies).toBeGreaterThanOrEqual(0);
          if ((p?.delivered ?? 0) > 0) reached.delivered += 1;
          if ((p?.queued ?? 0) > 0) reached.queued += 1;
          if ((p?.dropped.length ?? 0) > 0) reached.dropped += 1;
          if ((outcome.vsock?.guestResets ?? 0) > 0) reached.resets += 1;
        },
      ),
      { numRuns: 60, seed: 20261121 },
    );
    expect(reached.delivered).toBeGreaterThan(0);
    expect(reached.queued).toBeGreaterThan(0);
    expect(reached.dropped).toBeGreaterThan(0);
    expect(reached.resets).toBeGreaterThan(0);
  });
});

describe('bad vsock input is a named error', () => {
  const base = (vm: object) => ({ name: 'bad', machine: { cpus: 2 }, vms: [{ vcpus: [{ cpu: 1 }], ...vm }] });
  const errors = (raw: unknown) => {
    const r = validateScenario(raw, 'bad.json', validationContext);
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it('a vhost ioctl or a vsock guest instruction without a device, an unknown macro, a bad CID, a bad trigger', () => {
    expect(errors({ name: 'b', machine: { cpus: 2 }, vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'VHOST_SET_OWNER' }] }] }] })).toEqual([
      "vms[0].vcpus[0].vmm[0].ioctl: VHOST_SET_OWNER needs a vhost-vsock device: VM 0 has no 'vsock'",
    ]);
    expect(errors({ name: 'b', machine: { cpus: 2 }, vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['vsock-send'] } }] }] })).toEqual([
      "vms[0].vcpus[0].guest: vsock-ready / vsock-send need a vhost-vsock device: VM 0 has no 'vsock'",
    ]);
    expect(errors(base({ vsock: { setup: 'script' }, vcpus: [{ cpu: 1, vmm: [{ vhost: 'restart' }] }] }))[0]).toMatch(/^vms\[0\]\.vcpus\[0\]\.vmm\[0\]\.vhost: /);
    expect(errors(base({ vsock: { cid: 2 } }))[0]).toMatch(/^vms\[0\]\.vsock\.cid: /);
    expect(errors(base({ vsock: { worker: 7 } }))[0]).toMatch(/^vms\[0\]\.vsock\.worker: CPU 7 is out of range/);
    expect(errors({ ...base({ vsock: {} }), script: [{ cpu: 0, do: 'vsock-send', at: 0 }] })).toEqual([
      "script[0]: 'vsock-send' needs 'send': { \"cid\", \"op\", \"srcPort\", \"dstPort\", \"len\", \"count\" }",
    ]);
    expect(errors({ ...base({ vsock: {} }), script: [{ cpu: 0, do: 'reboot', when: { vsock: 0, enters: 'flying' } }] })).toEqual([
      "script[0].when.enters: no state named 'flying' in the vhost-vsock machine",
    ]);
    expect(errors({ ...base({ vsock: {} }), script: [{ cpu: 0, do: 'vsock-send', at: 0, send: { cid: 3, op: 'HELLO', srcPort: 1, dstPort: 2 } }] })[0]).toMatch(
      /^script\[0\]\.send\.op: /,
    );
  });
});

describe('vhost ioctls that read something out return 0 and copy the value to the caller', () => {
  // drivers/vhost/vsock.c vhost_vsock_dev_ioctl: VHOST_GET_FEATURES is `copy_to_user(argp, &features,
  // sizeof(features)) ? -EFAULT : 0`; drivers/vhost/vhost.c vhost_vring_ioctl: VHOST_GET_VRING_BASE fills
  // `struct vhost_vring_state` and copies it out, returning 0.
  it('T14: GET_FEATURES and GET_VRING_BASE are 0 with the features and the ring index copied out, in the trace and the outcome', () => {
    const { outcome, trace } = run(builtin('T14'), 1);
    const returns = trace.filter((r): r is Ioctl => r.t === 'ioctl' && r.phase === 'return' && (r.name === 'VHOST_GET_FEATURES' || r.name === 'VHOST_GET_VRING_BASE'));
    expect(returns.length).toBeGreaterThanOrEqual(3);
    for (const r of returns) expect({ name: r.name, ret: r.ret, copied: typeof r.out }).toEqual({ name: r.name, ret: 0, copied: 'number' });
    const features = returns.find((r) => r.name === 'VHOST_GET_FEATURES');
    // VIRTIO_F_VERSION_1 (bit 32) is among the features offered.
    expect(Math.floor((features?.out ?? 0) / 2 ** 32) % 2).toBe(1);
    const got = outcome.ioctls.filter((c) => c.name === 'VHOST_GET_FEATURES');
    expect(got.map((c) => [c.ret, c.out])).toEqual(got.map(() => [0, features?.out]));
    // A call that copies nothing out has none.
    expect(outcome.ioctls.find((c) => c.name === 'VHOST_SET_OWNER')?.out).toBeNull();
  });
});
