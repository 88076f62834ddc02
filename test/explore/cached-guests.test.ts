/**
 * The transition cache with guest actors (vCPUs, VMM threads, vhost-vsock devices as slots after
 * the CPUs): on every built-in scenario with guests it must visit the same states, take the same
 * transitions, reach the same end states and report the same counterexamples as the direct engine,
 * and (verify) every transition it applies from its cache must land on the state the simulation
 * itself reaches.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ExploreResult } from '../../src/explore/explorer.js';
import { both } from './engines.js';
import { BUILTIN_SCENARIOS, RACE_SCENARIOS, findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';

function scenarioOf(id: string, preset?: string): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(id);
  const raw = { ...b.raw, ...(preset ? { kernel: { preset } } : {}) };
  const r = validateScenario(raw, b.id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

function strip(r: ExploreResult) {
  return { complete: r.complete, statesVisited: r.statesVisited, transitions: r.transitions, maxDepth: r.maxDepth, violations: r.violations, ends: r.ends };
}


const withGuests = [...BUILTIN_SCENARIOS, ...RACE_SCENARIOS]
  .filter((b) => {
    const s = scenarioOf(b.id);
    return s.vcpus.length > 0 || s.vsock.length > 0;
  })
  .map((b) => b.id);

describe('transition cache with guests: the same search as the direct engine', () => {
  it('there are built-ins with guests, with vsock devices among them', () => {
    expect(withGuests).toEqual(expect.arrayContaining(['T-L2', 'T14']));
    expect(withGuests.some((id) => scenarioOf(id).vsock.length > 0)).toBe(true);
  });
  for (const id of withGuests) {
    it(`${id}, first 3,000 states`, () => {
      const { direct, cached, stats } = both(scenarioOf(id), { maxStates: 3_000 });
      expect(strip(cached)).toEqual(strip(direct));
      // Decisions came from the cache (each checked against the simulation by verify).
      if (direct.transitions > 200) expect(stats.hits).toBeGreaterThan(0);
    });
  }
  it('T14 with the vhost worker\'s CPU panicking: a step that looks at a CPU only for whether it runs tasks is keyed on that', () => {
    // A host send wakes the worker, and a worker's interrupt the vCPU thread, only on a CPU that
    // runs tasks: the cache keys those steps on that bit of the CPU, not on its chart, so an
    // effect recorded while CPU 2 ran tasks must not be reused once it stopped (verify checks).
    const b = findBuiltin('T14');
    if (!b) throw new Error('T14');
    const script = [...((b.raw as { script?: unknown[] }).script ?? []), { at: 0, cpu: 2, do: 'panic' }];
    const r = validateScenario({ ...b.raw, script }, 'T14', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    for (const reduction of [true, false]) {
      const { direct, cached } = both(r.scenario, { maxStates: 800, reduction });
      expect(strip(cached)).toEqual(strip(direct));
    }
  });
  it('T14 with its vCPU pinned to the vhost worker\'s CPU: a step that looks at a vCPU or VMM thread only through whether it is in run or can step is keyed on that', () => {
    // The worker runs only while no vCPU is inside KVM_RUN on its CPU, and its interrupt makes the
    // vCPU's and VMM thread's steps pending or not: the cache keys those steps on those bits of the
    // threads (and their pending steps), not on their charts, so an effect recorded with other
    // bits must not be reused (verify checks every one).
    const b = findBuiltin('T14');
    if (!b) throw new Error('T14');
    const raw = structuredClone(b.raw) as { vms: { vsock: { worker: number }; vcpus: { cpu: number }[] }[] };
    for (const vm of raw.vms) for (const v of vm.vcpus) v.cpu = vm.vsock.worker;
    const r = validateScenario(raw, 'T14', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    for (const reduction of [true, false]) {
      const { direct, cached } = both(r.scenario, { maxStates: 3_000, reduction });
      expect(strip(cached)).toEqual(strip(direct));
    }
  });
  it('T14 with a panic on its vCPU\'s CPU: whether the vCPU and VMM threads can step after a vhost worker\'s interrupt is looked up by the bits the step leaves', () => {
    // The worker's effect on the device is keyed on the device; whether the threads it interrupts
    // can step then is a function of their CPU's task state and their own bits, kept apart
    // (refresh-table.ts). The panic stops CPU 1 running tasks at some point of each path, so the
    // same worker step leaves the threads runnable on one path and not on another: an answer looked
    // up by too few bits would give a pending step that is not there (verify checks each one).
    const b = findBuiltin('T14');
    if (!b) throw new Error('T14');
    for (const at of [0, 500]) {
      const script = [...((b.raw as { script?: unknown[] }).script ?? []), { at, cpu: 1, do: 'panic' }];
      const r = validateScenario({ ...b.raw, script }, 'T14', validationContext);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      for (const reduction of [true, false]) {
        const { direct, cached, stats } = both(r.scenario, { maxStates: 3_000, reduction });
        expect(strip(cached)).toEqual(strip(direct));
        expect(stats.apart ?? 0).toBeGreaterThan(0);
      }
    }
  }, 120_000);
  it('T14: a vhost worker\'s step gives both outcomes of its kick, the IPI sent or not by one bit of the vCPU after its interrupt', () => {
    // The step is recorded as if the kick was not sent, and with it (kick-table.ts): the effect the
    // step did not take is keyed on the other value of the vCPU's bit, and has the IPI's delivery,
    // record and footprint added or taken away. An effect keyed on too little of the vCPU, or with
    // the IPI's part wrong, lands on another state than the simulation's (verify checks each hit).
    const b = findBuiltin('T14');
    if (!b) throw new Error('T14');
    for (const reduction of [true, false]) {
      const { direct, cached, stats } = both(scenarioOf('T14'), { maxStates: 3_000, reduction });
      expect(strip(cached)).toEqual(strip(direct));
      expect(stats.kicks ?? 0).toBeGreaterThan(0);
    }
    // The vCPU pinned to the worker's CPU: there it is never in guest mode when the worker runs.
    const raw = structuredClone(b.raw) as { vms: { vsock: { worker: number }; vcpus: { cpu: number }[] }[] };
    for (const vm of raw.vms) for (const v of vm.vcpus) v.cpu = vm.vsock.worker;
    const r = validateScenario(raw, 'T14', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const { direct, cached } = both(r.scenario, { maxStates: 3_000 });
    expect(strip(cached)).toEqual(strip(direct));
  }, 120_000);
  for (const id of ['T-L2', 'T14']) {
    it(`${id} on v5.10, first 8,000 states`, () => {
      const { direct, cached } = both(scenarioOf(id, 'v5.10'), { maxStates: 8_000 });
      expect(strip(cached)).toEqual(strip(direct));
    }, 120_000);
  }
});

describe('transition cache with guests: many vCPUs on one CPU', () => {
  it('15 vCPUs pinned on one CPU: a runnability look with more inputs than an exact lookup key holds is keyed into its effect', () => {
    // Each input takes three bits of the lookup key (refresh-table.ts); 16 inputs and 32 slots pass
    // 2^53, where distinct keys round to one and one thread was given another's answer.
    const vcpus = Array.from({ length: 15 }, () => ({ cpu: 1, guest: { l1: ['nop', 'spin'] } }));
    const raw = { name: 'many-vcpus-one-cpu', machine: { cpus: 2 }, vms: [{ vcpus }], script: [{ cpu: 0, do: 'reboot', at: 20000 }] };
    const r = validateScenario(raw, 'many-vcpus-one-cpu', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const { direct, cached } = both(r.scenario, { maxStates: 1_000 });
    expect(strip(cached)).toEqual(strip(direct));
  });
});

describe('transition cache with guests: random variations (fast-check)', () => {
  it('any built-in with guests, any kernel, with or without sleep sets, a panic added: the same search as the direct engine', () => {
    const presets = ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'];
    fc.assert(
      fc.property(fc.constantFrom(...withGuests), fc.constantFrom(...presets), fc.boolean(), fc.integer({ min: 0, max: 2 }), (id, preset, reduction, panicCpu) => {
        const b = findBuiltin(id);
        if (!b) throw new Error(id);
        const raw = b.raw as { machine?: { cpus?: number }; script?: unknown[] };
        const cpus = raw.machine?.cpus ?? 2;
        // A panic on some CPU at the start as well: host and guest actors race from the first step.
        const script = [...(raw.script ?? []), { at: 0, cpu: panicCpu % cpus, do: 'panic' }];
        const r = validateScenario({ ...b.raw, kernel: { preset }, script }, id, validationContext);
        if (!r.ok) throw new Error(JSON.stringify(r.errors));
        const { direct, cached } = both(r.scenario, { maxStates: 800, reduction });
        expect(strip(cached)).toEqual(strip(direct));
      }),
      { numRuns: 25 },
    );
  }, 300_000);
});
