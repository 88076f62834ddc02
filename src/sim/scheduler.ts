/**
 * The scheduler core: what the agenda's items do to the slots (slot.ts), and the outboxes their
 * steps fill. It knows slots, agenda items and effects, never which chip a slot is: a step item
 * steps its slot, a timer or a delivery goes to its slot, then the slot settles (its runnability,
 * the waiters its memory writes woke, the slots that depend on it, its triggers) or its family
 * reports what moved. Each chart step runs with an outbox (effects.ts) the scheduler applies: the
 * effects on the slots' own pending items and waiters here, the rest (bus, trace, flags, the guest
 * side) through the host (simulation.ts).
 */
import type { Agenda, Item } from './agenda.js';
import type { Effect, GuestEffect, Outbox } from './effects.js';
import type { Moved, Slot, SlotFamily, Trigger } from './slot.js';
import { inState, StatePattern } from './state-table.js';
import type { ScriptStep } from '../scenarios/types.js';

const NOTHING: readonly string[] = [];

/** The effects the guest side applies (`Guests.apply`); a queued outbox takes only these. */
const GUEST_EFFECTS: ReadonlySet<Effect['kind']> = new Set(Object.keys({ ioctl: 1, return: 1, died: 1, vsock: 1, injected: 1 } satisfies Record<GuestEffect['kind'], 1>) as GuestEffect['kind'][]);

/** What the scheduler needs from the composition root. */
export interface SchedulerHost {
  /** The agenda (a restore replaces it). */
  readonly agenda: Agenda;
  readonly untimed: boolean;
  /** How long a step takes (timed runs). */
  readonly stepNs: number;
  /** Which script steps fired (the flags; a restore replaces them). */
  readonly fired: boolean[];
  runScript(step: ScriptStep): void;
  /** Apply an effect outside the slots' pending items and waiters: the bus, the trace, the flags, the guest side. */
  apply(effect: Effect): void;
}

export class Scheduler {
  readonly slots: readonly Slot[];
  /** Which slot an agenda item's `cpu` field numbers, by item kind (from the families). */
  private readonly itemSlots: SlotFamily['items'];
  /**
   * Each slot's pending step and its timers by name (the agenda holds them; these find them), in two
   * arrays by slot rather than an object per slot: every step reads and writes them, and with
   * thousands of CPUs an object per slot is a cache miss each time.
   */
  private readonly steps: (Item | null)[];
  private readonly timers: (Map<string, Item> | null)[];
  /** The slots waiting on each shared variable, what each slot waits on, the waiters a write woke. */
  private readonly watchers = new Map<string, Set<number>>();
  private readonly watching: (readonly string[])[];
  private readonly dirty = new Set<number>();
  /** Script steps waiting for a slot's actor to enter a state, by slot. */
  private readonly triggers: (Trigger[] | undefined)[];
  /** The families that report what moved (slot.ts). */
  private readonly movers: readonly SlotFamily[];
  /** The outboxes of the chart steps running now (innermost last): the port writes into the last. */
  private readonly outboxes: Outbox[] = [];
  /**
   * Closed step outboxes, opened again by the next steps: every CPU step has one, and the caller reads what it
   * answered (`disposition`, `hostResult`) as soon as it is closed, before any other step opens one.
   */
  private readonly spare: { slot: number; order: 'after step'; effects: Effect[]; disposition: Outbox['disposition']; hostResult: string | null }[] = [];

  constructor(
    private readonly host: SchedulerHost,
    private readonly families: readonly SlotFamily[],
    script: readonly ScriptStep[],
  ) {
    this.slots = families.flatMap((f) => f.slots);
    this.movers = families.filter((f) => f.moved !== undefined);
    this.itemSlots = Object.assign({}, ...families.map((f) => f.items)) as SlotFamily['items'];
    this.steps = this.slots.map(() => null);
    this.timers = this.slots.map(() => null);
    this.watching = this.slots.map(() => NOTHING);
    this.triggers = this.slots.map(() => undefined);
    for (const step of script) {
      if (step.trigger.kind !== 'enters') continue;
      const { actor, cpu: index } = step.trigger;
      const slot = families.map((f) => f.triggerSlot(actor, index)).find((s) => s !== undefined);
      if (!slot) continue;
      const list = this.triggers[slot.id] ?? [];
      list.push({ step, pattern: new StatePattern(step.trigger.state) });
      this.triggers[slot.id] = list;
    }
  }

  /** The slot an agenda item moves (its step, timer or delivery). */
  slotOf(item: Item & { cpu: number }): Slot {
    const at = this.itemSlots[item.kind] as { base: number; stride: number };
    return this.slots[at.base + item.cpu * at.stride] as Slot;
  }

  /** The pending items are these (a fresh agenda, restored): file each under its slot. */
  reset(items: readonly Item[]): void {
    this.steps.fill(null);
    for (const t of this.timers) t?.clear();
    for (const item of items) {
      if (item.kind === 'script' || item.kind === 'deliver') continue;
      const id = this.slotOf(item).id;
      if (item.kind === 'timer') (this.timers[id] ??= new Map()).set(item.name, item);
      else this.steps[id] = item;
    }
  }

  /** One slot's step, timer or delivery, then the slot settles. */
  execute(item: Item & { cpu: number }): void {
    const slot = this.slotOf(item);
    if (item.kind === 'deliver') slot.receive?.(item.msg);
    else if (item.kind === 'timer') {
      this.timers[slot.id]?.delete(item.name);
      slot.timer?.(item.name);
    } else {
      this.steps[slot.id] = null;
      slot.step();
    }
    this.settle(slot);
  }

  /**
   * After a slot moved: the scheduler settles it (its runnability, the waiters its writes woke, the
   * slots that depend on it, its triggers), or its family reports it with what else moved.
   */
  settle(slot: Slot): void {
    if (slot.settledBy === 'family') {
      this.settleMoved();
      return;
    }
    const id = slot.id;
    this.dropDeadTimers(slot);
    this.refresh(id);
    if (this.dirty.size > 0) {
      const woken = [...this.dirty].sort((a, b) => a - b);
      this.dirty.clear();
      for (const w of woken) if (w !== id) this.refresh(w);
    }
    // The CPU's threads may run or stop now; a host exit it took moves the vCPU that was in its guest.
    for (const d of slot.dependents) this.refresh(d);
    this.settleMoved();
    this.fireTriggers(id);
  }

  /** What the families report moved: settle, look at again, fire triggers, until nothing more moves. */
  settleMoved(): void {
    const movers = this.movers;
    if (movers.length === 0) return;
    for (;;) {
      let any = false;
      for (const family of movers) {
        const moved = (family.moved as () => Moved | null).call(family);
        if (!moved) continue;
        any = true;
        for (const s of moved.settle) this.settle(this.slots[s] as Slot);
        for (const s of moved.refresh) this.refresh(s);
        for (const s of moved.triggers) this.fireTriggers(s);
      }
      if (!any) return;
    }
  }

  /** Whether slot `id` has a step pending follows whether it can take one. */
  refresh(id: number): void {
    const slot = this.slots[id] as Slot;
    const runnable = slot.runnable();
    this.updateWatch(id, slot.watches());
    const item = this.steps[id];
    if (runnable && !item) {
      const agenda = this.host.agenda;
      const due = this.host.untimed ? agenda.now : agenda.now + this.host.stepNs;
      this.steps[id] = agenda.add(slot.item, due);
    } else if (!runnable && item) {
      this.host.agenda.remove(item);
      this.steps[id] = null;
    }
  }

  /** Note what slot `id` waits on now (the waiters a write wakes). */
  updateWatch(id: number, next: readonly string[]): void {
    const prev = this.watching[id] as readonly string[];
    if (prev === next || (prev.length === 0 && next.length === 0)) return;
    for (const v of prev) this.watchers.get(v)?.delete(id);
    for (const v of next) {
      let set = this.watchers.get(v);
      if (!set) this.watchers.set(v, (set = new Set()));
      set.add(id);
    }
    this.watching[id] = next;
  }

  /** The steps waiting for slot `id`'s actor to enter a state it is now in: run them, each once. */
  private fireTriggers(id: number): void {
    const pending = this.triggers[id];
    if (!pending || pending.length === 0) return;
    const now = (this.slots[id] as Slot).activePaths();
    const fired = this.host.fired;
    const firing = pending.filter((t) => !fired[t.step.index] && inState(now, t.pattern));
    // Mark them all first: running one settles CPUs again, which must not fire the others twice.
    for (const t of firing) fired[t.step.index] = true;
    for (const t of firing) this.host.runScript(t.step);
  }

  /** Open the outbox of one chart step of slot `slot`: the port's calls go to it until `close`. */
  open(slot: number): Outbox {
    const outbox = this.spare.pop() ?? { slot, order: 'after step', effects: [], disposition: null, hostResult: null };
    outbox.slot = slot;
    outbox.disposition = null;
    outbox.hostResult = null;
    this.outboxes.push(outbox);
    return outbox;
  }

  /** The step is over: close its outbox and apply its effects, in the order they were asked for (none if the step failed). */
  close(outbox: Outbox, apply: boolean): void {
    if (this.outboxes.pop() !== outbox) throw new Error('internal error: outboxes closed out of order');
    if (apply) {
      for (const effect of outbox.effects) {
        // What the step answers its caller (the interconnect, a vCPU thread) is read off its outbox.
        if (effect.kind === 'account') outbox.disposition ??= effect.disposition;
        else if (effect.kind === 'host insn done') outbox.hostResult = effect.result;
        else this.apply(effect);
      }
    }
    // Applied (the effects it led to, other steps included, are done): empty, for the next step to open. Popped,
    // not cut by setting the length: that call into the runtime also gives up the array's room.
    const effects = outbox.effects as Effect[];
    while (effects.length > 0) effects.pop();
    this.spare.push(outbox as Scheduler['spare'][number]);
  }

  /**
   * Run `body`, work of the guest side, with a queued outbox: its effects are applied first in, first
   * out where the guest side drains it (see effects.ts), and what is left when the work is over.
   */
  queued(body: () => void): void {
    const outbox: Outbox = { slot: -1, order: 'queued', effects: [], disposition: null, hostResult: null };
    this.outboxes.push(outbox);
    try {
      body();
      this.drain();
    } finally {
      this.outboxes.pop();
    }
  }

  /** Apply the effects of the queued outbox open now, and those they queue, in order. */
  drain(): void {
    const outbox = this.outboxes[this.outboxes.length - 1];
    if (!outbox || outbox.order !== 'queued') return;
    while (outbox.effects.length > 0) this.apply(outbox.effects.shift() as Effect);
  }

  /**
   * Put an effect in the outbox of the step that asks for it. A queued outbox takes only the guest
   * effects: the rest (a vCPU thread writing kernel memory) is applied at once, as outside any step
   * (a script).
   */
  effect(effect: Effect): void {
    const outbox = this.outboxes[this.outboxes.length - 1];
    if (outbox && (outbox.order === 'after step' || GUEST_EFFECTS.has(effect.kind))) outbox.effects.push(effect);
    else this.apply(effect);
  }

  /** The slot's timers no one will ever read again leave the agenda (Slot.deadTimers). */
  private dropDeadTimers(slot: Slot): void {
    const timers = this.timers[slot.id];
    if (!timers || timers.size === 0 || !slot.deadTimers) return;
    for (const name of slot.deadTimers(timers.keys())) {
      this.host.agenda.remove(timers.get(name) as Item);
      timers.delete(name);
    }
  }

  /** What an effect does: to a slot's timers and to the waiters here, the rest through the host. */
  private apply(e: Effect): void {
    switch (e.kind) {
      case 'arm timer': {
        const agenda = this.host.agenda;
        const timers = (this.timers[e.cpu] ??= new Map());
        const old = timers.get(e.name);
        if (old) agenda.remove(old);
        timers.set(e.name, agenda.add({ kind: 'timer', cpu: e.cpu, name: e.name }, agenda.now + e.ns));
        return;
      }
      case 'cancel timer': {
        const timers = this.timers[e.cpu];
        const old = timers?.get(e.name);
        if (old) {
          this.host.agenda.remove(old);
          timers?.delete(e.name);
        }
        return;
      }
      case 'account':
      case 'host insn done':
        // Outside the step of the CPU they answer for (no delivery, no vCPU instruction waits): nothing.
        return;
      case 'mem': {
        this.host.apply(e);
        const set = this.watchers.get(e.name);
        if (set) for (const w of set) this.dirty.add(w);
        return;
      }
      default:
        this.host.apply(e);
    }
  }

}
