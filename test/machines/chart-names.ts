/**
 * Charts name their guards and actions by string: every name a chart uses must be implemented. The
 * compiler checks it against setup() (machines/physical-cpu/dsl.ts); this checks the machine as
 * built, with the implementations a run provides. Shared by the tests of each machine.
 */
import type { AnyStateMachine, StateNode } from 'xstate';

/** Guard and action names used by the chart but not implemented, and how many states it has. */
export function unimplementedNames(
  machine: AnyStateMachine,
  impl: { guards: Record<string, unknown>; actions: Record<string, unknown> } = machine.implementations as never,
): { missing: string[]; states: number } {
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
  let states = 0;
  const visit = (node: StateNode<any, any>): void => {
    states += 1;
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
  return { missing, states };
}

