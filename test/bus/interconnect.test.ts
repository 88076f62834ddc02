import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Interconnect, type DeliveryHandler, type InterconnectState, type LedgerCounts } from '../../src/bus/interconnect.js';
import { describeDestination, targetsOf, type DeliveryRequest } from '../../src/bus/messages.js';
import type { DeliveryMode, Destination, OutgoingMessage } from '../../src/hw/apic.js';
import type { Disposition } from '../../src/kernel/port.js';

const nmi = (dest: Destination): OutgoingMessage => ({ mode: 'nmi', vector: null, dest, source: 'kernel' });

/** delivered + pending + latched + dropped + still in flight: every delivery is somewhere. */
const accounted = (ic: Interconnect): number => {
  const c = ic.counts;
  return c.delivered + c.pending + c.latched + c.dropped + ic.inFlightDeliveries;
};

/** Handlers for CPUs 0..cpus-1 that answer with a fixed disposition each and record what they saw. */
function recording(cpus: number, answer: (cpu: number) => Disposition = () => ({ status: 'delivered' })) {
  const calls: DeliveryRequest[] = [];
  const handlers = new Map<number, DeliveryHandler>();
  for (let cpu = 0; cpu < cpus; cpu++)
    handlers.set(cpu, (r) => {
      calls.push(r);
      return answer(cpu);
    });
  return { handlers, calls };
}

describe('targetsOf: the CPUs a destination reaches', () => {
  it('a single CPU reaches just that CPU, present or not', () => {
    expect(targetsOf({ kind: 'cpu', cpu: 2 }, 0, 4)).toEqual([2]);
    expect(targetsOf({ kind: 'cpu', cpu: 9 }, 0, 4)).toEqual([9]);
  });

  it('all reaches every APIC present, the sender included', () => {
    expect(targetsOf({ kind: 'all' }, 1, 4)).toEqual([0, 1, 2, 3]);
    expect(targetsOf({ kind: 'all' }, 'platform', 1)).toEqual([0]);
    expect(targetsOf({ kind: 'all' }, 0, 0)).toEqual([]);
  });

  it('all-but-self reaches every APIC present except the sender', () => {
    expect(targetsOf({ kind: 'all-but-self' }, 2, 4)).toEqual([0, 1, 3]);
    expect(targetsOf({ kind: 'all-but-self' }, 0, 1)).toEqual([]);
  });

  it('all-but-self from the platform (no self) reaches every CPU', () => {
    expect(targetsOf({ kind: 'all-but-self' }, 'platform', 3)).toEqual([0, 1, 2]);
  });

  it('a mask reaches exactly its CPUs, as a copy the caller may change', () => {
    const cpus = [3, 1];
    const dest: Destination = { kind: 'mask', cpus };
    const out = targetsOf(dest, 0, 4);
    expect(out).toEqual([3, 1]);
    out.push(0);
    expect(cpus).toEqual([3, 1]);
    expect(targetsOf({ kind: 'mask', cpus: [] }, 0, 4)).toEqual([]);
  });

  it('describeDestination names each kind', () => {
    expect(describeDestination({ kind: 'cpu', cpu: 3 })).toBe('cpu3');
    expect(describeDestination({ kind: 'all' })).toBe('all');
    expect(describeDestination({ kind: 'all-but-self' })).toBe('all-but-self');
    expect(describeDestination({ kind: 'mask', cpus: [0, 2] })).toBe('mask[0,2]');
  });
});

describe('Interconnect: send and deliver', () => {
  it('send numbers messages from 1, stamps sender and time, and returns one target per delivery owed', () => {
    const ic = new Interconnect(4, recording(4).handlers);
    const first = ic.send(1, nmi({ kind: 'all-but-self' }), 250);
    const second = ic.send('platform', { mode: 'init', vector: null, dest: { kind: 'cpu', cpu: 2 }, source: 'platform' }, 300);
    expect(first.msg).toEqual({ id: 1, from: 1, mode: 'nmi', vector: null, dest: { kind: 'all-but-self' }, source: 'kernel', sentAt: 250 });
    expect(first.targets).toEqual([0, 2, 3]);
    expect(second.msg.id).toBe(2);
    expect(second.targets).toEqual([2]);
    expect(ic.counts).toEqual({ messages: 2, targets: 4, delivered: 0, pending: 0, latched: 0, dropped: 0 } satisfies LedgerCounts);
    expect(ic.inFlightDeliveries).toBe(4);
    expect(ic.message(1)).toEqual(first.msg);
  });

  it("deliver hands the message to the target's handler and returns and counts the handler's disposition", () => {
    const { handlers, calls } = recording(3, (cpu) => (cpu === 1 ? { status: 'latched', reason: 'NMI latched while blocked' } : { status: 'delivered' }));
    const ic = new Interconnect(3, handlers);
    const { msg } = ic.send(0, nmi({ kind: 'all' }), 0);
    expect(ic.deliver(msg.id, 1)).toEqual({ msg, disposition: { status: 'latched', reason: 'NMI latched while blocked' } });
    expect(ic.deliver(msg.id, 2)).toEqual({ msg, disposition: { status: 'delivered' } });
    expect(calls).toEqual([
      { msg, to: 1 },
      { msg, to: 2 },
    ]);
    expect(ic.counts).toMatchObject({ delivered: 1, latched: 1, pending: 0, dropped: 0 });
    expect(ic.inFlightDeliveries).toBe(1);
  });

  it('a message leaves the in-flight set after its last delivery, and delivering it again throws', () => {
    const ic = new Interconnect(2, recording(2).handlers);
    const { msg } = ic.send(0, nmi({ kind: 'all' }), 0);
    ic.deliver(msg.id, 0);
    expect(ic.message(msg.id)).toBeDefined();
    ic.deliver(msg.id, 1);
    expect(ic.message(msg.id)).toBeUndefined();
    expect(ic.inFlightDeliveries).toBe(0);
    expect(() => ic.deliver(msg.id, 1)).toThrow(`message ${msg.id} is not in flight`);
  });

  it('deliver of a message id never sent throws, and the ledger is untouched', () => {
    const ic = new Interconnect(2, recording(2).handlers);
    ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0);
    const before = { ...ic.counts };
    expect(() => ic.deliver(99, 1)).toThrow(/message 99 is not in flight/);
    expect(() => ic.deliver(0, 1)).toThrow(/message 0 is not in flight/);
    expect(ic.counts).toEqual(before);
    expect(ic.inFlightDeliveries).toBe(1);
  });

  it('a message with no targets is counted as sent but owes no delivery', () => {
    const ic = new Interconnect(1, recording(1).handlers);
    const { msg, targets } = ic.send(0, nmi({ kind: 'all-but-self' }), 0);
    expect(targets).toEqual([]);
    expect(ic.counts).toMatchObject({ messages: 1, targets: 0 });
    expect(ic.inFlightDeliveries).toBe(0);
    expect(() => ic.deliver(msg.id, 0)).toThrow(/not in flight/);
  });

  it('a delivery to a CPU without a handler is counted dropped with a reason naming the CPU', () => {
    const ic = new Interconnect(2, recording(2).handlers);
    const { msg } = ic.send(0, nmi({ kind: 'mask', cpus: [1, 5] }), 0);
    expect(ic.deliver(msg.id, 5).disposition).toEqual({ status: 'dropped', reason: expect.stringMatching(/\bCPU 5\b/) as unknown as string });
    expect(ic.counts.dropped).toBe(1);
    expect(accounted(ic)).toBe(ic.counts.targets);
  });
});

// ---- the ledger property ----------------------------------------------------------------------

const reasonArb = fc.string({ minLength: 1, maxLength: 12 });
const dispositionArb: fc.Arbitrary<Disposition> = fc.oneof(
  fc.constant({ status: 'delivered' as const }),
  fc.record({ status: fc.constant('pending' as const), reason: reasonArb }),
  fc.record({ status: fc.constant('latched' as const), reason: reasonArb }),
  fc.record({ status: fc.constant('dropped' as const), reason: reasonArb }),
);

function destinationArb(cpus: number): fc.Arbitrary<Destination> {
  // CPU numbers run two past the last CPU, so some targets have no handler.
  const cpu = fc.integer({ min: 0, max: cpus + 1 });
  return fc.oneof(
    fc.record({ kind: fc.constant('cpu' as const), cpu }),
    fc.constant({ kind: 'all' as const }),
    fc.constant({ kind: 'all-but-self' as const }),
    fc.record({ kind: fc.constant('mask' as const), cpus: fc.array(cpu, { maxLength: 5 }) }),
  );
}

type LedgerOp = { op: 'send'; from: number | 'platform'; mode: DeliveryMode; dest: Destination } | { op: 'deliver'; k: number };

const ledgerRunArb = fc.integer({ min: 1, max: 6 }).chain((cpus) =>
  fc.record({
    cpus: fc.constant(cpus),
    hasHandler: fc.array(fc.boolean(), { minLength: cpus, maxLength: cpus }),
    answers: fc.array(dispositionArb, { minLength: 1, maxLength: 8 }),
    ops: fc.array<LedgerOp>(
      fc.oneof(
        {
          weight: 1,
          arbitrary: fc.record({
            op: fc.constant('send' as const),
            from: fc.oneof(fc.integer({ min: 0, max: cpus - 1 }), fc.constant('platform' as const)),
            mode: fc.constantFrom<DeliveryMode>('fixed', 'nmi', 'init', 'sipi', 'smi'),
            dest: destinationArb(cpus),
          }),
        },
        { weight: 2, arbitrary: fc.record({ op: fc.constant('deliver' as const), k: fc.nat() }) },
      ),
      { maxLength: 60 },
    ),
  }),
);

describe('Interconnect ledger', () => {
  it('after any sends and any subset of deliveries, delivered+pending+latched+dropped+in flight = targets, and every drop has a reason', () => {
    fc.assert(
      fc.property(ledgerRunArb, ({ cpus, hasHandler, answers, ops }) => {
        let answered = 0;
        let expected: Disposition | null = null;
        const handlers = new Map<number, DeliveryHandler>();
        hasHandler.forEach((has, cpu) => {
          if (has)
            handlers.set(cpu, () => {
              expected = answers[answered++ % answers.length] as Disposition;
              return expected;
            });
        });
        const ic = new Interconnect(cpus, handlers);
        // What each deliver() returned: the ledger's counts must agree with the answers given.
        const outcomes: { disposition: Disposition }[] = [];
        const owed: { id: number; to: number }[] = [];
        let sent = 0;
        let targets = 0;

        for (const o of ops) {
          if (o.op === 'send') {
            const { msg, targets: to } = ic.send(o.from, { mode: o.mode, vector: null, dest: o.dest, source: 'kernel' }, 0);
            expect(to).toEqual(targetsOf(o.dest, o.from, cpus));
            for (const t of to) owed.push({ id: msg.id, to: t });
            sent += 1;
            targets += to.length;
          } else if (owed.length > 0) {
            const [d] = owed.splice(o.k % owed.length, 1) as [{ id: number; to: number }];
            expected = null;
            const { msg, disposition } = ic.deliver(d.id, d.to);
            outcomes.push({ disposition });
            expect(msg.id).toBe(d.id);
            if (hasHandler[d.to]) expect(disposition).toEqual(expected);
            else expect(disposition).toMatchObject({ status: 'dropped', reason: expect.stringContaining(String(d.to)) as unknown as string });
          }
          expect(ic.counts.messages).toBe(sent);
          expect(ic.counts.targets).toBe(targets);
          expect(ic.inFlightDeliveries).toBe(owed.length);
          expect(accounted(ic)).toBe(ic.counts.targets);
        }

        for (const o of outcomes) if (o.disposition.status === 'dropped') expect(o.disposition.reason.length).toBeGreaterThan(0);
        for (const status of ['delivered', 'pending', 'latched', 'dropped'] as const)
          expect(ic.counts[status]).toBe(outcomes.filter((o) => o.disposition.status === status).length);

        // Delivering everything still owed empties the in-flight set and keeps the balance.
        for (const d of owed) ic.deliver(d.id, d.to);
        expect(ic.inFlightDeliveries).toBe(0);
        expect(accounted(ic)).toBe(ic.counts.targets);
        ic.close();
      }),
    );
  });

  it('a delivery after close is still accounted for: it throws or ends dropped with a reason, and the ledger balances', () => {
    const ic = new Interconnect(2, recording(2).handlers);
    const { msg } = ic.send(0, nmi({ kind: 'all' }), 0);
    ic.deliver(msg.id, 0);
    ic.close();
    let result: { disposition: Disposition } | null = null;
    try {
      result = ic.deliver(msg.id, 1);
    } catch {
      result = null;
    }
    if (result) expect(result.disposition).toMatchObject({ status: 'dropped', reason: expect.stringMatching(/\S/) as unknown as string });
    expect(accounted(ic)).toBe(ic.counts.targets);
  });

  it("a handler that throws: the error reaches deliver's caller at once, the delivery stays owed, and the ledger balances", () => {
    const bug = new Error('handler bug');
    const { handlers } = recording(2);
    handlers.set(0, () => {
      throw bug;
    });
    const ic = new Interconnect(2, handlers);
    const { msg } = ic.send(1, nmi({ kind: 'all' }), 0);
    expect(() => ic.deliver(msg.id, 0)).toThrow(bug);
    expect(ic.inFlightDeliveries).toBe(2);
    expect(accounted(ic)).toBe(ic.counts.targets);
    expect(ic.deliver(msg.id, 1).disposition).toEqual({ status: 'delivered' });
  });
});

describe('Interconnect save/restore', () => {
  function busy(): Interconnect {
    const answers: Disposition[] = [{ status: 'delivered' }, { status: 'pending', reason: 'IF=0' }, { status: 'dropped', reason: 'offline' }];
    const ic = new Interconnect(4, recording(4, (cpu) => answers[cpu % answers.length] as Disposition).handlers);
    const a = ic.send(0, nmi({ kind: 'all-but-self' }), 10).msg;
    const b = ic.send('platform', { mode: 'init', vector: null, dest: { kind: 'all' }, source: 'platform' }, 20).msg;
    ic.send(2, { mode: 'fixed', vector: 0xf8, dest: { kind: 'cpu', cpu: 3 }, source: 'kernel' }, 30);
    ic.deliver(a.id, 1);
    ic.deliver(a.id, 2);
    ic.deliver(a.id, 3);
    ic.deliver(b.id, 0);
    return ic;
  }

  it('restore(save()) into a fresh interconnect saves the same state, through JSON', () => {
    const ic = busy();
    const state = JSON.parse(JSON.stringify(ic.save())) as InterconnectState;
    const copy = new Interconnect(4, recording(4).handlers);
    copy.restore(state);
    expect(copy.save()).toEqual(ic.save());
    expect(copy.counts).toEqual(ic.counts);
    expect(copy.inFlightDeliveries).toBe(ic.inFlightDeliveries);
    expect(copy.message(2)).toEqual(ic.message(2));
  });

  it('a restored interconnect continues where the original was: same next id, same deliveries owed, same balance', () => {
    const ic = busy();
    const copy = new Interconnect(4, recording(4).handlers);
    copy.restore(ic.save());
    for (const bus of [ic, copy]) {
      expect(bus.send(1, nmi({ kind: 'cpu', cpu: 0 }), 40).msg.id).toBe(4);
      for (const to of [1, 2, 3]) bus.deliver(2, to);
      bus.deliver(3, 3);
      bus.deliver(4, 0);
      expect(bus.inFlightDeliveries).toBe(0);
      expect(accounted(bus)).toBe(bus.counts.targets);
      expect(() => bus.deliver(2, 0)).toThrow(/not in flight/);
    }
    expect(copy.counts.targets).toBe(ic.counts.targets);
    expect(copy.counts.messages).toBe(ic.counts.messages);
  });

  it('restore replaces what was in flight rather than adding to it', () => {
    const empty = new Interconnect(2, recording(2).handlers).save();
    const ic = new Interconnect(2, recording(2).handlers);
    const { msg } = ic.send(0, nmi({ kind: 'all' }), 0);
    ic.restore(empty);
    expect(ic.inFlightDeliveries).toBe(0);
    expect(ic.counts).toEqual(empty.counts);
    expect(() => ic.deliver(msg.id, 0)).toThrow(/not in flight/);
    expect(ic.send(0, nmi({ kind: 'all' }), 0).msg.id).toBe(1);
  });

  it('a saved state is a snapshot: later deliveries do not change it, and changing it does not change a restored bus', () => {
    const ic = busy();
    const state = ic.save();
    const snapshot = structuredClone(state);
    ic.deliver(2, 1);
    ic.deliver(3, 3);
    expect(state).toEqual(snapshot);
    const copy = new Interconnect(4, recording(4).handlers);
    copy.restore(state);
    (state.inFlight[0] as { remaining: number }).remaining = 99;
    state.counts.targets = 0;
    expect(copy.save()).toEqual(snapshot);
  });
});

describe('Interconnect: NMIs collapse into one already on its way to the same CPU', () => {
  const collapsing = (cpus: number) => new Interconnect(cpus, recording(cpus).handlers, { collapseNmis: true });

  it('N CPUs each sending NMI-to-all-but-self leave at most one NMI in flight per CPU', () => {
    const cpus = 16;
    const ic = collapsing(cpus);
    let deliveries = 0;
    for (let from = 0; from < cpus; from++) deliveries += ic.send(from, nmi({ kind: 'all-but-self' }), 0).targets.length;
    expect(ic.inFlightDeliveries).toBe(cpus);
    expect(deliveries).toBe(cpus);
    // Every delivery is still accounted for: the collapsed ones ended as dropped.
    expect(ic.counts.targets).toBe(cpus * (cpus - 1));
    expect(accounted(ic)).toBe(cpus * (cpus - 1));
  });

  it('says which NMI a delivery became part of; once that one arrives, the next NMI travels on its own', () => {
    const ic = collapsing(2);
    const first = ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0);
    expect(first.targets).toEqual([1]);
    const second = ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 5);
    expect(second.targets).toEqual([]);
    expect(second.collapsed).toEqual([{ to: 1, into: first.msg.id }]);
    ic.deliver(first.msg.id, 1);
    expect(ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 9).targets).toEqual([1]);
  });

  it('only NMIs of the same source collapse, and other kinds of message never', () => {
    const ic = collapsing(2);
    ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0);
    expect(ic.send(0, { mode: 'nmi', vector: null, dest: { kind: 'cpu', cpu: 1 }, source: 'watchdog' }, 0).targets).toEqual([1]);
    expect(ic.send(0, { mode: 'fixed', vector: 0xf8, dest: { kind: 'cpu', cpu: 1 }, source: 'kernel' }, 0).targets).toEqual([1]);
    expect(ic.send(0, { mode: 'fixed', vector: 0xf8, dest: { kind: 'cpu', cpu: 1 }, source: 'kernel' }, 0).targets).toEqual([1]);
  });

  it('without the option (exploration) every NMI travels on its own', () => {
    const ic = new Interconnect(2, recording(2).handlers);
    ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0);
    expect(ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0).targets).toEqual([1]);
  });

  it('what is on its way is saved and restored with the rest', () => {
    const ic = collapsing(2);
    const first = ic.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0);
    const copy = collapsing(2);
    copy.restore(ic.save());
    expect(copy.send(0, nmi({ kind: 'cpu', cpu: 1 }), 0).collapsed).toEqual([{ to: 1, into: first.msg.id }]);
  });
});
