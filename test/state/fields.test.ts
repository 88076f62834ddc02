/**
 * Every field of every state codec, in turn, matters: generated from the codecs themselves, so a
 * new field is covered without touching this file. For each field, on states reached by walking
 * built-in scenarios, a second state that differs only in that field (its value in another reached
 * state, or another value its codec gives) must have another state key and state hash in the
 * simulation itself; and the same codec with just that field left out (`without`) must no longer
 * tell the two apart — the check this test makes is the one a missed field fails. A field a codec
 * leaves out of the identity is listed by name with its reason, and shown not to change the key.
 */
import { describe, expect, it } from 'vitest';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { Simulation, type Capture, type ItemView } from '../../src/sim/simulation.js';
import { type Codec } from '../../src/state/codec.js';
import { fieldPaths, nestedStruct, type FieldInfo, type StructCodec } from '../../src/state/struct.js';
import { CPU_STATE } from '../../src/state/cpu.js';
import { MEMORY } from '../../src/state/memory.js';
import { FLAGS } from '../../src/state/flags.js';
import { MESSAGE, PENDING, type PendingItem } from '../../src/state/pending.js';
import { VCPU_STATE, VMM_STATE, VSOCK_STATE } from '../../src/state/guests.js';

function scenario(id: string, preset: string, cpus?: number): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(id);
  const r = validateScenario({ ...b.raw, ...(cpus ? { machine: { cpus } } : {}), kernel: { preset } }, b.id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

interface Reached {
  sim: Simulation;
  captures: Capture[];
  items: ItemView[];
}

/** Up to `limit` distinct states of an untimed walk (breadth first) of the scenario, as captures. */
function reach(s: Scenario, limit: number): Reached {
  const sim = new Simulation(s, { seed: 0, mode: 'untimed', engine: 'compiled', lean: true, maxSteps: 1e9 });
  sim.header();
  const seen = new Set<number>();
  const captures: Capture[] = [];
  const items: ItemView[] = [];
  const queue = [sim.capture()];
  for (let head = 0; head < queue.length && captures.length < limit; head++) {
    sim.restoreCapture(queue[head] as Capture);
    const h = sim.stateHash();
    if (seen.has(h)) continue;
    seen.add(h);
    captures.push(queue[head] as Capture);
    items.push(...sim.view().items);
    const n = sim.poll();
    if (n === 0) continue;
    const after = sim.capture();
    for (let i = 0; i < n; i++) {
      sim.restoreCapture(after);
      sim.decide(i);
      queue.push(sim.capture());
    }
  }
  return { sim, captures, items };
}

const WALKS: Reached[] = [
  reach(scenario('R2', 'v5.11', 3), 1500),
  reach(scenario('R2', 'mainline', 2), 800),
  reach(scenario('T4-sysrq', 'mainline'), 800),
  reach(scenario('T5', 'v5.11'), 800),
  reach(scenario('T7', 'mainline'), 800),
  reach(scenario('T-L2', 'mainline'), 800),
  reach(scenario('T14', 'mainline'), 800),
];

/** A part of the machine state: its codec, its values in a capture, and a capture with one replaced. */
interface Root<V> {
  codec: StructCodec<V>;
  values(c: Capture): V[];
  /** `c` with value number `at` replaced (and the remembered key parts of it forgotten). */
  with(c: Capture, at: number, v: V): Capture;
  /** Fields naming a chart configuration: only values reached elsewhere are put there (any other may not be a chart state). */
  configuration?: string;
}

type GuestList = 'vcpus' | 'vmms' | 'devices';
function guestRoot<V extends { paths: string[]; context: unknown }>(codec: StructCodec<V>, list: GuestList): Root<V> {
  return {
    codec,
    // The program point as the capture holds it (active node numbers) stands in for the paths.
    values: (c) => (c.guests?.[list] ?? []).map((g) => ({ paths: g.leaves.map(String), context: g.context }) as unknown as V),
    with: (c, at, v) => {
      const guests = c.guests as NonNullable<Capture['guests']>;
      const actors = [...guests[list]] as { leaves: number[]; context: unknown; status: 'active' | 'done' }[];
      const old = actors[at] as (typeof actors)[number];
      actors[at] = { ...old, leaves: v.paths.map(Number), context: v.context };
      return { ...c, guests: { ...guests, [list]: actors } };
    },
    configuration: 'paths',
  };
}

const ROOTS: Root<never>[] = [
  {
    codec: CPU_STATE,
    values: (c) => c.cpus.map((cap) => ({ leaves: cap.leaves, context: cap.context })),
    with: (c, at, v) => {
      const cpus = [...c.cpus];
      cpus[at] = { ...(cpus[at] as Capture['cpus'][number]), leaves: v.leaves, context: v.context };
      const hashes = [...c.hashes];
      const keys = [...c.keys];
      hashes[at] = 0;
      keys[at] = null;
      return { ...c, cpus, hashes, keys };
    },
    configuration: 'leaves',
  } satisfies Root<(typeof CPU_STATE) extends StructCodec<infer V> ? V : never>,
  { codec: MEMORY, values: (c) => [c.memory], with: (c, _at, v) => ({ ...c, memory: v, memKey: null, memHash: 0 }) } satisfies Root<Capture['memory']>,
  { codec: FLAGS, values: (c) => [c.flags], with: (c, _at, v) => ({ ...c, flags: v }) } satisfies Root<Capture['flags']>,
  {
    codec: MESSAGE,
    values: (c) => c.bus.inFlight.map((f) => f.msg),
    with: (c, at, v) => ({ ...c, bus: { ...c.bus, inFlight: c.bus.inFlight.map((f, i) => (i === at ? { ...f, msg: v } : f)) } }),
  } satisfies Root<Capture['bus']['inFlight'][number]['msg']>,
  guestRoot(VCPU_STATE, 'vcpus'),
  guestRoot(VMM_STATE, 'vmms'),
  guestRoot(VSOCK_STATE, 'devices'),
] as unknown as Root<never>[];

function getPath(v: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], v);
}

function setPath<V>(v: V, path: readonly string[], x: unknown): V {
  const [head, ...tail] = path as [string, ...string[]];
  const o = v as Record<string, unknown>;
  return { ...o, [head]: tail.length === 0 ? x : setPath(o[head], tail, x) } as V;
}

const SEED = 0x5eed;
const keyOf = (sim: Simulation, c: Capture) => {
  sim.restoreCapture(c);
  return { key: sim.stateKey(), hash: sim.stateHash() };
};

/** A reached state and another state differing from it only in the field at `path`, if the walks give one. */
function mutation(root: Root<never>, path: readonly string[], field: FieldInfo) {
  const codec = field.codec as Codec<unknown>;
  for (const w of WALKS) {
    // Values of the field anywhere in this walk, by their text.
    const seen = new Map<string, unknown>();
    for (const c of w.captures) for (const v of root.values(c)) seen.set(codec.text(getPath(v, path)), getPath(v, path));
    for (const c of w.captures) {
      const values = root.values(c);
      for (let at = 0; at < values.length; at++) {
        const v = values[at] as never;
        const mine = codec.text(getPath(v, path));
        let other = [...seen].find(([t]) => t !== mine)?.[1];
        if (other === undefined && root.configuration !== path[0]) other = codec.others(getPath(v, path))[0];
        if (other === undefined) continue;
        return { walk: w, capture: c, at, value: v, mutant: setPath(v, path, other) as never };
      }
    }
  }
  return null;
}

for (const root of ROOTS) {
  describe(`${root.codec.name}: every field is part of the state's identity, or says why not`, () => {
    for (const { path, field } of fieldPaths(root.codec as StructCodec<unknown>)) {
      const name = `${root.codec.name}.${path.join('.')}`;
      if (field.omitted) {
        it(`${name} is left out of the identity (${field.omitted.omitted}): ${field.omitted.why}`, () => {
          expect(field.omitted?.why.length).toBeGreaterThan(20);
          if (field.omitted?.omitted === 'constant') {
            // Constant indeed: each actor's value is the same in every state a walk reaches.
            for (const w of WALKS) {
              const texts = new Map<number, Set<string>>();
              for (const c of w.captures) {
                root.values(c).forEach((v, at) => {
                  const set = texts.get(at) ?? new Set<string>();
                  set.add(JSON.stringify(getPath(v, path)) ?? '');
                  texts.set(at, set);
                });
              }
              for (const set of texts.values()) expect(set.size).toBe(1);
            }
            return;
          }
          const m = mutation(root, path, field);
          if (!m) return;
          const codec = root.codec as StructCodec<unknown>;
          expect(codec.text(m.mutant)).toBe(codec.text(m.value));
          expect(codec.hash(SEED, m.mutant)).toBe(codec.hash(SEED, m.value));
        });
        continue;
      }
      it(`${name}: the state key and hash tell apart states that differ only there; left out, they do not`, () => {
        const m = mutation(root, path, field);
        expect(m, `no reached state of ${root.codec.name} to change ${path.join('.')} in`).not.toBeNull();
        if (!m) return;
        // The simulation's own key and hash see the field.
        const before = keyOf(m.walk.sim, m.capture);
        const after = keyOf(m.walk.sim, root.with(m.capture, m.at, m.mutant));
        expect(after.key).not.toBe(before.key);
        expect(after.hash).not.toBe(before.hash);
        // Leaving the field out of the codec is exactly what this check catches.
        const codec = root.codec as StructCodec<unknown>;
        const without = codec.without(path);
        expect(codec.text(m.mutant)).not.toBe(codec.text(m.value));
        expect(codec.hash(SEED, m.mutant)).not.toBe(codec.hash(SEED, m.value));
        expect(without.text(m.mutant)).toBe(without.text(m.value));
        expect(without.hash(SEED, m.mutant)).toBe(without.hash(SEED, m.value));
      });
    }
  });
}

/** A pending item as the cache's view shows it, as it enters the state. */
function pendingOf(i: ItemView): PendingItem {
  switch (i.kind) {
    case 'timer':
      return { kind: 'timer', cpu: i.cpu, name: i.name, rel: i.rel, dur: i.dur, ord: i.ord, held: i.held };
    case 'deliver':
      return { kind: 'deliver', cpu: i.cpu, msg: i.msg };
    case 'script':
      return { kind: 'script', index: i.index, rel: i.rel };
    case 'step':
      return { kind: 'step', cpu: i.cpu };
    default:
      return { kind: i.kind, cpu: i.actor >= 0 ? i.actor : 0 };
  }
}

describe('pending items: every field of every kind is part of the state\'s identity', () => {
  const items = WALKS.flatMap((w) => w.items);
  for (const [kind, variant] of Object.entries(PENDING.variants) as [PendingItem['kind'], StructCodec<unknown>][]) {
    for (const { path, field } of fieldPaths(variant)) {
      it(`${kind}.${path.join('.')}: the item's key and hash see it; left out, they do not`, () => {
        const reached = items.filter((i) => i.kind === kind).map(pendingOf);
        // Kinds no walk reaches (a vhost worker's step is one) are tried on their codec's sample.
        const item = reached[0] ?? ({ ...(variant.sample() as object), kind } as PendingItem);
        const codec = field.codec as Codec<unknown>;
        const other = reached.map((x) => getPath(x, path)).find((x) => codec.text(x) !== codec.text(getPath(item, path))) ?? codec.others(getPath(item, path))[0];
        const mutant = setPath(item, path, other);
        expect(PENDING.text(mutant)).not.toBe(PENDING.text(item));
        expect(PENDING.hash(SEED, mutant)).not.toBe(PENDING.hash(SEED, item));
        const without = variant.without(path);
        expect(without.text(mutant)).toBe(without.text(item));
        expect(without.hash(SEED, mutant)).toBe(without.hash(SEED, item));
      });
    }
  }
});

describe('the codecs reach every struct nested in them', () => {
  it('no field of a struct codec hides a struct the walk above does not enter', () => {
    for (const root of ROOTS) {
      for (const { field } of fieldPaths(root.codec as StructCodec<unknown>)) expect(field.omitted !== null || nestedStruct(field.codec) === null).toBe(true);
    }
  });
});
