/**
 * The one idiom every machine of machines/ is written in (physical CPU, vCPU, VMM, vhost-vsock):
 *
 * 1. Guards and actions: `xImplementations(world)` returns `{ guards, actions }`, plain functions
 *    (context changes through `assign`, effects through the world: memory, port, clock) that ask
 *    the pure rules of src/hw, src/kernel, src/kvm or src/vhost.
 * 2. Setup: `xSetup = setup({ types: { context, events, input }, ...xImplementations(defaultWorld) })`;
 *    setup() infers every guard and action name with the type of its params. The default world
 *    throws (or, for the CPU, reads the world the event carries) until a run provides its own.
 * 3. Types: `TypesOf<typeof xSetup>` — the context, events and guard and action references of that
 *    setup. Every state is a `StateConfig<XTypes>`.
 * 4. Flows: states are built with the builders of `chartDsl<XTypes, Region>(stepOf)` — `op` (one
 *    step), `decide` (first branch whose guard holds), `route` (eventless), `call`/`done` (a
 *    nested flow and its return), `blocked`, and with a clock `wait` and `sleep` — or written as
 *    `StateConfig<XTypes>` literals for transitions on other events. A guard or action name, or
 *    params, that setup() does not implement, or an event the machine does not have, is a compile
 *    error (test/machines/dsl-types.test.ts shows it).
 * 5. Machine: `xMachine = xSetup.createMachine({ id, initial, context, states })`, no cast: the
 *    states are checked against XState's own `StateNodeConfig` of that setup. A run binds it to
 *    its world with `xMachine.provide(xImplementations(world))`, typed as setup() typed it.
 *
 * The builders keep kernel code readable as a chart: one state is one program point, and the
 * region's step event (`sched.task`, `sched.nmi`, `sched.vcpu`, …) executes the instruction or
 * atomic step at it. Flows that the kernel calls from several places are functions returning a
 * compound state with a final `done`, so a call is a nested state and the return is its `onDone`.
 */
import type { EventObject, GuardPredicate, MachineContext, ParameterizedObject, StateNodeConfig } from 'xstate';

/** What a chart is typed by: its context and events, and the guards and actions its setup() implements. */
export interface ChartTypes {
  context: MachineContext;
  event: EventObject;
  guard: ParameterizedObject;
  action: ParameterizedObject;
}

/** The chart types of a `setup({ … })` result, read from the state config type XState gives it. */
export type TypesOf<S extends { createStateConfig: (config: never) => unknown }> =
  Parameters<S['createStateConfig']>[0] extends StateNodeConfig<
    infer C,
    infer E,
    infer _Actor,
    infer A,
    infer G,
    infer _Delay,
    infer _Tag,
    infer _Output,
    infer _Emitted,
    infer _Meta,
    infer _TransitionMeta
  >
    ? { context: C; event: E; guard: G; action: A }
    : never;

/** A reference to an implementation: its name when it takes no params, else `{ type, params }`. */
type Ref<P extends ParameterizedObject> = P extends unknown
  ? undefined extends P['params']
    ? P['type'] | { type: P['type']; params?: P['params'] }
    : { type: P['type']; params: P['params'] }
  : never;

export type ActionRef<T extends ChartTypes> = Ref<T['action']>;
/** A named guard, or XState's `and`/`or`/`not` over named guards. */
export type GuardRef<T extends ChartTypes> = Ref<T['guard']> | GuardPredicate<T['context'], T['event'], undefined, T['guard']>;
export type Actions<T extends ChartTypes> = ActionRef<T> | ActionRef<T>[];

export interface Transition<T extends ChartTypes> {
  target?: string;
  guard?: GuardRef<T>;
  actions?: Actions<T>;
  description?: string;
}

/** The return of a compound state (`onDone`): XState's done event carries nothing a guard could read. */
export interface DoneTransition<T extends ChartTypes> {
  target?: string;
  actions?: Actions<T>;
}

export type Transitions<T extends ChartTypes> = Transition<T> | Transition<T>[];
export type On<T extends ChartTypes> = { [K in T['event']['type']]?: Transitions<T> };

/** A state of a chart typed by `T`: a subset of XState's `StateNodeConfig` that the charts use. */
export interface StateConfig<T extends ChartTypes> {
  type?: 'final' | 'parallel' | 'compound';
  initial?: string;
  states?: Record<string, StateConfig<T>>;
  on?: On<T>;
  always?: Transitions<T>;
  entry?: ActionRef<T>[];
  exit?: ActionRef<T>[];
  onDone?: string | DoneTransition<T>;
  tags?: string[];
  meta?: Record<string, unknown>;
  description?: string;
}

/** An event type of the chart typed by `T`. */
export type EventType<T extends ChartTypes> = T['event']['type'];

/** A branch of a decision: taken when `if` holds (no `if`: always), doing `do`, going to `to`. */
export interface Branch<T extends ChartTypes> {
  if?: GuardRef<T>;
  to?: string;
  do?: Actions<T>;
}

/**
 * The virtual clock of a chart that waits on it: the action that starts a wait, the timer actions
 * and the guard that recognises a timer's expiry, named as the machine's setup() names them.
 */
export interface Clock<T extends ChartTypes> {
  expired: EventType<T>;
  beginWait: ActionRef<T>;
  arm(name: string, ns: number): ActionRef<T>;
  armPanicTimeout(name: string): ActionRef<T>;
  cancel(name: string): ActionRef<T>;
  timerIs(name: string): GuardRef<T>;
}

function actionsOf<A>(a: A | A[] | undefined): A[] | undefined {
  if (a === undefined) return undefined;
  return Array.isArray(a) ? a : [a];
}

/** `{ [type]: transitions }`: the `on` of one event. */
function onOne<T extends ChartTypes>(type: EventType<T>, transitions: Transitions<T>): On<T> {
  const on: On<T> = {};
  on[type] = transitions;
  return on;
}

/** `state` that also takes the transitions `on` (events other than its step event). */
export function withOn<T extends ChartTypes>(state: StateConfig<T>, on: On<T>): StateConfig<T> {
  return { ...state, on: { ...state.on, ...on } };
}

/**
 * The builders of a chart typed by `T` whose program points are stepped per region `R` (`step(r)`
 * is the step event of region `r`); with a clock, also the kernel waits.
 */
export function chartDsl<T extends ChartTypes, R extends string>(step: (r: R) => EventType<T>, clock?: Clock<T>) {
  const needClock = (): Clock<T> => {
    if (!clock) throw new Error('internal error: this chart has no clock to wait on');
    return clock;
  };
  const done: StateConfig<T> = { type: 'final' };
  return {
    /** A reference to the guard `type` with its params, typed as its implementation takes them. */
    guard<K extends T['guard']['type']>(type: K, params: Extract<T['guard'], { type: K }>['params']) {
      return { type, params };
    },
    /** A reference to the action `type` with its params, typed as its implementation takes them. */
    action<K extends T['action']['type']>(type: K, params: Extract<T['action'], { type: K }>['params']) {
      return { type, params };
    },

    /** One straight-line step: do the actions, go to `to`. */
    op(r: R, to: string, actions?: Actions<T>, description?: string): StateConfig<T> {
      const state: StateConfig<T> = { on: onOne<T>(step(r), { target: to, actions: actionsOf(actions) }) };
      if (description) state.description = description;
      return state;
    },

    /** A decision step: the first branch whose guard holds is taken; the last branch should have no guard. */
    decide(r: R, branches: Branch<T>[], description?: string): StateConfig<T> {
      const state: StateConfig<T> = {
        on: onOne<T>(step(r), branches.map((b) => ({ guard: b.if, target: b.to, actions: actionsOf(b.do) }))),
      };
      if (description) state.description = description;
      return state;
    },

    /** Eventless routing: the first branch whose guard holds is taken on entry, at no step. */
    route(branches: Branch<T>[]): StateConfig<T> {
      return { always: branches.map((b) => ({ guard: b.if, target: b.to, actions: b.do })) };
    },

    /** A call: the compound `callee` runs as a nested state; on its return, go to `then`. */
    call(callee: StateConfig<T>, then: string, onReturn?: Actions<T>): StateConfig<T> {
      return { ...callee, onDone: { target: then, actions: actionsOf(onReturn) } };
    },

    /** The return of a called flow. */
    done,

    /** A state the chart does not leave by executing: halted, spinning, or running a workload. */
    blocked(description: string, on?: On<T>): StateConfig<T> {
      return { tags: ['blocked'], description, ...(on ? { on } : {}) };
    },

    /**
     * A kernel wait on the virtual clock: the CPU moves on when `until` holds (re-checked whenever a
     * `watch`ed variable is written) or when the timer fires. No timer means wait forever.
     */
    wait(
      r: R,
      opts: {
        until: GuardRef<T>;
        to: string;
        watch: string[];
        timer?: { name: string; ns: number };
        onTimeout?: { to: string; do?: Actions<T> };
        do?: Actions<T>;
        description: string;
      },
    ): StateConfig<T> {
      const c = needClock();
      const on = onOne<T>(step(r), { guard: opts.until, target: opts.to, actions: actionsOf(opts.do) });
      const state: StateConfig<T> = { tags: ['wait'], meta: { watch: opts.watch }, description: opts.description, on };
      if (opts.timer && opts.onTimeout) {
        const name = `${r}:${opts.timer.name}`;
        state.entry = [c.beginWait, c.arm(name, opts.timer.ns)];
        state.exit = [c.cancel(name)];
        on[c.expired] = { guard: c.timerIs(name), target: opts.onTimeout.to, actions: actionsOf(opts.onTimeout.do) };
      } else {
        state.entry = [c.beginWait];
      }
      return state;
    },

    /** A pure delay: only the timer moves the CPU on (mdelay, the panic timeout). */
    sleep(r: R, name: string, ns: number | 'panic_timeout', to: string, description: string): StateConfig<T> {
      const c = needClock();
      const timer = `${r}:${name}`;
      return {
        tags: ['blocked'],
        description,
        entry: [c.beginWait, ns === 'panic_timeout' ? c.armPanicTimeout(timer) : c.arm(timer, ns)],
        exit: [c.cancel(timer)],
        on: onOne<T>(c.expired, { guard: c.timerIs(timer), target: to }),
      };
    },
  };
}

export const MS = 1_000_000;
export const US = 1_000;
