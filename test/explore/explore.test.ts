/**
 * `shootdown explore` on the races of docs/model.md §1.9 and §9, with no aiming: the explorer finds
 * the windows the aimed scenarios of T5 reach by hand, proves their absence once the fixes are on,
 * and every counterexample it reports replays through `shootdown run --replay`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { DEFAULT_EXPLORE, explore, type ExploreResult } from '../../src/explore/explorer.js';
import { jobsFor, mergeResults } from '../../src/explore/parallel.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { Simulation } from '../../src/sim/simulation.js';
import { runScenario } from '../../src/sim/run.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-explore-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const io = memoryIo;

interface Json {
  complete: boolean;
  statesVisited: number;
  violations: { property: string; message: string; traceFile: string; length: number }[];
}

async function exploreJson(args: string[]): Promise<{ code: number; json: Json }> {
  const t = io();
  const code = await main(['explore', ...args, '--json', '--out', dir], t.cli);
  return { code, json: JSON.parse(t.out()) as Json };
}

function race(id: string, preset: string, cpus: number): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(id);
  const r = validateScenario({ ...b.raw, machine: { cpus }, kernel: { preset } }, b.id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

/** Each reported trace replays, through the ordinary run command, to the same violation. */
async function replaysTo(v: Json['violations'][number]): Promise<void> {
  const t = io();
  expect(await main(['run', '--replay', v.traceFile, '--json'], t.cli), t.err()).toBe(0);
  const outcome = (JSON.parse(t.out()) as { outcome: { violations: { property: string; message: string }[] } }).outcome;
  expect(outcome.violations).toContainEqual({ property: v.property, message: v.message });
}

describe('explore R2: emergency restart on CPU0 against a kdump panic on CPU1, nothing aimed', () => {
  it('v5.11: finds the kvm_spurious_fault BUG and the missing ack; each trace replays to its violation (exit 1)', async () => {
    const { code, json } = await exploreJson(['R2', '--kernel', 'v5.11', '--all-violations']);
    expect(code).toBe(1);
    expect(json.complete).toBe(true);
    const bug = json.violations.find((v) => v.property === 'no-kernel-bug' && /VMCLEAR #UD in nmi context → kernel BUG/.test(v.message));
    const ack = json.violations.find((v) => v.property === 'shootdown-acked');
    expect(bug).toBeDefined();
    expect(ack).toBeDefined();
    // One BUG is one violation: the "kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)" line is
    // the VMCLEAR #UD's own BUG printing, not a second BUG "in a vCPU thread" (R2 has no vCPUs).
    expect(json.violations.some((v) => /kvm_spurious_fault|vCPU thread/.test(v.message))).toBe(false);
    expect(new Set(json.violations.map((v) => `${v.property}|${v.message}`)).size).toBe(json.violations.length);
    for (const v of json.violations) await replaysTo(v);
  });

  it('v5.10 with CPU0\'s loaded-VMCS list empty: finds the VMXOFF oops (no fixup in E0)', async () => {
    const { code, json } = await exploreJson(['R2-novmcs', '--kernel', 'v5.10', '--all-violations']);
    expect(code).toBe(1);
    const oops = json.violations.find((v) => v.property === 'no-kernel-bug' && /VMXOFF #UD in nmi context → oops/.test(v.message));
    expect(oops).toBeDefined();
    await replaysTo(oops as Json['violations'][number]);
  });

  it.each([2, 3])('mainline, %i CPUs, --property no-kernel-bug: complete, no violation (exit 0)', async (cpus) => {
    const { code, json } = await exploreJson(['R2', '--kernel', 'mainline', '--cpus', String(cpus), '--property', 'no-kernel-bug']);
    expect(json).toMatchObject({ complete: true, violations: [] });
    expect(code).toBe(0);
  });

  it('mainline, 3 CPUs, --property shootdown-acked: the counter-reset timeout of docs/model.md §9 item 2, with no fault at all', async () => {
    const { json } = await exploreJson(['R2', '--kernel', 'mainline', '--cpus', '3', '--property', 'shootdown-acked', '--all-violations']);
    const reset = json.violations.find((v) => /the counter was overwritten/.test(v.message));
    expect(reset).toBeDefined();
    await replaysTo(reset as Json['violations'][number]);
    const t = io();
    await main(['run', '--replay', (reset as Json['violations'][number]).traceFile, '--json'], t.cli);
    expect((JSON.parse(t.out()) as { outcome: { faults: unknown[] } }).outcome.faults).toEqual([]);
  });

  it('mainline, 2 CPUs, --property shootdown-acked: no counter-reset timeout; the one timeout is the kdump CPU kexecing before the restart\'s NMI reaches it (§9 item 3)', async () => {
    const { json } = await exploreJson(['R2', '--kernel', 'mainline', '--cpus', '2', '--property', 'shootdown-acked', '--all-violations']);
    expect(json.complete).toBe(true);
    expect(json.violations.some((v) => /the counter was overwritten/.test(v.message))).toBe(false);
    for (const v of json.violations) {
      expect(v.message).toBe('CPU 0 waited 1000 ms for its NMI shootdown: no ack from CPU 1');
      const trace = fs.readFileSync(v.traceFile, 'utf8');
      expect(trace).toContain('"what":"shootdown-refused"');
      expect(trace).toMatch(/"t":"kexec","ns":\d+,"cpu":1/);
    }
  });
});

describe('explore R1: the double shootdown', () => {
  it('v5.11: the second registration of the crash NMI handler is found', async () => {
    const { code, json } = await exploreJson(['R1', '--kernel', 'v5.11']);
    expect(code).toBe(1);
    expect(json.violations.some((v) => /list_add double add/.test(v.message))).toBe(true);
  });

  it('mainline: nothing', async () => {
    const { code, json } = await exploreJson(['R1', '--kernel', 'mainline']);
    expect(json).toMatchObject({ complete: true, violations: [] });
    expect(code).toBe(0);
  });
});

describe('reduction and determinism', () => {
  it.each([
    ['R2', 'v5.11'],
    ['R2', 'mainline'],
    ['R1', 'v5.10'],
  ])('%s on %s: sleep sets reach the same end states as the full search, with fewer transitions', (id, preset) => {
    const s = race(id, preset, 2);
    const full = explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', reduction: false, collectEnds: true });
    const reduced = explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', reduction: true, collectEnds: true });
    expect(full.complete && reduced.complete).toBe(true);
    expect(reduced.ends).toEqual(full.ends);
    expect(reduced.transitions).toBeLessThanOrEqual(full.transitions);
    const kinds = (r: ExploreResult) => r.violations.map((v) => `${v.property}|${v.message}`).sort();
    expect(kinds(reduced)).toEqual(kinds(full));
  });

  it.each(['random', 'pct'] as const)('%s: the same seed gives the same result', (strategy) => {
    const s = race('R2', 'v5.11', 3);
    const a = explore(s, { ...DEFAULT_EXPLORE, strategy, runs: 40, seed: 9 });
    const b = explore(s, { ...DEFAULT_EXPLORE, strategy, runs: 40, seed: 9 });
    expect({ ...b, elapsedMs: 0, firstViolationMs: 0 }).toEqual({ ...a, elapsedMs: 0, firstViolationMs: 0 });
    expect(a.violations.length).toBeGreaterThan(0);
  });

  it.each(['random', 'pct'] as const)('%s: --max-time stops the runs and says so in stoppedBy, as exhaustive search does', (strategy) => {
    const s = race('R2', 'v5.11', 3);
    // A bound already spent: no run starts.
    const spent = explore(s, { ...DEFAULT_EXPLORE, strategy, runs: 40, seed: 9, maxTimeMs: 0 });
    expect(spent.stoppedBy).toEqual(['max-time', 'sampled']);
    expect(spent.transitions).toBe(0);
    expect(spent.violations).toEqual([]);
    // A bound never reached changes nothing.
    const free = explore(s, { ...DEFAULT_EXPLORE, strategy, runs: 40, seed: 9 });
    const bounded = explore(s, { ...DEFAULT_EXPLORE, strategy, runs: 40, seed: 9, maxTimeMs: 1e9 });
    expect({ ...bounded, elapsedMs: 0, firstViolationMs: 0 }).toEqual({ ...free, elapsedMs: 0, firstViolationMs: 0 });
    expect(free.stoppedBy).toEqual(['sampled']);
  });

  it('exhaustive split into worker shares: the merged verdict is the single search\'s', () => {
    const s = race('R2', 'v5.11', 2);
    const one = explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive' });
    const shares = jobsFor(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive' }, 2).map((j) => explore(j.scenario, j.opts));
    const merged = mergeResults(shares, 0);
    const kinds = (r: ExploreResult) => [...new Set(r.violations.map((v) => `${v.property}|${v.message.replace(/\d+/g, '#')}`))].sort();
    expect(merged.complete).toBe(one.complete);
    expect(kinds(merged)).toEqual(kinds(one));
  });

  it('--workers 2 on real worker threads gives the same verdict as one worker', async () => {
    const a = await exploreJson(['R2', '--kernel', 'v5.11']);
    const b = await exploreJson(['R2', '--kernel', 'v5.11', '--workers', '2']);
    expect(b.code).toBe(a.code);
    expect(b.json.complete).toBe(a.json.complete);
    const kinds = (j: Json) => [...new Set(j.violations.map((v) => `${v.property}|${v.message.replace(/\d+/g, '#')}`))].sort();
    expect(kinds(b.json)).toEqual(kinds(a.json));
  });
});

describe('explore: bad input → exit 2', () => {
  it.each([
    [['nowhere.json'], /nowhere\.json: no such file/],
    [['R2', '--property', 'nope'], /--property: unknown property 'nope'/],
    [['R2', '--cpus', '0'], /--cpus: expected a whole number from 1 to 64, got "0" \(too small\)/],
    [['R2', '--strategy', 'dfs'], /--strategy: expected exhaustive, random or pct/],
    [['R2', '--kernel', 'v2.6'], /--kernel: unknown preset 'v2\.6'/],
  ])('%j', async (args, message) => {
    const t = io();
    expect(await main(['explore', ...args], t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
  });
});

describe('state identity', () => {
  /** A built-in as it is, on a preset (the guests' machine and vCPUs stay the file's). */
  const builtin = (id: string, preset: string): Scenario => {
    const b = findBuiltin(id);
    if (!b) throw new Error(id);
    const r = validateScenario({ ...b.raw, kernel: { preset } }, b.id, validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.scenario;
  };

  /** T4-sysrq with three harmless steps after it: script step 3 exists. */
  const T4_SYSRQ_PADDED = {
    name: 't4-sysrq-padded',
    machine: { cpus: 4, vendor: 'amd' },
    initial: { all: { svme: true }, cpus: { '2': { gif: false } } },
    options: { reset: { method: 'acpi', initOnly: true } },
    script: [
      { cpu: 0, do: 'emergency-restart', at: 0 },
      { cpu: 3, do: 'irqs-on', at: 0 },
      { cpu: 3, do: 'irqs-on', at: 0 },
      { cpu: 3, do: 'irqs-on', at: 0 },
    ],
  };
  const file = (raw: object): Scenario => {
    const r = validateScenario(raw, 'test', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.scenario;
  };

  it.each([
    ['R2, 3 CPUs, v5.11', () => race('R2', 'v5.11', 3), 2000],
    // With guests the hash is one cached number per actor: it must split and join exactly as the key does.
    ['T-L2 (vCPUs in L2), mainline', () => builtin('T-L2', 'mainline'), 2000],
    ['T14 (a vsock device, a VMM, a vCPU), mainline', () => builtin('T14', 'mainline'), 2000],
    // Found in review: a hash that folded by XOR gave a pending step of CPU 1 and script step 3 the
    // hash 0 (and step c the hash of script step c^2), so exploration pruned states it never saw —
    // here the only end states and all three violations.
    ['T4-sysrq with a fourth scripted step (index 3)', () => file(T4_SYSRQ_PADDED), 2000],
    ['2 CPUs, a pending step of CPU 1', () => file({
      name: 'cpu1-step',
      machine: { cpus: 2, vendor: 'intel' },
      kernel: { preset: 'mainline' },
      options: { panicTimeout: 0, kdump: false },
      script: [
        { cpu: 1, do: 'nmi-panic', at: 0 },
        { cpu: 0, do: 'irqs-on', at: 0 },
        { cpu: 1, do: 'panic', at: 0 },
        { cpu: 1, do: 'irqs-on', at: 0 },
      ],
    }), 1000],
  ] as const)('the numeric state hash tells apart exactly the states the canonical key tells apart (%s)', (_, scenario, atLeast) => {
    const s = scenario();
    const sim = new Simulation(s, { seed: 0, mode: 'untimed', engine: 'compiled', maxSteps: 1e9 });
    sim.header();
    const byHash = new Map<number, string>();
    const byKey = new Map<string, number>();
    let collisions = 0;
    let splits = 0;
    const stack = [sim.capture()];
    for (let n = 0; stack.length > 0 && n < 8000; n++) {
      sim.restoreCapture(stack.pop() as ReturnType<Simulation['capture']>);
      const k = sim.stateKey();
      const h = sim.stateHash();
      if (byHash.has(h) && byHash.get(h) !== k) collisions += 1;
      if (byKey.has(k) && byKey.get(k) !== h) splits += 1;
      if (byKey.has(k)) continue;
      byHash.set(h, k);
      byKey.set(k, h);
      const m = sim.poll();
      if (m === 0) continue;
      const after = sim.capture();
      for (let i = 0; i < m; i++) {
        sim.restoreCapture(after);
        sim.decide(i);
        stack.push(sim.capture());
      }
    }
    expect(byKey.size).toBeGreaterThan(atLeast);
    expect({ collisions, splits }).toEqual({ collisions: 0, splits: 0 });
  });

  it('a fourth scripted step does not hide the run\'s end: T4-sysrq padded finds the GIF=0 CPU, the lost ack and the hang', () => {
    const s = file(T4_SYSRQ_PADDED);
    for (const engine of ['cached', 'direct'] as const) {
      const r = explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', engine });
      expect(r.complete).toBe(true);
      expect(r.violations.map((v) => v.property).sort()).toEqual(['no-cpu-left-in-vmx-root', 'reboot-completes', 'shootdown-acked']);
    }
  });
});

describe('explore: machines too large to explore', () => {
  it('a 512-CPU scenario file is refused with exit 2 (every explored state copies every CPU)', async () => {
    const file = path.join(dir, 'big.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'big', machine: { cpus: 512 }, script: [{ cpu: 0, do: 'panic', at: 0 }] }));
    const t = io();
    expect(await main(['explore', file], t.cli)).toBe(2);
    expect(t.err()).toMatch(/explore handles at most 64 CPUs/);
  });
});

describe('no-kernel-bug: one BUG is one violation', () => {
  it('a BUG in a vCPU thread (T8 without the tdp_level fix) still says "(in a vCPU thread)", once', async () => {
    const t = io();
    expect(await main(['run', 'T8', '--no-fix', 'tdp-level-at-vcpu-create', '--json'], t.cli)).toBe(0);
    const bugs = (JSON.parse(t.out()) as { outcome: { violations: { property: string; message: string }[] } }).outcome.violations.filter(
      (v) => v.property === 'no-kernel-bug',
    );
    expect(bugs.map((v) => v.message)).toEqual(['CPU 1: kernel BUG at arch/x86/kvm/mmu/mmu.c:3722! (in a vCPU thread)']);
  });
});

describe("a scenario's step budget (maxSteps) bounds run, not explore", () => {
  it('counterexamples longer than the budget are confirmed and replay to their end (was: exit 70, internal error)', async () => {
    const raw = {
      name: 'r2-budget',
      machine: { cpus: 2 },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      options: { kdump: true, kdumpBringsUpAps: false, maxSteps: 30 },
      script: [
        { cpu: 0, do: 'emergency-restart', at: 0 },
        { cpu: 1, do: 'panic', at: 0 },
      ],
    };
    const file = path.join(dir, 'r2-budget.json');
    fs.writeFileSync(file, JSON.stringify(raw));
    const out = path.join(dir, 'budget');
    for (const strategy of [[], ['--strategy', 'random', '--runs', '50']]) {
      const t = io();
      const code = await main(['explore', file, '--kernel', 'v5.11', '--no-pnr', '--json', '--out', out, ...strategy], t.cli);
      expect(code, t.err()).toBe(1);
      expect(t.err()).toContain("the scenario's maxSteps (30) bounds `run`, not explore");
      const violations = (JSON.parse(t.out()) as Json).violations;
      expect(violations.length).toBeGreaterThan(0);
      for (const v of violations) {
        const r = io();
        expect(await main(['run', file, '--replay', v.traceFile as string], r.cli), r.err()).toBe(0);
        expect(r.err()).toMatch(/replay: reproduced all/);
      }
    }
    // `run` itself keeps the budget: its run stops there, with no verdict.
    const t = io();
    await main(['run', file, '--kernel', 'v5.11', '--json'], t.cli);
    expect((JSON.parse(t.out()) as { outcome: { end: string } }).outcome.end).toBe('running');
  });
});

describe('script steps `at` different times are choices from the start', () => {
  // A run takes time per step: a panic 300 ns after a restart lands inside the restart's work in most
  // seeds (the VMCLEAR #UD BUG of R2 under v5.11). Explore, untimed, must find that run too.
  const raw = {
    name: 'r2-panic-at-300',
    machine: { cpus: 2, vendor: 'intel' },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { kdump: true, kdumpBringsUpAps: false },
    kernel: { preset: 'v5.11' },
    script: [
      { cpu: 0, do: 'emergency-restart', at: 0 },
      { cpu: 1, do: 'panic', at: 300 },
    ],
  };

  it('what runs show, explore finds: the BUG of a panic 300 ns after a restart; stderr says the times are not kept', async () => {
    const file = path.join(dir, 'r2-300.json');
    fs.writeFileSync(file, JSON.stringify(raw));
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => {
      const t = io();
      return main(['run', file, '--seed', String(seed), '--json'], t.cli).then(() => JSON.parse(t.out()) as { outcome: { violations: { property: string }[] } });
    });
    const bugRuns = (await Promise.all(seeds)).filter((o) => o.outcome.violations.some((v) => v.property === 'no-kernel-bug')).length;
    expect(bugRuns).toBeGreaterThan(0);
    const t = io();
    const code = await main(['explore', file, '--property', 'no-kernel-bug', '--all-violations', '--no-pnr', '--json', '--out', dir], t.cli);
    expect(code).toBe(1);
    expect((JSON.parse(t.out()) as Json).violations.map((v) => v.message)).toContain('CPU 0: VMCLEAR #UD in nmi context → kernel BUG');
    expect(t.err()).toContain('explore keeps the order of the `at` steps (0 ns, 300 ns) and the timeouts, not the time between a step and the work before it');
  });

  const scenarioOf = (raw: object): Scenario => {
    const r = validateScenario(raw, 'test', validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.scenario;
  };

  /** Every end state of the timed runs of seeds 1..n is one explore reaches (pending items' times from now aside: untimed, the clock is a lower bound). */
  const expectTimedEndsExplored = (s: Scenario, n: number): void => {
    const untimed = (key: string) => key.replace(/script\{(\d+),-?\d+\}/g, 'script{$1}').replace(/timer\{(\d+),("[^"]*"),-?\d+,/g, 'timer{$1,$2,');
    const timed = new Set<string>();
    for (let seed = 1; seed <= n; seed++) {
      const sim = new Simulation(s, { seed });
      sim.run();
      timed.add(untimed(sim.stateKey()));
    }
    const r = explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, collectEnds: true });
    expect(r.complete).toBe(true);
    const ends = new Set((r.ends ?? []).map(untimed));
    expect([...timed].filter((k) => !ends.has(k))).toEqual([]);
  };

  it('a timeout due before a step scripted later may expire first: the timed runs\' end is among the explored ends', () => {
    // CPU 3 has IRQs off: panic's REBOOT_VECTOR waits 1 s, times out, and the NMI fallback stops CPU 3,
    // before CPU 3's nmi-panic scripted at 3 s. Explore kept every timeout behind every pending step.
    const s = scenarioOf({
      name: 't6-late-nmi-panic',
      machine: { cpus: 4 },
      initial: { cpus: { '3': { if: false } } },
      script: [
        { cpu: 0, do: 'panic', at: 100, message: 'Fatal machine check' },
        { cpu: 3, do: 'nmi-panic', at: 3_000_000_000 },
      ],
    });
    expectTimedEndsExplored(s, 3);
  });

  it('a timeout that expires inside the work of a step scripted just before it (a run\'s steps take time)', () => {
    // CPU 0's panic at 300 ns waits 1 s for REBOOT_VECTOR (CPUs 0 and 1 have IRQs off) and falls back to
    // NMIs at ~1.0000004 s, inside CPU 1's restart scripted at 1 s. With the clock moved to the panic's
    // own time, the wait's untimed deadline fell after the restart, whose work then came first whole.
    expectTimedEndsExplored(
      scenarioOf({
        name: 'timeout-inside-restart',
        machine: { cpus: 3 },
        initial: { cpus: { '0': { if: false }, '1': { if: false } }, all: { vmx: 'root', loadedVmcs: 1 } },
        options: { panicTimeout: -1 },
        script: [
          { cpu: 1, do: 'emergency-restart', at: 1_000_000_000 },
          { cpu: 0, do: 'panic', at: 300 },
          { cpu: 1, do: 'irqs-off', at: 1_000_000 },
        ],
      }),
      10,
    );
  });

  it('a step due later never comes before one due earlier (untimed runs, both CPUs\' steps racing the work)', () => {
    const s = scenarioOf({
      name: 'ordered-steps',
      machine: { cpus: 4 },
      script: [
        { cpu: 0, do: 'panic', at: 100 },
        { cpu: 3, do: 'irqs-off', at: 0 },
        { cpu: 2, do: 'irqs-off', at: 100 },
      ],
    });
    for (let seed = 1; seed <= 40; seed++) {
      const order: number[] = [];
      runScenario(s, { seed, mode: 'untimed', onRecord: (r) => (r.t === 'script' ? order.push(r.index) : undefined) });
      // The step at 0 first; the two at 100 in either order.
      expect(order[0]).toBe(1);
      expect([...order].sort()).toEqual([0, 1, 2]);
    }
  });
});

describe('ordered deadlines: two 1 s waits started one after the other expire in that order', () => {
  const records = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t: string; cpu?: number; ns?: number; to?: string });

  it('v6.2: in the hang found, the CPU that started waiting first times out first and runs on before the other times out', async () => {
    const { code, json } = await exploreJson(['R2', '--kernel', 'v6.2', '--property', 'reboot-completes']);
    expect(code).toBe(1);
    const hang = json.violations[0] as Json['violations'][number];
    const rs = records(hang.traceFile);
    const waits = rs.filter((r) => r.t === 'step' && /\.(waitAcks|waitReboot)$/.test(r.to ?? ''));
    const timers = rs.map((r, i) => ({ r, i })).filter(({ r }) => r.t === 'timer');
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(timers.length).toBeGreaterThanOrEqual(1);
    const first = timers[0] as (typeof timers)[number];
    expect(first.r.cpu).toBe(waits[0]?.cpu);
    // Its deadline came first: it ran on (at least one step) before the later deadline expired, if it
    // ever did — here the later waiter is stopped for good in an NMI handler first, and a wait under a
    // loop that never returns has no deadline left (the scheduler drops it: no timer record).
    const second = timers[1];
    if (second) expect(rs.slice(first.i + 1, second.i).some((r) => r.t === 'step' && r.cpu === first.r.cpu)).toBe(true);
    else {
      const other = waits.find((w) => w.cpu !== first.r.cpu)?.cpu;
      const final = rs.find((r) => r.t === 'final' && r.cpu === other) as { state?: string } | undefined;
      expect(final?.state).toMatch(/^os\.nmi\..*halted$/);
    }
    await replaysTo(hang);
  });

  it('a stall of the first waiter (an SMI, a preempted vCPU) still lets the machine hang', async () => {
    const scenario = {
      name: 'r2-stall-first-waiter',
      description: 'R2 where CPU0 stalls right after it starts waiting for the shootdown acks',
      machine: { cpus: 2 },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      options: { kdump: true, kdumpBringsUpAps: false },
      kernel: { preset: 'v6.2' },
      script: [
        { cpu: 0, do: 'emergency-restart', at: 0 },
        { cpu: 1, do: 'panic', at: 0, message: 'race R2' },
        { cpu: 0, do: 'stall', when: { cpu: 0, enters: 'shoot.waitAcks' } },
      ],
    };
    const file = path.join(dir, 'r2-stall.json');
    fs.writeFileSync(file, JSON.stringify(scenario));
    const { code, json } = await exploreJson([file, '--property', 'reboot-completes']);
    expect(code).toBe(1);
    const hang = json.violations[0] as Json['violations'][number];
    expect(hang.message).toMatch(/never reset the machine/);
    expect(records(hang.traceFile).some((r) => r.t === 'timer' && r.cpu === 0)).toBe(true);
  });
});
