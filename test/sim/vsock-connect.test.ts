/**
 * Connect before send (docs/model.md §5.5): a stream's opener sends no data until the peer's RESPONSE
 * reaches it (af_vsock.c vsock_connect waits for TCP_ESTABLISHED, vsock_connectible_sendmsg is -ENOTCONN
 * before; virtio_transport_recv_connecting), and an RST to its REQUEST fails the connect with ECONNRESET:
 * the writes that waited never go on the wire, and the packet ledger counts them dropped
 * `connection-reset`. Both directions, listener present and absent, one and several packets, through
 * the whole simulator; then a connect across a device stop and a guest reset while connecting.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin, validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Vsock = Extract<TraceRecord, { t: 'vsock' }>;

function fromRaw(raw: unknown, preset: string): Scenario {
  const r = validateScenario(raw, 'test', validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { ...r.scenario, kernel: { preset, fix: [], noFix: [] } };
}

const run = (s: Scenario, seed: number) => runScenario(s, { seed, keepTrace: true });
const vsockRecords = (trace: TraceRecord[], what: string) => trace.filter((r): r is Vsock => r.t === 'vsock' && r.what === what);
/** The packets the worker took, in order: [queue, op] (queue 0 = RX, host → guest; 1 = TX). */
const taken = (trace: TraceRecord[]) => vsockRecords(trace, 'packet').map((r) => ({ at: trace.indexOf(r), queue: r.data.queue, op: r.data.op, len: r.data.len }));
const dropped = (o: { vsock?: { packets: { dropped: { reason: string; count: number }[] } } | null }, reason: string) =>
  o.vsock?.packets.dropped.find((d) => d.reason === reason)?.count ?? 0;

/** vs2 of the review: a host socket connects to guest port `port` (the guest listens on 6000) and writes `count` × 1 KiB at once. */
const hostToGuest = (port: number, count: number) => ({
  name: 'vs2',
  machine: { cpus: 3 },
  vms: [{ vsock: { cid: 3, worker: 2, guestListen: [6000] }, vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] } }] }],
  script: [
    { at: 300, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: port } },
    { at: 310, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: port, len: 1024, count } },
  ],
});

/** vs3 of the review: the guest connects to host port `port` (the host listens on 5000) and sends `count` × 100 bytes right after. */
const guestToHost = (port: number, count: number) => ({
  name: 'vs3',
  machine: { cpus: 3 },
  vms: [
    {
      vsock: {
        cid: 3,
        worker: 2,
        hostListen: [5000],
        guestTraffic: [
          { op: 'REQUEST', srcPort: 1024, dstPort: port },
          { op: 'RW', srcPort: 1024, dstPort: port, len: 100, count },
        ],
      },
      vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'vsock-send', 'vsock-send', 'spin'] } }],
    },
  ],
});

const CASES = [
  ['mainline', 1],
  ['mainline', 2],
  ['mainline', 3],
  ['v5.10', 1],
  ['v6.6', 2],
] as const;

describe('host → guest: the host socket sends its data only after the guest RESPONSE reached it', () => {
  for (const [preset, seed] of CASES) {
    for (const count of [1, 4]) {
      it(`${preset}, seed ${seed}, ${count} packet(s): no listener — one RST, connect() fails with ECONNRESET, no RW on the wire`, () => {
        const { outcome, trace } = run(fromRaw(hostToGuest(6001, count), preset), seed);
        expect(taken(trace).filter((p) => p.op === 'RW')).toEqual([]);
        expect(outcome.vsock?.guestResets).toBe(1);
        expect(taken(trace).filter((p) => p.op === 'RST')).toHaveLength(1);
        expect(vsockRecords(trace, 'stream-end').map((r) => r.data)).toEqual([{ key: '6001>7000', side: 'host', errno: 'ECONNRESET', connecting: true, unsent: count }]);
        expect(outcome.vsock?.packets).toMatchObject({ sent: 2 + count, delivered: 2, queued: 0 });
        expect(dropped(outcome, 'connection-reset')).toBe(count);
        expect(outcome.violations).toEqual([]);
      });

      it(`${preset}, seed ${seed}, ${count} packet(s): a listener — its RESPONSE opens the stream, then every RW reaches the guest`, () => {
        const { outcome, trace } = run(fromRaw(hostToGuest(6000, count), preset), seed);
        const p = taken(trace);
        const response = p.find((x) => x.queue === 1 && x.op === 'RESPONSE');
        const rw = p.filter((x) => x.queue === 0 && x.op === 'RW');
        expect(response).toBeDefined();
        expect(rw).toHaveLength(count);
        expect(Math.min(...rw.map((x) => x.at))).toBeGreaterThan(response?.at ?? Infinity);
        expect(outcome.vsock?.guestResets).toBe(0);
        expect(vsockRecords(trace, 'stream-end')).toEqual([]);
        expect(outcome.vsock?.packets).toMatchObject({ sent: 2 + count, delivered: 2 + count, queued: 0, dropped: [] });
        expect(outcome.violations).toEqual([]);
      });
    }
  }
});

describe('guest → host: the guest socket sends its data only after the host RESPONSE reached it', () => {
  for (const [preset, seed] of CASES) {
    for (const count of [1, 3]) {
      it(`${preset}, seed ${seed}, ${count} packet(s): no listener — one RST, connect() fails with ECONNRESET, no RW on the wire`, () => {
        const { outcome, trace } = run(fromRaw(guestToHost(5001, count), preset), seed);
        const p = taken(trace);
        expect(p.filter((x) => x.op === 'RW')).toEqual([]);
        expect(p.filter((x) => x.queue === 0 && x.op === 'RST')).toHaveLength(1);
        expect(vsockRecords(trace, 'stream-end').map((r) => r.data)).toEqual([{ key: '1024>5001', side: 'guest', errno: 'ECONNRESET', connecting: true, unsent: count }]);
        expect(outcome.vsock?.packets).toMatchObject({ sent: 2 + count, delivered: 2, queued: 0 });
        expect(dropped(outcome, 'connection-reset')).toBe(count);
        expect(outcome.violations).toEqual([]);
      });

      it(`${preset}, seed ${seed}, ${count} packet(s): a listener — the held write goes on TX once the RESPONSE is in`, () => {
        const { outcome, trace } = run(fromRaw(guestToHost(5000, count), preset), seed);
        const p = taken(trace);
        const response = p.find((x) => x.queue === 0 && x.op === 'RESPONSE');
        const rw = p.filter((x) => x.queue === 1 && x.op === 'RW');
        const rx = vsockRecords(trace, 'guest-rx').map((r) => trace.indexOf(r));
        expect(response).toBeDefined();
        expect(rw).toHaveLength(count);
        // The guest took the RESPONSE (an RX interrupt after the worker put it in the ring) before its data went out.
        const firstRx = Math.min(...rx.filter((i) => i > (response?.at ?? Infinity)));
        expect(Math.min(...rw.map((x) => x.at))).toBeGreaterThan(firstRx);
        expect(vsockRecords(trace, 'stream-end')).toEqual([]);
        expect(outcome.vsock?.packets).toMatchObject({ sent: 2 + count, delivered: 2 + count, queued: 0, dropped: [] });
        expect(outcome.violations).toEqual([]);
      });
    }
  }
});

describe('connecting across a device stop, a guest reset and a failed connect', () => {
  it('T14: the host RW written before the RESPONSE leaves only after the RESPONSE reached the host', () => {
    const r = loadBuiltin('T14');
    if (!r?.ok) throw new Error('T14 does not load');
    for (const seed of [1, 2, 3]) {
      const { outcome, trace } = run({ ...r.scenario, kernel: { preset: 'mainline', fix: [], noFix: [] } }, seed);
      const p = taken(trace);
      const response = p.find((x) => x.queue === 1 && x.op === 'RESPONSE');
      const firstRw = p.find((x) => x.queue === 0 && x.op === 'RW' && x.len === 200);
      expect(response).toBeDefined();
      expect(firstRw?.at).toBeGreaterThan(response?.at ?? Infinity);
      expect(outcome.violations).toEqual([]);
    }
  });

  it('a host connect made while the device is stopped completes after the restart; only then does its data flow', () => {
    const raw = {
      name: 'connect-while-stopped',
      machine: { cpus: 3 },
      options: { maxSteps: 20000 },
      vms: [
        {
          onShutdown: 'reset',
          vsock: { cid: 3, worker: 2, guestListen: [6000] },
          vcpus: [{ cpu: 1, afterReset: 4, guest: { l1: ['vsock-ready', 'io', 'io', 'triple-fault', 'vsock-ready', 'spin'] } }],
        },
      ],
      script: [
        { when: { vsock: 0, enters: 'stopped' }, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7001, dstPort: 6000 } },
        { when: { vsock: 0, enters: 'stopped' }, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7001, dstPort: 6000, len: 500, count: 2 } },
      ],
    };
    for (const [preset, seed] of CASES) {
      const { outcome, trace } = run(fromRaw(raw, preset), seed);
      const p = taken(trace);
      const response = p.find((x) => x.queue === 1 && x.op === 'RESPONSE');
      const rw = p.filter((x) => x.queue === 0 && x.op === 'RW');
      expect(response).toBeDefined();
      expect(rw).toHaveLength(2);
      expect(Math.min(...rw.map((x) => x.at))).toBeGreaterThan(response?.at ?? Infinity);
      expect(outcome.vsock?.guestResets).toBe(0);
      expect(outcome.vsock?.packets).toMatchObject({ sent: 4, delivered: 4, queued: 0, dropped: [] });
      expect(outcome.violations).toEqual([]);
    }
  });

  it('a guest reset while the guest connects: its REQUEST and the writes it held are lost with it, none reaches the host', () => {
    const raw = {
      name: 'reset-while-connecting',
      machine: { cpus: 3 },
      vms: [
        {
          onShutdown: 'reset',
          vsock: {
            cid: 3,
            worker: 2,
            hostListen: [5000],
            guestTraffic: [
              { op: 'REQUEST', srcPort: 1024, dstPort: 5000 },
              { op: 'RW', srcPort: 1024, dstPort: 5000, len: 100, count: 3 },
            ],
          },
          vcpus: [{ cpu: 1, afterReset: 4, guest: { l1: ['vsock-ready', 'vsock-send', 'vsock-send', 'triple-fault', 'vsock-ready', 'spin'] } }],
        },
      ],
      // The worker's CPU is stalled: the REQUEST is still in the TX ring at the reset.
      script: [{ at: 0, cpu: 2, do: 'stall' }],
    };
    for (const [preset, seed] of CASES) {
      const { outcome, trace } = run(fromRaw(raw, preset), seed);
      expect(trace.some((r) => r.t === 'ioctl' && r.exit === 'KVM_EXIT_SHUTDOWN')).toBe(true);
      expect(vsockRecords(trace, 'guest-send').map((r) => r.data.held ?? 0)).toEqual([0, 3]);
      expect(outcome.vsock?.packets).toMatchObject({ sent: 4, delivered: 0, queued: 0, dropped: [{ reason: 'guest-reset', count: 4 }] });
      expect(outcome.violations).toEqual([]);
    }
  });

  it('after the RST a write on that socket fails: nothing more goes out until a new connect on those ports', () => {
    const raw = {
      ...hostToGuest(6001, 2),
      script: [
        ...hostToGuest(6001, 2).script,
        { at: 3000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'RW', srcPort: 7000, dstPort: 6001, len: 1024, count: 3 } },
      ],
    };
    for (const [preset, seed] of CASES) {
      const { outcome, trace } = run(fromRaw(raw, preset), seed);
      expect(taken(trace).filter((p) => p.op === 'RW')).toEqual([]);
      expect(outcome.vsock?.guestResets).toBe(1);
      expect(dropped(outcome, 'connection-reset')).toBe(2);
      expect(dropped(outcome, 'not-connected')).toBe(3);
      expect(vsockRecords(trace, 'host-send').at(-1)?.data).toMatchObject({ op: 'RW', refused: 3 });
      expect(outcome.violations).toEqual([]);
    }
  });
});
