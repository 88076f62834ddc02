/**
 * The interconnect: messages in, deliveries out, and a ledger in which every delivery of every
 * message ends as delivered, pending at the target, latched, or dropped with a reason — or is still
 * in flight. When deliveries happen is not the bus's business: the simulator's scheduler decides
 * (no timing operators here; time belongs to the scheduler). Each call returns what it did: `send`
 * the deliveries owed, `deliver` how the delivery ended; nothing is left in a field for the caller
 * to read afterwards, and no stream carries it (the trace records are the stream observers read).
 */
import type { MessageSource, OutgoingMessage } from '../hw/apic.js';
import type { Disposition } from '../kernel/port.js';
import { targetsOf, type DeliveryRequest, type Message } from './messages.js';

/** A CPU's side of a delivery: how the message ended there (O(1) lookup by target, whatever the CPU count). */
export type DeliveryHandler = (request: DeliveryRequest) => Disposition;

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
  /** With collapsing: for each [target, source], the NMI message on its way there. */
  nmis?: [number, MessageSource, number][];
}

/** A delivery that became part of an NMI already on its way to the same CPU, and which one. */
export interface Collapsed {
  to: number;
  into: number;
}

const SOURCES: readonly MessageSource[] = ['kernel', 'watchdog', 'platform', 'script'];
const nmiKey = (to: number, source: MessageSource): number => to * SOURCES.length + SOURCES.indexOf(source);

/** Why a collapsed delivery ends where it does (the ledger's reason). */
export function collapsedReason(c: Collapsed): string {
  return `collapsed into NMI message ${c.into}, still on its way to CPU ${c.to} (at most one NMI is pending: SDM Vol. 3A "Handling Multiple NMIs")`;
}

export interface InterconnectOptions {
  /**
   * An NMI sent to a CPU that an NMI of the same source is already on its way to becomes part of
   * that one, as a second NMI does at a CPU where one is pending: the processor has a single NMI
   * latch (SDM Vol. 3A "Handling Multiple NMIs"), so both arriving together is one of the schedules
   * the hardware allows. In-flight NMIs are then at most one per CPU and source, where N CPUs each
   * sending NMI-to-all made N² deliveries wait in the agenda. Off for exploration, which must also
   * see the schedules where the second NMI arrives after the first was handled.
   */
  collapseNmis?: boolean;
}

export class Interconnect {
  private nextId = 1;
  private readonly inFlight = new Map<number, { msg: Message; remaining: number }>();
  readonly counts: LedgerCounts = { messages: 0, targets: 0, delivered: 0, pending: 0, latched: 0, dropped: 0 };
  private closed = false;

  /** With collapsing: [target, source] → the NMI message on its way there. */
  private readonly nmis = new Map<number, number>();
  private readonly collapseNmis: boolean;

  constructor(
    private readonly cpus: number,
    private readonly handlers: ReadonlyMap<number, DeliveryHandler>,
    options: InterconnectOptions = {},
  ) {
    this.collapseNmis = options.collapseNmis ?? false;
  }

  /**
   * Accept a message; returns it with the CPUs it must reach (one delivery each) and, with NMI
   * collapsing, the deliveries that became part of an NMI already on its way (ended as dropped, with
   * `collapsedReason`; the caller reports them).
   */
  send(from: number | 'platform', out: OutgoingMessage, now: number): { msg: Message; targets: number[]; collapsed: Collapsed[] } {
    const msg: Message = { id: this.nextId++, from, ...out, sentAt: now };
    let targets = targetsOf(out.dest, from, this.cpus);
    this.counts.messages += 1;
    this.counts.targets += targets.length;
    const collapsed: Collapsed[] = [];
    if (this.collapseNmis && out.mode === 'nmi') {
      const own: number[] = [];
      for (const to of targets) {
        const key = nmiKey(to, out.source);
        const into = this.nmis.get(key);
        if (into === undefined) {
          this.nmis.set(key, msg.id);
          own.push(to);
        } else collapsed.push({ to, into });
      }
      this.counts.dropped += collapsed.length;
      targets = own;
    }
    if (targets.length > 0) this.inFlight.set(msg.id, { msg, remaining: targets.length });
    return { msg, targets, collapsed };
  }

  /**
   * Deliver message `id` to `to` now; returns how it ended, as the target's handler says (a handler
   * that throws leaves the delivery in flight and the error goes to the caller).
   */
  deliver(id: number, to: number): { msg: Message; disposition: Disposition } {
    const entry = this.inFlight.get(id);
    if (!entry) throw new Error(`message ${id} is not in flight`);
    const handler = this.closed ? undefined : this.handlers.get(to);
    const disposition: Disposition = handler
      ? handler({ msg: entry.msg, to })
      : { status: 'dropped', reason: this.closed ? 'the interconnect is closed' : `no CPU ${to} on the interconnect` };
    this.counts[disposition.status] += 1;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.inFlight.delete(id);
    if (this.collapseNmis && entry.msg.mode === 'nmi') {
      const key = nmiKey(to, entry.msg.source);
      if (this.nmis.get(key) === id) this.nmis.delete(key);
    }
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
    const state: InterconnectState = { nextId: this.nextId, counts: { ...this.counts }, inFlight: [...this.inFlight.values()].map((e) => ({ msg: e.msg, remaining: e.remaining })) };
    if (this.nmis.size > 0) {
      state.nmis = [...this.nmis].map(([key, id]) => [Math.floor(key / SOURCES.length), SOURCES[key % SOURCES.length] as MessageSource, id]);
    }
    return state;
  }

  restore(state: InterconnectState): void {
    this.nextId = state.nextId;
    Object.assign(this.counts, state.counts);
    this.inFlight.clear();
    for (const e of state.inFlight) this.inFlight.set(e.msg.id, { msg: e.msg, remaining: e.remaining });
    this.nmis.clear();
    for (const [to, source, id] of state.nmis ?? []) this.nmis.set(nmiKey(to, source), id);
  }

  /** Later deliveries end dropped ('the interconnect is closed'). */
  close(): void {
    this.closed = true;
  }
}
