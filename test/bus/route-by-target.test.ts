import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Message, DeliveryOutcome, DeliveryRequest } from '../../src/bus/messages.js';
import { routeByTarget, type DeliveryHandler } from '../../src/bus/route-by-target.js';
import type { Disposition } from '../../src/kernel/port.js';

const msg: Message = { id: 1, from: 0, mode: 'nmi', vector: null, dest: { kind: 'all-but-self' }, source: 'kernel', sentAt: 0 };
const req = (to: number): DeliveryRequest => ({ msg, to });

const DELIVERED: Disposition = { status: 'delivered' };
const PENDING: Disposition = { status: 'pending', reason: 'NMIs blocked' };

/** Two CPUs with handlers that record what they were given. */
function handlers(): { map: Map<number, DeliveryHandler>; calls: DeliveryRequest[] } {
  const calls: DeliveryRequest[] = [];
  const map = new Map<number, DeliveryHandler>([
    [
      0,
      (r) => {
        calls.push(r);
        return DELIVERED;
      },
    ],
    [
      1,
      (r) => {
        calls.push(r);
        return PENDING;
      },
    ],
  ]);
  return { map, calls };
}

describe('routeByTarget', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it("routes each request to its target's handler and emits that handler's disposition", () => {
    const { map, calls } = handlers();
    const values = { a: req(0), b: req(1), c: req(0) };
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c|', values);
      expectObservable(source.pipe(routeByTarget(map))).toBe('-x-y-z|', {
        x: { request: values.a, disposition: DELIVERED },
        y: { request: values.b, disposition: PENDING },
        z: { request: values.c, disposition: DELIVERED },
      } satisfies Record<string, DeliveryOutcome>);
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
    // Each handler saw exactly its own CPU's requests, in order.
    expect(calls.map((r) => r.to)).toEqual([0, 1, 0]);
    expect(calls[1]).toBe(values.b);
  });

  it('a request for a CPU with no handler is dropped with a reason naming that CPU, and no handler runs', () => {
    const { map, calls } = handlers();
    const values = { a: req(7), b: req(1) };
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b|', values).pipe(routeByTarget(map))).toBe('-x-y|', {
        x: { request: values.a, disposition: { status: 'dropped', reason: expect.stringMatching(/\bCPU 7\b/) as unknown as string } },
        y: { request: values.b, disposition: PENDING },
      });
    });
    expect(calls.map((r) => r.to)).toEqual([1]);
  });

  it('an empty source completes at once with nothing routed', () => {
    const { map, calls } = handlers();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<DeliveryRequest>('|');
      expectObservable(source.pipe(routeByTarget(map))).toBe('|');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
    expect(calls).toEqual([]);
  });

  it('a never source neither emits nor completes, and stays subscribed', () => {
    const { map, calls } = handlers();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<DeliveryRequest>('-');
      expectObservable(source.pipe(routeByTarget(map))).toBe('-');
      expectSubscriptions(source.subscriptions).toBe('^');
    });
    expect(calls).toEqual([]);
  });

  it('an error from the source propagates unchanged after the requests before it were routed', () => {
    const { map, calls } = handlers();
    const linkDown = new Error('link down');
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-#', { a: req(0) }, linkDown);
      expectObservable(source.pipe(routeByTarget(map))).toBe('-x-#', { x: { request: req(0), disposition: DELIVERED } }, linkDown);
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    expect(calls).toHaveLength(1);
  });

  it('an error thrown by a handler errors the output and unsubscribes from the source', () => {
    const boom = new Error('handler bug');
    const map = new Map<number, DeliveryHandler>([
      [
        0,
        () => {
          throw boom;
        },
      ],
    ]);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b|', { a: req(0), b: req(0) });
      expectObservable(source.pipe(routeByTarget(map))).toBe('-#', undefined, boom);
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  it('after an early unsubscribe no handler is called for later requests', () => {
    const { map, calls } = handlers();
    const values = { a: req(0), b: req(1), c: req(0), d: req(1) };
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-|', values);
      expectObservable(source.pipe(routeByTarget(map)), '^---!').toBe('-x-y-', {
        x: { request: values.a, disposition: DELIVERED },
        y: { request: values.b, disposition: PENDING },
      });
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
    expect(calls).toEqual([values.a, values.b]);
  });
});
