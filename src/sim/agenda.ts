/**
 * What can happen next, on the virtual clock: CPU steps, message deliveries, timers and scripted
 * actions, each due at an integer nanosecond. Items due now are "ready"; the scheduler's chooser
 * picks among them. Future items wait in a binary heap ordered by (time, seq), so advancing the
 * clock and picking are O(log n) and O(1) whatever the CPU count.
 *
 * Ordered deadlines (untimed runs, where steps take no time): timers keep their real-time order.
 * Two timers due at the same time that were armed at the same time (the same duration) expire in
 * the order they were armed — the later one was armed a few steps later, so in real time its
 * deadline is a little later — and the later one becomes due only when nothing else can happen
 * after the earlier one expired, as if its deadline were a moment later. Each timer carries the
 * time it was armed (`start`) and its place among the pending timers due and armed at the same
 * times as it (`ord`: one more than the largest such when it was armed). Deadlines whose order is
 * unknown (due at the same time, armed at different times) stay choices.
 */

export type ItemBody =
  | { kind: 'step'; cpu: number }
  | { kind: 'deliver'; msg: number; cpu: number }
  | { kind: 'timer'; cpu: number; name: string }
  | { kind: 'script'; index: number }
  /** A step of a vCPU thread / of a VMM thread (`cpu` is the vCPU's index). */
  | { kind: 'vcpu'; cpu: number }
  | { kind: 'vmm'; cpu: number }
  /** A run of a vhost worker (`cpu` is the vsock device's index). */
  | { kind: 'vhost'; cpu: number };

export type Item = ItemBody & {
  seq: number;
  time: number;
  /** When it was added (a timer's arming time). */
  start: number;
  /** Ordered deadlines: a timer's place among those due and armed at the same times (0 otherwise). */
  ord: number;
  /** Index in the ready list, or -1 while in the future heap. */
  pos: number;
  dead: boolean;
};

/** A saved item: a timer also keeps its arming time and place (absent: armed at `time`, place 0). */
export type SavedItem = ItemBody & { seq: number; time: number; start?: number; ord?: number };

export interface AgendaState {
  now: number;
  seq: number;
  ready: SavedItem[];
  /** Items not due yet, and (ordered deadlines) timers due but held back: due time at most `now`. */
  future: SavedItem[];
}

/** Two timers due at the same time and armed at the same time: their order is known. */
function sameDeadline(a: Item, b: Item): boolean {
  return a !== b && a.kind === 'timer' && b.kind === 'timer' && a.time === b.time && a.start === b.start && !a.dead && !b.dead;
}

function before(a: Item, b: Item): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class Agenda {
  now = 0;
  private seq = 0;
  private heap: Item[] = [];
  /**
   * Each heap entry's (time, seq), beside it: the sifts compare these dense arrays instead of reading
   * items scattered over the heap (the heap holds every CPU's next step: 8192 items, 13 levels).
   */
  private heapTime: number[] = [];
  private heapSeq: number[] = [];
  readonly ready: Item[] = [];
  /** Ordered deadlines (untimed runs): see the top of this file. */
  ordered = false;
  /**
   * Early script steps (untimed runs): the pending script steps due first are choices at any point
   * of the work, before their time (a run's steps take time, an untimed one's do not: a step due
   * 300 ns after another lands inside that one's work); those due later wait for them. When nothing
   * but early script steps can happen, the clock moves to the next deadline if it is due no later
   * than theirs (a timer's, or a held timer's), never to theirs: their real time is at least every
   * untimed clock up to it, and an untimed deadline is a lower bound of the real one.
   */
  earlyScripts = false;
  /** While set, every timer added is also appended here (the transition cache asks what was armed). */
  armed: Item[] | null = null;
  /**
   * A step item taken and done with (`recycle`), made again by the next `add` of a step: every step of a
   * large run adds one, and each lives about as long as a round of every CPU's steps, long enough for the
   * collector to copy and promote it.
   */
  private spare: Item | null = null;

  add(body: ItemBody, time: number): Item {
    const item = this.make(body, this.seq++, time, this.now, 0);
    if (this.ordered && item.kind === 'timer') {
      for (const other of this.live()) if (sameDeadline(other, item)) item.ord = Math.max(item.ord, other.ord + 1);
      this.armed?.push(item);
    }
    if (time <= this.now) this.pushReady(item);
    else this.pushHeap(item);
    return item;
  }

  /** A timer due (so far as time goes) but held back until nothing else can happen: see the top of this file. */
  held(item: Item): boolean {
    return item.pos < 0 && !item.dead && item.time <= this.now;
  }

  /** Item `item`, a step taken (`takeReady`) and done, is referenced nowhere any more: `add` may make it again. */
  recycle(item: Item): void {
    if (item.kind === 'step' && item.dead && item.pos < 0) this.spare = item;
  }

  private make(body: ItemBody, seq: number, time: number, start: number, ord: number): Item {
    // One object shape for every kind keeps the heap's comparisons monomorphic.
    const b = body as Partial<Record<'cpu' | 'msg' | 'index', number>> & { kind: ItemBody['kind']; name?: string };
    const spare = this.spare;
    if (spare && b.kind === 'step') {
      this.spare = null;
      // Every field written, in the same order as below.
      const s = spare as Item & { cpu: number; msg: number; name: string; index: number };
      s.kind = 'step';
      s.cpu = b.cpu ?? -1;
      s.msg = -1;
      s.name = '';
      s.index = -1;
      s.seq = seq;
      s.time = time;
      s.start = start;
      s.ord = ord;
      s.pos = -1;
      s.dead = false;
      return spare;
    }
    return {
      kind: b.kind,
      cpu: b.cpu ?? -1,
      msg: b.msg ?? -1,
      name: b.name ?? '',
      index: b.index ?? -1,
      seq,
      time,
      start,
      ord,
      pos: -1,
      dead: false,
    } as unknown as Item;
  }

  /** Every item still to happen: ready ones first, then the future ones. */
  live(): Item[] {
    return [...this.ready, ...this.heap.filter((i) => !i.dead)];
  }

  /** Take an item out wherever it is. */
  remove(item: Item): void {
    if (item.dead) return;
    item.dead = true;
    if (item.pos >= 0) this.removeReadyAt(item.pos);
  }

  /**
   * Move the clock to the next due time if nothing is ready; false when nothing is left at all. A
   * ready item is due but for early script steps (earlyScripts): with only those ready, the clock
   * moves to a deadline due no later than theirs, never to their own time, which would make the work
   * they start begin at it (untimed, that work takes no time, so a timer due a few hundred ns after it
   * could never fire inside it, as it does in a run); they happen at the clock as it is, a lower bound
   * of their real time like every untimed clock.
   */
  advance(): boolean {
    for (;;) {
      if (this.earlyScripts) this.releaseEarlyScripts();
      // The latest time the clock may move to: the early script steps' (all due at one time).
      let until = Infinity;
      // (Indexed: a timed run polls here once a step, its first ready item due.)
      for (let k = 0; k < this.ready.length; k++) {
        const t = (this.ready[k] as Item).time;
        // Something due can happen: the clock stays.
        if (t <= this.now) return true;
        until = Math.min(until, t);
      }
      while (this.heap.length > 0 && (this.heap[0] as Item).dead) this.popHeap();
      const head = this.heap[0];
      if (!head) return this.ready.length > 0;
      if (head.time > until) return true;
      this.now = Math.max(this.now, head.time);
      this.releaseDue();
    }
  }

  /**
   * The items due by now from the future into the ready list, but for the timers held back (ordered
   * deadlines: a timer armed after another one due with it waits for the next advance).
   */
  private releaseDue(): void {
    const due: Item[] = [];
    while (this.heap.length > 0 && (this.heap[0] as Item).time <= this.now) {
      const item = this.popHeap();
      if (!item.dead) due.push(item);
    }
    const hold = this.ordered ? due.filter((i) => i.kind === 'timer' && due.some((o) => sameDeadline(o, i) && o.ord < i.ord)) : [];
    for (const item of due) {
      if (hold.includes(item)) this.pushHeap(item);
      else this.pushReady(item);
    }
  }

  /**
   * With no script step in the ready list, the pending ones due first join it early (each moved as
   * a copy: its heap entry is let go as dead). A handful of script steps: a scan of the heap.
   */
  private releaseEarlyScripts(): void {
    for (const i of this.ready) if (i.kind === 'script') return;
    let first = Infinity;
    for (const i of this.heap) if (i.kind === 'script' && !i.dead) first = Math.min(first, i.time);
    if (first === Infinity) return;
    for (const i of this.heap) {
      if (i.kind !== 'script' || i.dead || i.time !== first) continue;
      i.dead = true;
      this.pushReady(this.make(i, i.seq, i.time, i.start, i.ord));
    }
  }

  /** Take the ready item at index i (the chooser's pick). */
  takeReady(i: number): Item {
    const item = this.ready[i];
    if (!item) throw new Error(`no ready item at ${i} of ${this.ready.length}`);
    this.removeReadyAt(i);
    item.dead = true;
    return item;
  }

  save(): AgendaState {
    const strip = (i: Item) => {
      const base = { seq: i.seq, time: i.time };
      const timer = i.start === i.time && i.ord === 0 ? {} : { start: i.start, ord: i.ord };
      switch (i.kind) {
        case 'step':
        case 'vcpu':
        case 'vmm':
        case 'vhost':
          return { kind: i.kind, cpu: i.cpu, ...base };
        case 'deliver':
          return { kind: i.kind, msg: i.msg, cpu: i.cpu, ...base };
        case 'timer':
          return { kind: i.kind, cpu: i.cpu, name: i.name, ...base, ...timer };
        case 'script':
          return { kind: i.kind, index: i.index, ...base };
      }
    };
    return {
      now: this.now,
      seq: this.seq,
      ready: this.ready.map(strip),
      future: this.heap.filter((i) => !i.dead).sort((a, b) => (before(a, b) ? -1 : 1)).map(strip),
    } as AgendaState;
  }

  /** Rebuild; returns every live item so the owner can re-index them. */
  static restore(state: AgendaState, ordered = false): { agenda: Agenda; items: Item[] } {
    const agenda = new Agenda();
    agenda.ordered = ordered;
    agenda.earlyScripts = ordered;
    agenda.now = state.now;
    agenda.seq = state.seq;
    const items: Item[] = [];
    const revive = (r: SavedItem): Item => {
      const item = agenda.make(r, r.seq, r.time, r.start ?? r.time, r.ord ?? 0);
      items.push(item);
      return item;
    };
    for (const r of state.ready) agenda.pushReady(revive(r));
    for (const f of state.future) agenda.pushHeap(revive(f));
    return { agenda, items };
  }

  private pushReady(item: Item): void {
    item.pos = this.ready.length;
    this.ready.push(item);
  }

  private removeReadyAt(i: number): void {
    const item = this.ready[i] as Item;
    const last = this.ready.pop() as Item;
    if (item !== last) {
      this.ready[i] = last;
      last.pos = i;
    }
    item.pos = -1;
  }

  // The sifts move a hole rather than swap pairs: one write per level (the heap holds every CPU's next step).
  private pushHeap(item: Item): void {
    const h = this.heap;
    const ht = this.heapTime;
    const hs = this.heapSeq;
    const t = item.time;
    const q = item.seq;
    let i = h.length;
    h.push(item);
    ht.push(t);
    hs.push(q);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = ht[parent] as number;
      // before(item, h[parent]), on the keys.
      if (!(t < pt || (t === pt && q < (hs[parent] as number)))) break;
      h[i] = h[parent] as Item;
      ht[i] = pt;
      hs[i] = hs[parent] as number;
      i = parent;
    }
    h[i] = item;
    ht[i] = t;
    hs[i] = q;
  }

  private popHeap(): Item {
    const h = this.heap;
    const ht = this.heapTime;
    const hs = this.heapSeq;
    const top = h[0] as Item;
    const last = h.pop() as Item;
    const lt = ht.pop() as number;
    const lq = hs.pop() as number;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        // before(h[r], h[l]) and before(child, last), on the keys.
        const m = r < n && ((ht[r] as number) < (ht[l] as number) || (ht[r] === ht[l] && (hs[r] as number) < (hs[l] as number))) ? r : l;
        const mt = ht[m] as number;
        const mq = hs[m] as number;
        if (!(mt < lt || (mt === lt && mq < lq))) break;
        h[i] = h[m] as Item;
        ht[i] = mt;
        hs[i] = mq;
        i = m;
      }
      h[i] = last;
      ht[i] = lt;
      hs[i] = lq;
    }
    return top;
  }
}
