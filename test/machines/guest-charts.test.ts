/**
 * The vCPU and VMM-thread charts are built from loosely typed literals, like the physical CPU's:
 * every guard and action name they use must be implemented in their setup(), and both must compile
 * on the chart runner.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine, StateNode } from 'xstate';
import { vcpuMachine } from '../../machines/vcpu.machine.js';
import { vmmMachine } from '../../machines/vmm.machine.js';
import { ChartRunner } from '../../src/sim/chart-runner.js';

function missingNames(machine: AnyStateMachine): string[] {
  const impl = machine.implementations as { guards: Record<string, unknown>; actions: Record<string, unknown> };
  const guards = new Set(Object.keys(impl.guards));
  const actions = new Set(Object.keys(impl.actions));
  const builtins = new Set(['xstate.and', 'xstate.or', 'xstate.not']);
  const missing: string[] = [];
  const checkGuard = (g: unknown, where: string): void => {
    if (g === undefined) return;
    if (typeof g === 'string') {
      if (!guards.has(g)) missing.push(`guard '${g}' at ${where}`);
    } else if (typeof g === 'function') {
      const inner = (g as { guards?: unknown[]; guard?: unknown }).guards ?? [(g as { guard?: unknown }).guard];
      for (const x of inner) checkGuard(x, where);
    } else if (typeof g === 'object' && g !== null) {
      const type = (g as { type: string }).type;
      if (!builtins.has(type) && !guards.has(type)) missing.push(`guard '${type}' at ${where}`);
    }
  };
  const checkActions = (list: unknown[] | undefined, where: string): void => {
    for (const a of list ?? []) {
      const type = typeof a === 'string' ? a : typeof a === 'object' && a !== null ? (a as { type: string }).type : null;
      if (type !== null && !actions.has(type)) missing.push(`action '${type}' at ${where}`);
    }
  };
  const visit = (node: StateNode<any, any>): void => {
    const where = node.path.join('.') || '(root)';
    checkActions(node.entry as unknown[], where);
    checkActions(node.exit as unknown[], where);
    for (const [, ts] of node.transitions) {
      for (const t of ts) {
        checkGuard(t.guard, where);
        checkActions(t.actions as unknown[], where);
      }
    }
    for (const t of node.always ?? []) {
      checkGuard(t.guard, where);
      checkActions(t.actions as unknown[], where);
    }
    for (const child of Object.values(node.states)) visit(child as StateNode<any, any>);
  };
  visit(machine.root as StateNode<any, any>);
  return missing;
}

describe.each([
  ['vcpu', vcpuMachine as unknown as AnyStateMachine],
  ['vmm', vmmMachine as unknown as AnyStateMachine],
])('the %s chart', (_name, machine) => {
  it('implements every guard and action it names', () => {
    expect(missingNames(machine)).toEqual([]);
  });

  it('compiles on the chart runner', () => {
    expect(() => new ChartRunner(machine)).not.toThrow();
  });
});
