/**
 * Every option of run, startMachine and explore is checked, in one place, for its type as the
 * declarations give it (a caller in plain JavaScript can pass anything): a flag that is not true or
 * false and an option name that is none of the function's are refused with a ScenarioInputError
 * naming the option, as the CLI refuses an unknown flag, instead of being read as truthy or ignored.
 */
import { describe, expect, it } from 'vitest';
import { explore, run, ScenarioInputError, startMachine, stepMachine } from 'shootdown';

describe('options are checked for their type', () => {
  it.each([
    ['explore reduction as text', () => explore('R1', { reduction: 'no' as never, maxStates: 10 }), /^reduction: expected true or false, got "no"/],
    ['explore reduction as a number', () => explore('R1', { reduction: 0 as never, maxStates: 10 }), /^reduction: expected true or false, got 0/],
    ['explore allViolations as text', () => explore('R1', { allViolations: 'false' as never, maxStates: 10 }), /^allViolations: expected true or false, got "false"/],
    ['explore allViolations null', () => explore('R1', { allViolations: null as never, maxStates: 10 }), /^allViolations: expected true or false, got null/],
    ['explore properties with a number', () => explore('R1', { properties: [5] as never, maxStates: 10 }), /^properties\[0\]: expected a property name, got 5/],
    ['explore strategy as a list', () => explore('R1', { strategy: ['random'] as never }), /^strategy: expected 'exhaustive', 'random' or 'pct', got \["random"\]/],
    ['startMachine mode as a number', () => startMachine('T5', { mode: 1 as never }), /^mode: expected 'timed' or 'untimed', got 1/],
    ['run maxSteps as text', () => run('T5', { maxSteps: '5' as never }), /^maxSteps: expected an integer from 1 to 100000000, got "5"/],
  ])('%s', (_what, call, message) => {
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(message);
  });
});

describe("explore's counts are bounded as the CLI bounds its flags (src/cli/explore-limits.ts)", () => {
  // A PCT depth of 1e12 drew that many change points per run: the call never returned.
  it.each([
    ['pctDepth', 100],
    ['maxDepth', 10_000_000],
    ['maxStates', 1_000_000_000],
    ['runs', 1_000_000_000],
  ] as const)('%s above %s is refused, before the scenario is looked at', (name, max) => {
    // An unknown scenario: without the bound the call fails on it (another message), it never searches.
    const call = () => explore('no-such-scenario', { strategy: 'pct', [name]: max + 1 });
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(new RegExp(`^${name}: expected an integer from 1 to ${max}, got ${max + 1}`));
  });

  it('the largest PCT depth the CLI takes is taken', () => {
    expect(explore('R1', { strategy: 'pct', runs: 1, pctDepth: 100 }).statesVisited).toBeGreaterThan(0);
  });
});

describe('maxSteps keeps the run\'s clock exact, as options.maxSteps in a scenario file must', () => {
  // Each step may move the clock by stepNs: 10^8 steps of 10^9 ns pass 2^53 − 1 ns, which the
  // validator refuses in a file (src/scenarios/validate.ts checkClock) and the option went around.
  const slow = { name: 'slow', machine: { cpus: 2 }, options: { stepNs: 1_000_000_000 }, script: [{ cpu: 0, do: 'panic', at: 0 }] };

  it.each([
    ['run', () => run(slow, { maxSteps: 100_000_000 })],
    ['startMachine', () => startMachine(slow, { maxSteps: 100_000_000 })],
  ])('%s: a budget whose steps could pass 2^53 − 1 ns is refused with the most it may be', (_fn, call) => {
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(/^maxSteps: 100000000 steps of up to 1000000000 ns each could take the run's clock past 9007199254740991 ns \(2\^53−1\): at most \d+ for slow$/);
  });

  it('stepMachine: a value whose budget was raised past it is refused', () => {
    const { state } = startMachine(slow, { maxSteps: 1000 });
    const edited = { ...state, options: { ...state.options, maxSteps: 100_000_000 } };
    expect(() => stepMachine(edited, 0)).toThrow(/^stepMachine: state\.options\.maxSteps: 100000000 steps of up to 1000000000 ns each could take the run's clock past/);
    expect(stepMachine(state, 0).records.length).toBeGreaterThan(0);
  });

  it('a budget above the scenario option\'s bound (10^8) is refused', () => {
    const call = () => run('T5', { maxSteps: 100_000_001 });
    expect(call).toThrow(/^maxSteps: expected an integer from 1 to 100000000, got 100000001/);
  });

  it('the most the message names is taken', () => {
    let most = 0;
    try {
      run(slow, { maxSteps: 100_000_000 });
    } catch (e) {
      most = Number(/at most (\d+)/.exec((e as Error).message)?.[1]);
    }
    expect(most).toBeGreaterThan(0);
    expect(run(slow, { maxSteps: most }).outcome).toBeDefined();
    expect(() => run(slow, { maxSteps: most + 1 })).toThrow(ScenarioInputError);
  });
});

describe('an option name a function does not take is refused, with the nearest it takes', () => {
  it.each([
    ['run: kernal', () => run('T5', { kernal: 'v5.10' } as never), /^options\.kernal: not an option of run \(did you mean 'kernel'\?\)/],
    ['run: no_fix', () => run('T5', { no_fix: ['vmxoff-eats-faults'] } as never), /^options\.no_fix: not an option of run \(did you mean 'noFix'\?\)/],
    ['run: mode is startMachine\'s', () => run('T5', { mode: 'timed' } as never), /^options\.mode: not an option of run \(its options: kernel, fix, noFix, seed, maxSteps\)/],
    ['startMachine: maxStep', () => startMachine('T5', { maxStep: 3 } as never), /^options\.maxStep: not an option of startMachine \(did you mean 'maxSteps'\?\)/],
    ['explore: maxStates misspelt', () => explore('R1', { maxStats: 10 } as never), /^options\.maxStats: not an option of explore \(did you mean 'maxStates'\?\)/],
    ['explore: maxSteps is run\'s', () => explore('R1', { maxSteps: 10 } as never), /^options\.maxSteps: not an option of explore/],
  ])('%s', (_what, call, message) => {
    expect(call).toThrow(ScenarioInputError);
    expect(call).toThrow(message);
  });

  it('an option given as undefined is an option not given', () => {
    expect(run('T5', { seed: undefined, kernel: undefined, fix: undefined }).outcome).toEqual(run('T5').outcome);
  });

  it('flags given as booleans are taken', () => {
    const r = explore('R1', { reduction: false, allViolations: true, maxStates: 50 });
    expect(r.statesVisited).toBeGreaterThan(0);
  });
});
