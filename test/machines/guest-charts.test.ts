/**
 * The vCPU and VMM-thread charts, like the physical CPU's, are typed by their setup() (the compiler
 * checks every name: test/machines/dsl-types.test.ts); this checks the same at run time, on the
 * machines as built, and that both compile on the chart runner.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { unimplementedNames } from './chart-names.js';
import { vcpuMachine } from '../../machines/vcpu.machine.js';
import { vmmMachine } from '../../machines/vmm.machine.js';
import { ChartRunner } from '../../src/sim/chart-runner.js';

describe.each([
  ['vcpu', vcpuMachine as unknown as AnyStateMachine],
  ['vmm', vmmMachine as unknown as AnyStateMachine],
])('the %s chart', (_name, machine) => {
  it('implements every guard and action it names', () => {
    expect(unimplementedNames(machine).missing).toEqual([]);
  });

  it('compiles on the chart runner', () => {
    expect(() => new ChartRunner(machine)).not.toThrow();
  });
});
