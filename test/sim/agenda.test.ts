import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Agenda, type AgendaState, type Item, type ItemBody } from '../../src/sim/agenda.js';

const step = (cpu: number): ItemBody => ({ kind: 'step', cpu });
const seqs = (items: readonly Item[]): number[] => items.map((i) => i.seq);
const times = (items: readonly Item[]): number[] => items.map((i) => i.time);

/** Every ready item knows its own index, so remove() and takeReady() are O(1). */
function expectPositionsConsistent(agenda: Agenda): void {
  agenda.ready.forEach((item, i) => {
    expect(item.pos).toBe(i);
    expect(item.dead).toBe(false);
  });
}

describe('Agenda: what is due now is ready, the rest waits', () => {
  it('an item due now, or already overdue, is ready at once without advancing', () => {
    const agenda = new Agenda();
    const now = agenda.add(step(0), 0);
    expect(agenda.ready).toEqual([now]);
    agenda.add(step(1), 100);
    expect(agenda.advance()).toBe(true);
    agenda.takeReady(0);
    expect(agenda.advance()).toBe(true);
    expect(agenda.now).toBe(100);
    agenda.takeReady(0);
    const overdue = agenda.add(step(2), 40);
    expect(agenda.ready).toEqual([overdue]);
    expect(agenda.now).toBe(100);
  });

  it('an item due later waits in the future and is not ready before the clock reaches it', () => {
    const agenda = new Agenda();
    const later = agenda.add(step(0), 10);
    expect(agenda.ready).toEqual([]);
    expect(later.pos).toBe(-1);
    expect(agenda.now).toBe(0);
  });

  it('advance on an empty agenda returns false and leaves the clock where it was', () => {
    const agenda = new Agenda();
    expect(agenda.advance()).toBe(false);
    expect(agenda.now).toBe(0);
  });

  it('advance while something is ready changes nothing (the clock only moves when nothing is ready)', () => {
    const agenda = new Agenda();
    agenda.add(step(0), 0);
    agenda.add(step(1), 5);
    expect(agenda.advance()).toBe(true);
    expect(agenda.now).toBe(0);
    expect(seqs(agenda.ready)).toEqual([0]);
  });

  it('advance moves the clock to the earliest due time and readies everything due then, nothing later', () => {
    const agenda = new Agenda();
    agenda.add(step(0), 30);
    agenda.add(step(1), 10);
    agenda.add(step(2), 20);
    agenda.add(step(3), 10);
    expect(agenda.advance()).toBe(true);
    expect(agenda.now).toBe(10);
    expect(agenda.ready.map((i) => (i as Item & { cpu: number }).cpu)).toEqual([1, 3]);
    expectPositionsConsistent(agenda);
  });

  it('items come due in (time, seq) order: earlier time first, and at equal times in the order they were added', () => {
    const agenda = new Agenda();
    const order = [50, 10, 30, 10, 20, 50, 10, 40];
    order.forEach((t, cpu) => agenda.add(step(cpu), t));
    const seen: [number, number][] = [];
    while (agenda.advance()) {
      seen.push(...agenda.ready.map((i): [number, number] => [i.time, i.seq]));
      while (agenda.ready.length > 0) agenda.takeReady(agenda.ready.length - 1);
    }
    expect(seen).toEqual([
      [10, 1],
      [10, 3],
      [10, 6],
      [20, 4],
      [30, 2],
      [40, 7],
      [50, 0],
      [50, 5],
    ]);
  });

  it('the ready list after an advance is in (time, seq) order, including items of the same time added out of order', () => {
    const agenda = new Agenda();
    const a = agenda.add(step(0), 7);
    const b = agenda.add(step(1), 3);
    const c = agenda.add(step(2), 7);
    const d = agenda.add(step(3), 3);
    agenda.advance();
    expect(agenda.ready).toEqual([b, d]);
    agenda.takeReady(1);
    agenda.takeReady(0);
    agenda.advance();
    expect(agenda.ready).toEqual([a, c]);
    expect(times(agenda.ready)).toEqual([7, 7]);
  });
});

describe('Agenda: takeReady and remove are O(1) swap-removals', () => {
  function fourReady() {
    const agenda = new Agenda();
    const items = [agenda.add(step(0), 0), agenda.add(step(1), 0), agenda.add(step(2), 0), agenda.add(step(3), 0)];
    return { agenda, items: items as [Item, Item, Item, Item] };
  }

  it('takeReady(i) returns the item at i, marks it dead, and moves the last ready item into its slot', () => {
    const { agenda, items } = fourReady();
    const [a, b, c, d] = items;
    const taken = agenda.takeReady(1);
    expect(taken).toBe(b);
    expect(taken.dead).toBe(true);
    expect(taken.pos).toBe(-1);
    expect(agenda.ready).toEqual([a, d, c]);
    expectPositionsConsistent(agenda);
  });

  it('takeReady of the last index just shortens the list', () => {
    const { agenda, items } = fourReady();
    const [a, b, c, d] = items;
    expect(agenda.takeReady(3)).toBe(d);
    expect(agenda.ready).toEqual([a, b, c]);
    expectPositionsConsistent(agenda);
  });

  it('takeReady out of range throws naming the index and the ready count', () => {
    const { agenda } = fourReady();
    expect(() => agenda.takeReady(4)).toThrow(/4 of 4/);
    expect(() => agenda.takeReady(-1)).toThrow(/-1 of 4/);
  });

  it('remove of a ready item swaps the last into its slot, so a later remove of the moved item still finds it', () => {
    const { agenda, items } = fourReady();
    const [a, b, c, d] = items;
    agenda.remove(a);
    expect(agenda.ready).toEqual([d, b, c]);
    expect(a.dead).toBe(true);
    agenda.remove(d);
    expect(agenda.ready).toEqual([c, b]);
    expectPositionsConsistent(agenda);
  });

  it('remove is idempotent: removing twice, or removing a taken item, leaves the ready list alone', () => {
    const { agenda, items } = fourReady();
    const [a, b, c, d] = items;
    agenda.remove(b);
    agenda.remove(b);
    expect(agenda.ready).toEqual([a, d, c]);
    const taken = agenda.takeReady(0);
    agenda.remove(taken);
    expect(agenda.ready).toEqual([c, d]);
    expectPositionsConsistent(agenda);
  });
});

describe('Agenda: dead future items are skipped', () => {
  it('a removed future item never becomes ready and does not move the clock to its time', () => {
    const agenda = new Agenda();
    const early = agenda.add(step(0), 10);
    const late = agenda.add(step(1), 20);
    agenda.remove(early);
    expect(agenda.advance()).toBe(true);
    expect(agenda.now).toBe(20);
    expect(agenda.ready).toEqual([late]);
  });

  it('a removed future item among live ones due at the same time is dropped and the live ones are readied', () => {
    const agenda = new Agenda();
    const x = agenda.add(step(0), 10);
    const y = agenda.add(step(1), 10);
    const z = agenda.add(step(2), 10);
    agenda.remove(y);
    agenda.advance();
    expect(agenda.ready).toEqual([x, z]);
    expectPositionsConsistent(agenda);
  });

  it('when every future item is dead, advance returns false and the clock stays put', () => {
    const agenda = new Agenda();
    agenda.remove(agenda.add(step(0), 10));
    agenda.remove(agenda.add(step(1), 20));
    expect(agenda.advance()).toBe(false);
    expect(agenda.now).toBe(0);
  });
});

describe('Agenda: save and restore', () => {
  function busy(): { agenda: Agenda; items: Item[] } {
    const agenda = new Agenda();
    const items = [
      agenda.add(step(0), 0),
      agenda.add({ kind: 'deliver', msg: 4, cpu: 1 }, 0),
      agenda.add({ kind: 'timer', cpu: 2, name: 'reboot-wait' }, 15),
      agenda.add({ kind: 'script', index: 3 }, 5),
      agenda.add(step(3), 25),
      agenda.add(step(4), 5),
    ];
    return { agenda, items };
  }

  it('save holds the clock, the next seq, the ready list in order and the live future in (time, seq) order, without dead items', () => {
    const { agenda, items } = busy();
    agenda.remove(items[4] as Item);
    agenda.takeReady(0);
    const state = agenda.save();
    expect(state).toEqual({
      now: 0,
      seq: 6,
      ready: [{ kind: 'deliver', msg: 4, cpu: 1, seq: 1, time: 0 }],
      future: [
        { kind: 'script', index: 3, seq: 3, time: 5 },
        { kind: 'step', cpu: 4, seq: 5, time: 5 },
        // A timer also keeps when it was armed and its place (ordered deadlines).
        { kind: 'timer', cpu: 2, name: 'reboot-wait', seq: 2, time: 15, start: 0, ord: 0 },
      ],
    } satisfies AgendaState);
  });

  it('restore(save()) saves the same state again and returns every live item, ready first', () => {
    const { agenda } = busy();
    const state = JSON.parse(JSON.stringify(agenda.save())) as AgendaState;
    const { agenda: copy, items } = Agenda.restore(state);
    expect(copy.save()).toEqual(agenda.save());
    expect(seqs(items)).toEqual([0, 1, 3, 5, 2, 4]);
    expect(items.slice(0, 2)).toEqual(copy.ready);
    expectPositionsConsistent(copy);
  });

  it('a restored agenda continues the seq numbering, so ties after a restore break the same way', () => {
    const { agenda } = busy();
    const { agenda: copy } = Agenda.restore(agenda.save());
    expect(copy.add(step(9), 99).seq).toBe(agenda.add(step(9), 99).seq);
  });

  it('handles returned by restore drive the restored agenda (remove takes the item out of it)', () => {
    const { agenda } = busy();
    const { agenda: copy, items } = Agenda.restore(agenda.save());
    const timer = items.find((i) => i.kind === 'timer') as Item;
    copy.remove(timer);
    expect(copy.save().future.map((f) => f.kind)).not.toContain('timer');
    const readyOne = items[0] as Item;
    copy.remove(readyOne);
    expect(copy.ready).not.toContain(readyOne);
    expectPositionsConsistent(copy);
  });
});

// ---- a reference model, checked op by op ------------------------------------------------------

type Op =
  | { op: 'add'; delta: number }
  | { op: 'remove'; k: number }
  | { op: 'advance' }
  | { op: 'take'; k: number }
  | { op: 'save-restore' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), delta: fc.integer({ min: -5, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), k: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ op: 'advance' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('take' as const), k: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'save-restore' as const }) },
);

interface ModelItem {
  seq: number;
  time: number;
  live: boolean;
}

describe('Agenda against a reference model', () => {
  it('under any mix of add/remove/advance/takeReady/save-restore, the clock and the exact ready order match the model', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        let agenda = new Agenda();
        let handles = new Map<number, Item>();
        const model: ModelItem[] = [];
        let now = 0;
        let ready: number[] = [];

        const modelSwapRemove = (i: number): void => {
          const last = ready.pop() as number;
          if (i < ready.length) ready[i] = last;
        };

        for (const o of ops) {
          switch (o.op) {
            case 'add': {
              const time = Math.max(0, now + o.delta);
              const item = agenda.add({ kind: 'step', cpu: model.length }, time);
              expect(item.seq).toBe(model.length);
              handles.set(item.seq, item);
              model.push({ seq: item.seq, time, live: true });
              if (time <= now) ready.push(item.seq);
              break;
            }
            case 'remove': {
              if (model.length === 0) break;
              const m = model[o.k % model.length] as ModelItem;
              const handle = handles.get(m.seq);
              if (!handle) break; // taken or removed before a restore: the restored agenda never knew it
              agenda.remove(handle);
              if (m.live) {
                m.live = false;
                const i = ready.indexOf(m.seq);
                if (i >= 0) modelSwapRemove(i);
              }
              break;
            }
            case 'advance': {
              let more = true;
              if (ready.length === 0) {
                const future = model.filter((m) => m.live && !ready.includes(m.seq));
                if (future.length === 0) more = false;
                else {
                  now = Math.max(now, Math.min(...future.map((m) => m.time)));
                  ready = future
                    .filter((m) => m.time <= now)
                    .sort((a, b) => a.time - b.time || a.seq - b.seq)
                    .map((m) => m.seq);
                }
              }
              expect(agenda.advance()).toBe(more);
              break;
            }
            case 'take': {
              if (ready.length === 0) {
                expect(() => agenda.takeReady(0)).toThrow();
                break;
              }
              const i = o.k % ready.length;
              const expected = ready[i] as number;
              const item = agenda.takeReady(i);
              expect(item.seq).toBe(expected);
              expect(item.time).toBeLessThanOrEqual(now);
              (model[expected] as ModelItem).live = false;
              modelSwapRemove(i);
              break;
            }
            case 'save-restore': {
              const restored = Agenda.restore(JSON.parse(JSON.stringify(agenda.save())) as AgendaState);
              agenda = restored.agenda;
              handles = new Map(restored.items.map((i) => [i.seq, i]));
              expect([...handles.keys()].sort((a, b) => a - b)).toEqual(model.filter((m) => m.live).map((m) => m.seq));
              break;
            }
          }
          expect(agenda.now).toBe(now);
          expect(seqs(agenda.ready)).toEqual(ready);
          expectPositionsConsistent(agenda);
        }
      }),
    );
  });
});

describe('Agenda: ordered deadlines (untimed runs)', () => {
  const timer = (cpu: number): ItemBody => ({ kind: 'timer', cpu, name: 'wait' });
  const kinds = (agenda: Agenda): string[] => agenda.ready.map((i) => `${i.kind}${'cpu' in i ? i.cpu : ''}`).sort();
  const ordered = (): Agenda => {
    const agenda = new Agenda();
    agenda.ordered = true;
    return agenda;
  };

  it('two timers armed at the same time for the same duration expire in the order they were armed', () => {
    const agenda = ordered();
    agenda.add(timer(1), 1000);
    agenda.add(timer(0), 1000);
    expect(agenda.advance()).toBe(true);
    expect(kinds(agenda)).toEqual(['timer1']);
  });

  it('the later one waits until nothing else can happen after the earlier one expired', () => {
    const agenda = ordered();
    agenda.add(timer(0), 1000);
    agenda.add(timer(1), 1000);
    agenda.advance();
    agenda.takeReady(0);
    // CPU 0 runs on after its timeout: CPU 1's deadline, a moment later, is not due yet.
    agenda.add(step(0), agenda.now);
    expect(kinds(agenda)).toEqual(['step0']);
    agenda.takeReady(0);
    expect(agenda.advance()).toBe(true);
    expect(agenda.now).toBe(1000);
    expect(kinds(agenda)).toEqual(['timer1']);
  });

  it('deadlines armed at different times that fall together are a choice (their order is unknown)', () => {
    const agenda = ordered();
    agenda.add(timer(0), 2000);
    agenda.add(step(1), 1000);
    agenda.advance();
    agenda.takeReady(0);
    agenda.add(timer(1), 2000); // armed 1000 later for 1000 less
    agenda.advance();
    expect(kinds(agenda)).toEqual(['timer0', 'timer1']);
  });

  it('a timer re-armed goes after the others armed with it', () => {
    const agenda = ordered();
    const first = agenda.add(timer(0), 1000);
    agenda.add(timer(1), 1000);
    agenda.remove(first);
    agenda.add(timer(0), 1000);
    agenda.advance();
    expect(kinds(agenda)).toEqual(['timer1']);
  });

  it('save and restore keep the order and the held-back timer', () => {
    const agenda = ordered();
    agenda.add(timer(0), 1000);
    agenda.add(timer(1), 1000);
    agenda.advance();
    agenda.takeReady(0);
    agenda.add(step(0), agenda.now);
    const { agenda: back } = Agenda.restore(agenda.save(), true);
    expect(kinds(back)).toEqual(['step0']);
    back.takeReady(0);
    back.advance();
    expect(kinds(back)).toEqual(['timer1']);
  });

  it('timed runs are not ordered: both expire together, a choice', () => {
    const agenda = new Agenda();
    agenda.add(timer(0), 1000);
    agenda.add(timer(1), 1000);
    agenda.advance();
    expect(kinds(agenda)).toEqual(['timer0', 'timer1']);
  });
});

describe('Agenda: a step item done with is made again', () => {
  it('the next step added reuses it, with every field its own; no other kind does, nor a live item', () => {
    const agenda = new Agenda();
    const a = agenda.add({ kind: 'step', cpu: 3 }, 0);
    const live = agenda.add({ kind: 'step', cpu: 4 }, 5);
    // Not taken yet (still in the agenda): not reused.
    agenda.recycle(live);
    expect(agenda.add({ kind: 'step', cpu: 5 }, 7)).not.toBe(live);
    const taken = agenda.takeReady(a.pos);
    expect(taken).toBe(a);
    agenda.recycle(taken);
    // A timer or a delivery is a fresh object; the spare waits for a step.
    const timer = agenda.add({ kind: 'timer', cpu: 1, name: 't' }, 9);
    expect(timer).not.toBe(a);
    const again = agenda.add({ kind: 'step', cpu: 8 }, 12);
    expect(again).toBe(a);
    const fresh = agenda.add({ kind: 'step', cpu: 8 }, 12) as Item & { cpu: number; msg: number; name: string; index: number };
    expect({ ...again }).toEqual({ ...fresh, seq: (again as Item).seq });
    expect(again.seq).toBe(fresh.seq - 1);
    expect(again.dead).toBe(false);
    expect(again.time).toBe(12);
    // The heap still orders it with the rest.
    agenda.remove(live);
    const order: number[] = [];
    while (agenda.advance()) {
      const i = agenda.takeReady(0) as Item & { cpu: number };
      order.push(i.kind === 'step' ? i.cpu : -1);
    }
    expect(order).toEqual([5, -1, 8, 8]);
  });
});
