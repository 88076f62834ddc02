/**
 * The pass-over bound (`explore --max-pass-over K`, src/explore/passover.ts): a search of only the
 * runs in which no CPU whose own step is ready waits through more than K decisions of other actors.
 * Held to: the v6.2 `reboot-completes` hang that needs CPU 0 stalled (docs/model.md §11) is gone under
 * the bound while the kernel bugs of the same race stay; an SMI that stalls CPU 0 at that point brings
 * the hang back; every run the bounded search returns keeps the bound (replayed by a count of its own,
 * not the engine's); a bound no run reaches changes no verdict; the CLI checks the option.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXPLORE, explore } from '../../src/explore/explorer.js';
import { Harness } from '../../src/explore/harness.js';
import { heldCpus, passOverAfter } from '../../src/explore/passover.js';
import { loadScenario, withKernel } from '../../src/cli/scenario-args.js';
import { main } from '../../src/cli/main.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { memoryIo } from '../cli/memory-io.js';
import { afterNmis } from './engines.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-pass-over-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const r2 = (kernel: string): Scenario => withKernel(loadScenario('R2', () => ''), kernel, [], []);


function search(scenario: Scenario, maxPassOver?: number) {
  return explore(scenario, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, ...(maxPassOver !== undefined ? { maxPassOver } : {}) });
}

const kinds = (r: ReturnType<typeof search>) => r.violations.map((v) => `${v.property}: ${v.message} (${v.picks.length})`).sort();

/**
 * The longest wait of a CPU with a kernel step ready through other actors' decisions in the run
 * `picks`, counted here by replaying it (the oracle: no visited set, no counts carried in states).
 */
function longestWait(scenario: Scenario, picks: readonly { pick: number; n: number }[]): number {
  const h = new Harness(scenario, []);
  h.attach([]);
  h.sim.header();
  const waits = new Array<number>(scenario.machine.cpus).fill(0);
  let longest = 0;
  for (const p of picks) {
    expect(h.sim.poll()).toBe(p.n);
    const keys = h.sim.choiceKeys();
    const key = keys[p.pick] as string;
    const actor = h.sim.choiceActor(p.pick);
    const ready = waits.map((_, c) => keys.includes(`s${c}`) && h.sim.stepContext(c) !== 'smm');
    const before = actor >= 0 ? h.sim.cpuPosition(actor) : '';
    h.decide(p.pick);
    // A delivery or scripted action that left its CPU where it was ran nothing there.
    const ran = !/^[dx]/.test(key) || (actor >= 0 && h.sim.cpuPosition(actor) !== before);
    for (let c = 0; c < waits.length; c++) {
      waits[c] = ready[c] && !(c === actor && ran) ? (waits[c] as number) + 1 : 0;
      longest = Math.max(longest, waits[c] as number);
    }
  }
  return longest;
}

describe('the counts', () => {
  it('a CPU with its step ready counts the decisions of others, the one acting starts again at 0, past the bound is no run', () => {
    const counts = Uint8Array.of(0, 3, 7);
    expect([...(passOverAfter(counts, [0, 1, 2], 1, 8) as Uint8Array)]).toEqual([1, 0, 8]);
    expect(passOverAfter(Uint8Array.of(0, 3, 8), [0, 1, 2], 1, 8)).toBeNull();
    // A CPU whose step is not an option (halted, waiting, stalled) is not waiting for the scheduler.
    expect([...(passOverAfter(Uint8Array.of(0, 3, 8), [0, 1], 1, 8) as Uint8Array)]).toEqual([1, 0, 0]);
  });

  it('firmware (SMM) steps are not held to the bound; other CPUs and other kinds of option are not CPUs waiting', () => {
    const ctx = (c: number) => (c === 2 ? 'smm' : 'task');
    expect(heldCpus(['s0', 's2', 'd1<nmi::0:crash', 't1:wait', 'x0', 's1'], ctx)).toEqual([0, 1]);
  });
});

describe('R2 under v6.2 (2 CPUs)', () => {
  it('the reboot-completes hang needs CPU 0 passed over; under the bound it is gone and the kernel bugs of the race stay', () => {
    const free = search(r2('v6.2'));
    const bounded = search(r2('v6.2'), 8);
    expect(free.violations.map((v) => v.property)).toContain('reboot-completes');
    expect(bounded.complete).toBe(true);
    expect(bounded.violations.map((v) => v.property)).not.toContain('reboot-completes');
    for (const p of ['no-kernel-bug', 'no-kernel-warn', 'no-cpu-left-in-vmx-root', 'shootdown-acked']) {
      expect(bounded.violations.map((v) => v.property)).toContain(p);
    }
    // The hang the free search reports passes a CPU over for longer than the bound.
    const hang = free.violations.find((v) => v.property === 'reboot-completes');
    expect(longestWait(r2('v6.2'), hang?.picks ?? [])).toBeGreaterThan(8);
  });

  it('every run the bounded search reports keeps the bound', () => {
    for (const k of [3, 8]) {
      const r = search(r2('v6.2'), k);
      expect(r.violations.length).toBeGreaterThan(0);
      for (const v of r.violations) expect(longestWait(r2('v6.2'), v.picks)).toBeLessThanOrEqual(k);
    }
  });

  it('an SMI that holds CPU 0 after its NMIs brings the hang back under the bound: the firmware may run for as long as it takes', () => {
    // A tight bound: CPU 1's path to its own wait is then far longer than CPU 0 may be passed over
    // outside SMM, so only the SMI's time in firmware lets CPU 1's wait start first.
    const scenario = afterNmis('smi');
    const r = explore(scenario, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', properties: ['reboot-completes'], maxPassOver: 4 });
    const hang = r.violations.find((v) => v.property === 'reboot-completes');
    expect(hang).toBeDefined();
    expect(longestWait(scenario, hang?.picks ?? [])).toBeLessThanOrEqual(4);
    const plain = explore(r2('v6.2'), { ...DEFAULT_EXPLORE, strategy: 'exhaustive', properties: ['reboot-completes'], maxPassOver: 4 });
    expect(plain.violations).toEqual([]);
  });

  it('a bound no run reaches changes no verdict, message or shortest length', () => {
    for (const kernel of ['v5.10', 'mainline']) {
      const free = explore(r2(kernel), { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, engine: 'direct', reduction: false });
      const wide = search(r2(kernel), 200);
      expect(wide.complete).toBe(true);
      expect(kinds(wide)).toEqual(kinds(free));
    }
  });
});

describe('explore --max-pass-over', () => {
  const run = async (args: string[]) => {
    const t = memoryIo();
    const code = await main(['explore', ...args, '--out', dir], t.cli);
    return { code, out: t.out(), err: t.err() };
  };

  it('says the bound in the report and the JSON, and the hang is not among the violations', async () => {
    const text = await run(['R2', '--kernel', 'v6.2', '--max-pass-over', '8', '--no-pnr']);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/runs where no CPU with a step ready waits through more than 8 decisions of others: \d+ states/);
    expect(text.out).not.toMatch(/reboot-completes/);
    const json = await run(['R2', '--kernel', 'v6.2', '--max-pass-over', '8', '--no-pnr', '--json']);
    const parsed = JSON.parse(json.out) as { bounds: { maxPassOver: number }; violations: { property: string }[] };
    expect(parsed.bounds.maxPassOver).toBe(8);
    expect(parsed.violations.map((v) => v.property)).not.toContain('reboot-completes');
    // The point of no return is searched over every run, and says so.
    const pnr = await run(['R2', '--kernel', 'v6.2', '--max-pass-over', '8', '--property', 'no-kernel-bug']);
    expect(pnr.out).toMatch(/point of no return( \(at the latest\))? \(over every run, stalls included\): /);
    const pnrJson = JSON.parse((await run(['R2', '--kernel', 'v6.2', '--max-pass-over', '8', '--property', 'no-kernel-bug', '--json'])).out) as {
      violations: { pointOfNoReturn: { stallsIncluded?: boolean } }[];
    };
    expect(pnrJson.violations[0]?.pointOfNoReturn.stallsIncluded).toBe(true);
  });

  it('refuses what it cannot bound, and values out of range, before anything runs', async () => {
    for (const [args, message] of [
      [['--max-pass-over', '0'], /--max-pass-over: expected a whole number from 1 to 200, got "0" \(too small\)/],
      [['--max-pass-over', '201'], /too large/],
      [['--max-pass-over', 'x'], /digits only/],
      [['--max-pass-over', '8', '--strategy', 'random'], /--max-pass-over bounds the exhaustive search: not with --strategy random/],
      [['--max-pass-over', '8', '--symmetry'], /not with --symmetry/],
      [['--max-pass-over', '8', '--workers', '2'], /not with --workers or --shard/],
      [['--max-pass-over', '8', '--shard', '0/2'], /not with --workers or --shard/],
    ] as const) {
      const r = await run(['R2', ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.out).toBe('');
    }
  });
});
