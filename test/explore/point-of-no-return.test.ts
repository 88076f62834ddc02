/**
 * The point of no return of a counterexample: the earliest decision after which every continuation
 * violates the property. Checked against reasoning about the kernel (R2's lost NMI race), against a
 * search of every prefix one by one (the binary search must find the first doomed one, and doomed
 * must be monotone), and for what a bound makes of it: "unknown before", never a guess.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPLORE, explore, type Found } from '../../src/explore/explorer.js';
import { confirm } from '../../src/explore/counterexample.js';
import { DEFAULT_PNR_MAX_STATES, pointOfNoReturn, prefixVerdict } from '../../src/explore/point-of-no-return.js';
import { loadScenario, withKernel } from '../../src/cli/scenario-args.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';

const OPTS = { maxStates: DEFAULT_PNR_MAX_STATES, maxDepth: DEFAULT_EXPLORE.maxDepth };

function counterexample(name: string, kernel: string, property: string): { scenario: Scenario; found: Found; records: TraceRecord[] } {
  const scenario = withKernel(loadScenario(name, () => ''), kernel, [], []);
  const result = explore(scenario, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', properties: [property] });
  const found = result.violations.find((v) => v.property === property);
  if (!found) throw new Error(`${name} under ${kernel} has no ${property} violation`);
  const records = confirm(scenario, found).lines.map((l) => JSON.parse(l) as TraceRecord);
  return { scenario, found, records };
}

/** The records the run wrote for its choice `i` (up to the next choice). */
function afterChoice(records: readonly TraceRecord[], i: number): TraceRecord[] {
  const at = records.findIndex((r) => r.t === 'choice' && r.i === i);
  const next = records.findIndex((r, k) => k > at && r.t === 'choice');
  return records.slice(at + 1, next < 0 ? undefined : next);
}

describe('R2 under v5.11: the emergency restart against the kdump panic', () => {
  // The shortest BUG: CPU 0 (SysRq-b, emergency restart) runs nmi_shootdown_cpus() first: it sets
  // crashing_cpu = 0, registers the crash NMI handler and is about to send the NMI; then CPU 1
  // (panic with kdump) runs nmi_shootdown_cpus() too and registers the same handler again: list_add
  // of an entry already on the list, "kernel BUG at lib/list_debug.c:29!". Only CPU 0's NMI can
  // stop CPU 1 before that register: crash_nmi_callback() halts the CPU it lands on — unless that
  // CPU is crashing_cpu (`if (cpu == crashing_cpu) return NMI_HANDLED;`, arch/x86/kernel/reboot.c).
  // So the race is lost the moment CPU 1 writes crashing_cpu = 1: from then on the NMI, whenever it
  // lands, lets CPU 1 run on to its register_nmi_handler(). One decision earlier, delivering the
  // NMI first still stops CPU 1.
  const { scenario, found, records } = counterexample('R2', 'v5.11', 'no-kernel-bug');
  const p = pointOfNoReturn(scenario, 'no-kernel-bug', found.picks, OPTS);

  it('is the choice at which CPU 1 writes crashing_cpu = 1', () => {
    const write = records.findIndex((r) => r.t === 'mem' && r.cpu === 1 && r.name === 'crashing_cpu' && r.value === 1);
    expect(write).toBeGreaterThan(0);
    // The choice whose records hold that write.
    let choice = -1;
    for (let k = write; k >= 0; k--) {
      const r = records[k] as TraceRecord;
      if (r.t === 'choice') {
        choice = r.i;
        break;
      }
    }
    // Before it CPU 0 registered its handler and had not sent the NMI yet.
    const before = records.slice(0, write);
    expect(before.some((r) => r.t === 'mem' && r.cpu === 0 && r.op === 'register_nmi_handler')).toBe(true);
    expect(before.some((r) => r.t === 'send' && r.mode === 'nmi')).toBe(false);
    expect(p).toMatchObject({ property: 'no-kernel-bug', decision: choice, complete: true });
    expect(afterChoice(records, choice).some((r) => r.t === 'mem' && r.name === 'crashing_cpu' && r.cpu === 1)).toBe(true);
    expect(p?.description).toMatch(/CPU 1 takes its next step — CPU 1: crashing_cpu write 1/);
    expect(p?.description).toMatch(/the other way, CPU 0 takes its next step, still had a run without it/);
  });

  it('the step is the number of decisions up to and including that choice (forced ones too)', () => {
    const picks = found.picks.slice(0, p?.step);
    expect(picks.filter((q) => q.n > 1).length - 1).toBe(p?.decision);
    expect(picks.at(-1)?.n).toBeGreaterThan(1);
  });

  it('every prefix searched one by one: no way out from the point on, a way out before it (monotone)', () => {
    const step = p?.step as number;
    const verdicts = found.picks.map((_, k) => prefixVerdict(scenario, 'no-kernel-bug', found.picks, k, OPTS));
    verdicts.push(prefixVerdict(scenario, 'no-kernel-bug', found.picks, found.picks.length, OPTS));
    expect(verdicts.slice(step).every((v) => v === 'doomed')).toBe(true);
    expect(verdicts.slice(0, step).every((v) => v === 'way out')).toBe(true);
  });
});

describe('bounded: unknown before, never a guess', () => {
  const { scenario, found } = counterexample('R2', 'v5.11', 'no-kernel-bug');
  const exact = pointOfNoReturn(scenario, 'no-kernel-bug', found.picks, OPTS);

  it('a state budget too small for the searches: doomed from a later decision on, earlier unknown, said so', () => {
    const p = pointOfNoReturn(scenario, 'no-kernel-bug', found.picks, { ...OPTS, maxStates: 3 });
    expect(p?.complete).toBe(false);
    expect(p?.unknownAt?.bound).toBe('max-states');
    expect(p?.step).toBeGreaterThan(exact?.step as number);
    expect(p?.unknownAt?.step).toBeLessThan(p?.step as number);
    expect(p?.description).toMatch(/Whether an earlier decision already sealed it is unknown: the search from (the start|the state after decision \d+) ran out of its state budget \(raise it with --pnr-max-states N\)/);
    // What it does claim holds: the prefix it names is doomed.
    expect(prefixVerdict(scenario, 'no-kernel-bug', found.picks, p?.step as number, OPTS)).toBe('doomed');
  });

  it('no time left (--max-time spent by the search): only the counterexample\'s own end, marked unknown before', () => {
    const p = pointOfNoReturn(scenario, 'no-kernel-bug', found.picks, { ...OPTS, deadline: performance.now() - 1 });
    expect(p?.complete).toBe(false);
    expect(p?.unknownAt?.bound).toBe('max-time');
    expect(p?.description).toMatch(/ran out of time \(--max-time\)/);
  });

  it('runs cut at the depth bound leave a prefix unknown', () => {
    expect(prefixVerdict(scenario, 'no-kernel-bug', found.picks, (exact?.step as number) - 1, { ...OPTS, maxDepth: exact?.step as number })).toBe('max-depth');
  });
});

describe('every run violates: the point is the start', () => {
  // R1 under v5.10: CPU 0 panics with crash_kexec_post_notifiers and no crash kernel loaded, so
  // panic() shoots the other CPUs down for kdump (crash_smp_send_stop(), registering the crash NMI
  // handler) and then, panic=1, reboots through emergency_restart(), whose nmi_shootdown_cpus()
  // registers the same handler again: the double list_add. Both are CPU 0's own steps, in its
  // program order, and nothing the other CPU does can keep the second one from registering, so
  // every run has the BUG from the first decision on.
  const { scenario, found } = counterexample('R1', 'v5.10', 'no-kernel-bug');

  it('step 0, no choice, and the search from the start agrees', () => {
    const p = pointOfNoReturn(scenario, 'no-kernel-bug', found.picks, OPTS);
    expect(p).toMatchObject({ step: 0, decision: null, complete: true });
    expect(p?.description).toMatch(/from the start: every run violates no-kernel-bug, whatever the scheduler chooses/);
    expect(prefixVerdict(scenario, 'no-kernel-bug', found.picks, 0, OPTS)).toBe('doomed');
  });
});
