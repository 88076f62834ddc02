import { describe, expect, it } from 'vitest';
import { ObserverSets, ObserverSteps, stateText } from '../../src/explore/observer-sets.js';
import { allObservers } from '../../src/spec/index.js';
import { codeOnly } from '../machines/source-scan.js';
import type { TraceRecord } from '../../src/trace/records.js';

const header: TraceRecord = { t: 'header', v: 1, scenario: 'R2', seed: 0, mode: 'untimed', options: { kdump: true, panicTimeout: 0, initOnlyReset: false }, cpus: 4, vendor: 'intel', preset: 'v5.10', switches: [] };
const sent = { t: 'kernel', ns: 5, cpu: 0, what: 'shootdown-sent', data: {} } as TraceRecord;

describe('observer sets (the transition cache keeps each observer state once)', () => {
  it('gives equal observers one id, and a copy that a record changed another', () => {
    const sets = new ObserverSets();
    const root = allObservers();
    for (const o of root) if (o.reads.includes('header')) o.observe(header);
    const a = sets.intern(root, -1);
    // Copies with the same content: the same set, and its observers are the first ones.
    const copies = root.map((o) => o.clone());
    expect(sets.intern(copies, -1)).toBe(a);
    expect(sets.get(a)).toEqual(root);
    expect(sets.get(a)[0]).toBe(root[0]);
    // One observer shown a shootdown: another set, sharing the others.
    const changed = [...root];
    const i = changed.findIndex((o) => o.property === 'shootdown-acked');
    changed[i] = (changed[i] as (typeof changed)[number]).clone();
    (changed[i] as (typeof changed)[number]).observe(sent);
    const b = sets.intern(changed, a);
    expect(b).not.toBe(a);
    expect(sets.get(b)[i]).toBe(changed[i]);
    expect(sets.get(b)[0]).toBe(root[0]);
    expect(sets.size).toEqual({ observers: root.length + 1, sets: 2 });
    expect(sets.violationCount(a)).toBe(0);
  });

  it('every observer of src/spec/ keeps its state where stateText sees it: no #private field, one class per name, every field own and enumerable', () => {
    const observers = allObservers();
    const names = observers.map((o) => (Object.getPrototypeOf(o) as { constructor: { name: string } }).constructor.name);
    expect(new Set(names).size).toBe(names.length);
    for (const o of observers) {
      const ctor = (Object.getPrototypeOf(o) as { constructor: (...args: never[]) => unknown }).constructor;
      // A private field shows in the class's own source as #name (comments and strings blanked).
      expect(codeOnly(Function.prototype.toString.call(ctor))).not.toMatch(/#[A-Za-z_$]/);
      // Whatever a record may set later is a field from the start (an own, enumerable property).
      for (const k of Reflect.ownKeys(o)) expect(Object.getOwnPropertyDescriptor(o, k)?.enumerable).toBe(true);
    }
  });

  it('tells states apart by type and content, not by how they print', () => {
    const texts = [1, '1', -0, 0, NaN, null, undefined, true, 'true', [1], new Set([1]), new Map([[1, 1]]), { a: 1 }, { a: '1' }, [undefined], [, 1], [1, ,]].map(stateText); // eslint-disable-line no-sparse-arrays
    expect(new Set(texts).size).toBe(texts.length);
    expect(() => stateText({ f: () => 1 })).toThrow(/cannot be compared/);
    expect(() => stateText(new Date(0))).toThrow(/cannot be compared/);
  });

  it('keeps an observer whose state it cannot compare on its own, never merged with another', () => {
    const sets = new ObserverSets();
    const first = allObservers()[0] as ReturnType<typeof allObservers>[number];
    const odd = (when: Date) => Object.assign(Object.create(Object.getPrototypeOf(first) as object) as object, first, { when }) as typeof first;
    const a = sets.intern([odd(new Date(0))], -1);
    const b = sets.intern([odd(new Date(1))], -1);
    expect(b).not.toBe(a);
    expect(sets.size.observers).toBe(2);
  });

  it('remembers what an effect made of a set of observers on one clock only', () => {
    const steps = new ObserverSteps();
    steps.add(3, 7, 100, 4, 1234);
    expect(steps.find(3, 7, 100)).toBeGreaterThanOrEqual(0);
    expect(steps.setOf(steps.find(3, 7, 100))).toBe(4);
    expect(steps.memoryOf(steps.find(3, 7, 100))).toBe(1234);
    expect([steps.find(3, 7, 101), steps.find(3, 8, 100), steps.find(2, 7, 100)]).toEqual([-1, -1, -1]);
  });
});
