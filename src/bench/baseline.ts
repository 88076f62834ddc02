/**
 * The raw baseline of docs/architecture.md §4: N tiny XState actors behind one RxJS Subject and one subscription
 * that looks the target up in a Map and sends to it. What the chosen stack does with no simulator
 * around it; the simulator's steps/s is compared with this.
 */
import { createActor, setup, type Actor } from 'xstate';
import { Subject } from 'rxjs';
import { collect, now, PeakRss } from './measure.js';

const pingPong = setup({ types: { events: {} as { type: 'ping' } } }).createMachine({
  id: 'pingPong',
  initial: 'idle',
  states: {
    idle: { on: { ping: 'busy' } },
    busy: { on: { ping: 'idle' } },
  },
});

export interface BaselineResult {
  actors: number;
  events: number;
  buildMs: number;
  pushMs: number;
  eventsPerSec: number;
  peakRssMiB: number;
}

export function runBaseline(actors: number, events: number, peak: PeakRss): BaselineResult {
  collect();
  peak.reset();
  const t0 = now();
  const refs = new Map<number, Actor<typeof pingPong>>();
  for (let i = 0; i < actors; i++) {
    const ref = createActor(pingPong, { id: `a${i}` });
    ref.start();
    refs.set(i, ref);
  }
  const bus = new Subject<{ to: number; event: { type: 'ping' } }>();
  const sub = bus.subscribe(({ to, event }) => refs.get(to)?.send(event));
  const ping = { type: 'ping' } as const;
  const t1 = now();
  for (let i = 0; i < events; i++) {
    bus.next({ to: i % actors, event: ping });
    if ((i & 0xffff) === 0) peak.sample();
  }
  const t2 = now();
  const peakRssMiB = peak.peak();
  // Every actor saw events/actors pings: check one so the work cannot be skipped.
  const expected = Math.floor(events / actors) % 2 === 0 ? 'idle' : 'busy';
  const last = refs.get(actors - 1)?.getSnapshot().value;
  if (last !== expected) throw new Error(`baseline: actor ${actors - 1} is ${String(last)}, expected ${expected}`);
  sub.unsubscribe();
  bus.complete();
  for (const ref of refs.values()) ref.stop();
  return { actors, events, buildMs: t1 - t0, pushMs: t2 - t1, eventsPerSec: events / ((t2 - t1) / 1000), peakRssMiB };
}
