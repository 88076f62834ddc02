/**
 * A few builders that keep kernel code readable as a chart: one state is one program point, and the
 * region's step event (`sched.task`, `sched.nmi`, …) executes the instruction or atomic step at it.
 * Flows that the kernel calls from several places are functions returning a compound state with a
 * final `done`, so a call is a nested state and the return is its `onDone`.
 */
import type { Region } from './types.js';

export type ActionRef = string | { type: string; params?: Record<string, unknown> };
export type GuardRef = string | { type: string; params?: Record<string, unknown> } | ((...args: never[]) => unknown);

export interface Branch {
  if?: GuardRef;
  to?: string;
  do?: ActionRef | ActionRef[];
}

/** A state config. Loosely typed on purpose: names are checked against the implementations in a test. */
export type StateConfig = {
  type?: 'final' | 'parallel' | 'compound';
  initial?: string;
  states?: Record<string, StateConfig>;
  on?: Record<string, unknown>;
  always?: unknown;
  entry?: unknown;
  exit?: unknown;
  onDone?: unknown;
  tags?: string[];
  meta?: Record<string, unknown>;
  description?: string;
};

export const stepOf = (r: Region): `sched.${Region}` => `sched.${r}`;

function actionsOf(a: ActionRef | ActionRef[] | undefined): ActionRef[] | undefined {
  if (a === undefined) return undefined;
  return Array.isArray(a) ? a : [a];
}

/** One straight-line step: do the actions, go to `to`. */
export function op(r: Region, to: string, actions?: ActionRef | ActionRef[], description?: string): StateConfig {
  const state: StateConfig = { on: { [stepOf(r)]: { target: to, actions: actionsOf(actions) } } };
  if (description) state.description = description;
  return state;
}

/** A decision step: the first branch whose guard holds is taken; the last branch should have no guard. */
export function decide(r: Region, branches: Branch[], description?: string): StateConfig {
  const state: StateConfig = {
    on: { [stepOf(r)]: branches.map((b) => ({ guard: b.if, target: b.to, actions: actionsOf(b.do) })) },
  };
  if (description) state.description = description;
  return state;
}

/** A call: the compound `callee` runs as a nested state; on its return, go to `then`. */
export function call(callee: StateConfig, then: string, onReturn?: ActionRef | ActionRef[]): StateConfig {
  return { ...callee, onDone: { target: then, actions: actionsOf(onReturn) } };
}

export const done: StateConfig = { type: 'final' };

/** A state the CPU does not leave by executing: halted, spinning, or running a workload. */
export function blocked(description: string, on?: Record<string, unknown>): StateConfig {
  return { tags: ['blocked'], description, ...(on ? { on } : {}) };
}

/**
 * A kernel wait on the virtual clock: the CPU moves on when `until` holds (re-checked whenever a
 * `watch`ed variable is written) or when the timer fires. No timer means wait forever.
 */
export function wait(
  r: Region,
  opts: {
    until: GuardRef;
    to: string;
    watch: string[];
    timer?: { name: string; ns: number };
    onTimeout?: { to: string; do?: ActionRef | ActionRef[] };
    do?: ActionRef | ActionRef[];
    description: string;
  },
): StateConfig {
  const on: Record<string, unknown> = {
    [stepOf(r)]: { guard: opts.until, target: opts.to, actions: actionsOf(opts.do) },
  };
  const state: StateConfig = { tags: ['wait'], meta: { watch: opts.watch }, description: opts.description, on };
  if (opts.timer && opts.onTimeout) {
    const name = `${r}:${opts.timer.name}`;
    state.entry = [{ type: 'begin wait' }, { type: 'arm timer', params: { name, ns: opts.timer.ns } }];
    state.exit = [{ type: 'cancel timer', params: { name } }];
    on['timer.expired'] = {
      guard: { type: 'timer is', params: { name } },
      target: opts.onTimeout.to,
      actions: actionsOf(opts.onTimeout.do),
    };
  } else {
    state.entry = [{ type: 'begin wait' }];
  }
  return state;
}

/** A pure delay: only the timer moves the CPU on (mdelay, the panic timeout). */
export function sleep(r: Region, name: string, ns: number | 'panic_timeout', to: string, description: string): StateConfig {
  const timer = `${r}:${name}`;
  return {
    tags: ['blocked'],
    description,
    entry: [
      { type: 'begin wait' },
      ns === 'panic_timeout'
        ? { type: 'arm panic timer', params: { name: timer } }
        : { type: 'arm timer', params: { name: timer, ns } },
    ],
    exit: [{ type: 'cancel timer', params: { name: timer } }],
    on: { 'timer.expired': { guard: { type: 'timer is', params: { name: timer } }, target: to } },
  };
}

/** halt(); for (;;) cpu_relax(); — woken by an NMI or interrupt, it halts again after the IRET. */
export function haltLoop(r: Region, description: string): StateConfig {
  return {
    tags: ['wait'],
    meta: { watch: [] },
    description,
    on: { [stepOf(r)]: { guard: 'not halted', actions: ['hlt'] } },
  };
}

export const MS = 1_000_000;
export const US = 1_000;
