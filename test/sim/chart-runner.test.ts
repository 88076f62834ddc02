/**
 * The compiled chart runner against XState's own interpreter on a small chart whose parallel regions share an
 * ancestor with eventless transitions: the same configurations and contexts, and each eventless guard of that
 * ancestor is asked once per settling round, not once per active leaf; the active nodes, which a chart state
 * holds as each compound node's active child, are XState's.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, setup } from 'xstate';
import { ChartRunner } from '../../src/sim/chart-runner.js';

interface Ctx {
  n: number;
  asked: Record<string, number>;
}

function chart() {
  return setup({
    types: { context: {} as Ctx, events: {} as { type: 'tick' } | { type: 'other' } },
    guards: {
      // Counts its calls in a record outside the context's assignments (the runner copies nothing).
      'n is 3': ({ context }) => {
        context.asked['n is 3'] = (context.asked['n is 3'] ?? 0) + 1;
        return context.n === 3;
      },
      'n is 5': ({ context }) => {
        context.asked['n is 5'] = (context.asked['n is 5'] ?? 0) + 1;
        return context.n === 5;
      },
    },
    actions: { bump: assign(({ context }) => ({ n: context.n + 1 })) },
  }).createMachine({
    id: 'm',
    // A factory: the runner and XState's actor each get their own context (and count of questions).
    context: () => ({ n: 0, asked: {} }),
    initial: 'p',
    states: {
      p: {
        type: 'parallel',
        always: [
          { guard: 'n is 5', target: 'done' },
          { guard: 'n is 3', target: 'p', reenter: true, actions: 'bump' },
        ],
        states: {
          a: { initial: 'a1', states: { a1: { on: { tick: { target: 'a2', actions: 'bump' } } }, a2: { on: { tick: 'a1' } } } },
          b: { initial: 'b1', states: { b1: { on: { tick: 'b2' } }, b2: {} } },
          c: { initial: 'c1', states: { c1: {} } },
        },
      },
      done: { type: 'final' },
    },
  });
}

describe('chart runner: eventless transitions of a shared ancestor', () => {
  it("moves as XState does, asking each of the ancestor's guards once per round", () => {
    const machine = chart();
    const runner = ChartRunner.of(machine);
    const state = runner.initial(undefined);
    const actor = createActor(machine).start();
    const paths = () => runner.leaves(state).map((n) => n.path.join('.'));
    const xstatePaths = () => {
      const v = actor.getSnapshot().value as unknown;
      const out: string[] = [];
      const walk = (x: unknown, at: string[]) => {
        if (typeof x === 'string') out.push([...at, x].join('.'));
        else for (const [k, y] of Object.entries(x as object)) walk(y, [...at, k]);
      };
      walk(v, []);
      return out.sort();
    };
    // Settling the initial state: one round, three active leaves, one question each.
    expect(state.context.asked).toEqual({ 'n is 5': 1, 'n is 3': 1 });
    for (let i = 0; i < 6 && state.status === 'active'; i++) {
      const before = { ...state.context.asked };
      runner.send(state, { type: 'tick' });
      actor.send({ type: 'tick' });
      expect(paths().sort()).toEqual(xstatePaths());
      // The active nodes (no flag per node: they follow from each compound node's active child) are XState's
      // leaves and every ancestor of them, the root ('') included, in document order.
      const prefixes = new Set(['', ...xstatePaths().flatMap((p) => p.split('.').map((_, k, parts) => parts.slice(0, k + 1).join('.')))]);
      const active = runner.activeOrders(state);
      expect(active).toEqual([...active].sort((a, b) => a - b));
      expect(new Set(active.map((o) => runner.path(o)))).toEqual(prefixes);
      for (let o = 0; o < runner.size; o++) expect(runner.isActive(state, o)).toBe(prefixes.has(runner.path(o)));
      // A saved chart's list of active nodes gives back the same configuration.
      expect([...runner.childOf(active)]).toEqual([...state.child]);
      expect(state.context.n).toBe(actor.getSnapshot().context.n);
      expect(state.status).toBe(actor.getSnapshot().status);
      // Each round asks 'n is 5' once (the first guard is always asked), whatever the number of leaves.
      const rounds = (state.context.asked['n is 5'] ?? 0) - (before['n is 5'] ?? 0);
      expect(rounds).toBeGreaterThanOrEqual(1);
      expect((state.context.asked['n is 3'] ?? 0) - (before['n is 3'] ?? 0)).toBeLessThanOrEqual(rounds);
      if (state.status === 'active') expect(rounds).toBeLessThanOrEqual(2);
    }
    expect(state.status).toBe('done');
  });

  it('makes each initial state for its own input: entry actions run for each, action-free entry is copied', () => {
    const base = setup({
      types: { context: {} as { id: number; entered: number[] }, input: {} as { id: number } },
      actions: { note: assign(({ context }) => ({ entered: [...context.entered, context.id] })) },
    });
    const states = {
      p: { type: 'parallel' as const, states: { a: { initial: 'a1', states: { a1: {}, a2: {} } }, b: { initial: 'b1', states: { b1: {} } } } },
    };
    const quiet = base.createMachine({ id: 'q', context: ({ input }) => ({ id: input.id, entered: [] }), initial: 'p', states });
    const noisy = base.createMachine({
      id: 'n',
      context: ({ input }) => ({ id: input.id, entered: [] }),
      initial: 'p',
      states: { p: { ...states.p, states: { ...states.p.states, b: { initial: 'b1', states: { b1: { entry: 'note' } } } } } },
    });
    for (const machine of [quiet, noisy]) {
      const runner = ChartRunner.of(machine);
      for (const id of [1, 2, 3]) {
        const state = runner.initial({ id });
        const snap = createActor(machine, { input: { id } }).start().getSnapshot();
        expect(state.context).toEqual(snap.context);
        expect(runner.leaves(state).map((n) => n.path.join('.'))).toEqual(['p.a.a1', 'p.b.b1']);
        expect(snap.value).toEqual({ p: { a: 'a1', b: 'b1' } });
      }
    }
  });
});
