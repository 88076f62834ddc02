/**
 * The interconnect: messages in, deliveries out, and a ledger in which every delivery of every
 * message ends as delivered, pending at the target, latched, or dropped with a reason — or is still
 * in flight. When deliveries happen is not the bus's business: the simulator's scheduler decides
 * (no timing operators here; time belongs to the scheduler).
 */
import { Subject, type Subscription } from 'rxjs';
import type { OutgoingMessage } from '../hw/apic.js';
import type { Disposition } from '../kernel/port.js';
import { targetsOf, type DeliveryOutcome, type DeliveryRequest, type Message } from './messages.js';
import { routeByTarget, type DeliveryHandler } from './route-by-target.js';

export interface LedgerCounts {
  messages: number;
  targets: number;
  delivered: number;
  pending: number;
  latched: number;
  dropped: number;
}

export interface InterconnectState {
  nextId: number;
  counts: LedgerCounts;
  inFlight: { msg: Message; remaining: number }[];
}

export class Interconnect {
  private nextId = 1;
  private readonly inFlight = new Map<number, { msg: Message; remaining: number }>();
  readonly counts: LedgerCounts = { messages: 0, targets: 0, delivered: 0, pending: 0, latched: 0, dropped: 0 };
  private readonly requests$ = new Subject<DeliveryRequest>();
  /** Every delivery and how it ended, in order. */
  readonly outcomes$ = new Subject<DeliveryOutcome>();
  private readonly subscription: Subscription;
  private last: Disposition | null = null;
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly cpus: number,
    handlers: ReadonlyMap<number, DeliveryHandler>,
  ) {
    this.subscription = this.requests$.pipe(routeByTarget(handlers)).subscribe({
      next: (outcome) => {
        this.counts[outcome.disposition.status] += 1;
        this.last = outcome.disposition;
        this.outcomes$.next(outcome);
      },
      // A handler that throws ends the routing; deliver() rethrows it to its caller at once
      // instead of letting RxJS report it later, outside the scheduler's loop.
      error: (error: unknown) => {
        this.failure = { error };
      },
    });
  }

  /** Accept a message; returns it with the CPUs it must reach (one delivery each). */
  send(from: number | 'platform', out: OutgoingMessage, now: number): { msg: Message; targets: number[] } {
    const msg: Message = { id: this.nextId++, from, ...out, sentAt: now };
    const targets = targetsOf(out.dest, from, this.cpus);
    this.counts.messages += 1;
    this.counts.targets += targets.length;
    if (targets.length > 0) this.inFlight.set(msg.id, { msg, remaining: targets.length });
    return { msg, targets };
  }

  /** Deliver message `id` to `to` now; the target's handler says how it ended. */
  deliver(id: number, to: number): { msg: Message; disposition: Disposition } {
    const entry = this.inFlight.get(id);
    if (!entry) throw new Error(`message ${id} is not in flight`);
    this.last = null;
    this.requests$.next({ msg: entry.msg, to });
    if (this.failure) throw this.failure.error;
    let disposition: Disposition | null = this.last;
    if (disposition === null) {
      disposition = { status: 'dropped', reason: 'the interconnect is closed' };
      this.counts.dropped += 1;
    }
    entry.remaining -= 1;
    if (entry.remaining === 0) this.inFlight.delete(id);
    return { msg: entry.msg, disposition };
  }

  message(id: number): Message | undefined {
    return this.inFlight.get(id)?.msg;
  }

  /** Deliveries sent but not yet made. */
  get inFlightDeliveries(): number {
    let n = 0;
    for (const e of this.inFlight.values()) n += e.remaining;
    return n;
  }

  save(): InterconnectState {
    // Messages are never changed once sent; only the remaining count moves.
    return { nextId: this.nextId, counts: { ...this.counts }, inFlight: [...this.inFlight.values()].map((e) => ({ msg: e.msg, remaining: e.remaining })) };
  }

  restore(state: InterconnectState): void {
    this.nextId = state.nextId;
    Object.assign(this.counts, state.counts);
    this.inFlight.clear();
    for (const e of state.inFlight) this.inFlight.set(e.msg.id, { msg: e.msg, remaining: e.remaining });
  }

  close(): void {
    this.subscription.unsubscribe();
    this.requests$.complete();
    this.outcomes$.complete();
  }
}
