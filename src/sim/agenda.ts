/**
 * What can happen next, on the virtual clock: CPU steps, message deliveries, timers and scripted
 * actions, each due at an integer nanosecond. Items due now are "ready"; the scheduler's chooser
 * picks among them. Future items wait in a binary heap ordered by (time, seq), so advancing the
 * clock and picking are O(log n) and O(1) whatever the CPU count.
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
  /** Index in the ready list, or -1 while in the future heap. */
  pos: number;
  dead: boolean;
};

export interface AgendaState {
  now: number;
  seq: number;
  ready: ItemBody extends infer B ? (B & { seq: number; time: number })[] : never;
  future: (ItemBody & { seq: number; time: number })[];
}

function before(a: Item, b: Item): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class Agenda {
  now = 0;
  private seq = 0;
  private heap: Item[] = [];
  readonly ready: Item[] = [];

  add(body: ItemBody, time: number): Item {
    const item = this.make(body, this.seq++, time);
    if (time <= this.now) this.pushReady(item);
    else this.pushHeap(item);
    return item;
  }

  private make(body: ItemBody, seq: number, time: number): Item {
    // One object shape for every kind keeps the heap's comparisons monomorphic.
    const b = body as Partial<Record<'cpu' | 'msg' | 'index', number>> & { kind: ItemBody['kind']; name?: string };
    return {
      kind: b.kind,
      cpu: b.cpu ?? -1,
      msg: b.msg ?? -1,
      name: b.name ?? '',
      index: b.index ?? -1,
      seq,
      time,
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

  /** Move the clock to the next due time if nothing is ready; false when nothing is left at all. */
  advance(): boolean {
    while (this.ready.length === 0) {
      while (this.heap.length > 0 && (this.heap[0] as Item).dead) this.popHeap();
      const head = this.heap[0];
      if (!head) return false;
      this.now = Math.max(this.now, head.time);
      while (this.heap.length > 0 && (this.heap[0] as Item).time <= this.now) {
        const item = this.popHeap();
        if (!item.dead) this.pushReady(item);
      }
    }
    return true;
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
      switch (i.kind) {
        case 'step':
        case 'vcpu':
        case 'vmm':
        case 'vhost':
          return { kind: i.kind, cpu: i.cpu, ...base };
        case 'deliver':
          return { kind: i.kind, msg: i.msg, cpu: i.cpu, ...base };
        case 'timer':
          return { kind: i.kind, cpu: i.cpu, name: i.name, ...base };
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
  static restore(state: AgendaState): { agenda: Agenda; items: Item[] } {
    const agenda = new Agenda();
    agenda.now = state.now;
    agenda.seq = state.seq;
    const items: Item[] = [];
    const revive = (r: ItemBody & { seq: number; time: number }): Item => {
      const item = agenda.make(r, r.seq, r.time);
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

  private pushHeap(item: Item): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as Item, h[parent] as Item)) break;
      [h[i], h[parent]] = [h[parent] as Item, h[i] as Item];
      i = parent;
    }
  }

  private popHeap(): Item {
    const h = this.heap;
    const top = h[0] as Item;
    const last = h.pop() as Item;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l] as Item, h[m] as Item)) m = l;
        if (r < h.length && before(h[r] as Item, h[m] as Item)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Item, h[i] as Item];
        i = m;
      }
    }
    return top;
  }
}
