/**
 * A compiled runner for an XState v5 machine definition: the same StateNode tree, the same guard and
 * action implementations (after `.provide()`), executed with XState's own algorithm — hierarchical
 * transition selection (children before parents, every region of a parallel state), SCXML exit and
 * entry sets with XState's transition domains, in-order actions with `assign` applied as it comes,
 * eventless transitions and done events processed within the macrostep — but over a plain array of
 * active nodes that the caller owns, with no snapshot objects built per microstep.
 *
 * Why: XState's interpreter costs ≈38 µs per step on the physical CPU chart (it rebuilds a snapshot
 * and its state value at every microstep); this runner does the same work in a few µs. A
 * differential test holds the two to byte-identical traces. It supports what the charts use:
 * atomic, compound, parallel and final states, guards (named, parameterised, and/or/not), named and
 * parameterised actions, `assign`, `always`, `onDone`. Anything else (history, invoke, delayed
 * transitions, other built-in actions) is refused when the chart is compiled, not misrun.
 *
 * Over 400 lines because it is one class: the tables compiled from the machine are private fields that
 * selection, microsteps and the exit sets read on every step; what needs only the chart (transition domains,
 * entry sets) is in scxml-sets.ts.
 */
import type { AnyStateMachine, ContextFrom, EventFromLogic } from 'xstate';
import { entrySet, initialTargets, isDescendant, transitionDomain, type Node, type Transition } from './scxml-sets.js';

type Impl = ((args: { context: any; event: any }, params: unknown) => unknown) & {
  type?: string;
  assignment?: unknown;
  resolve?: unknown;
};

const NONE: never[] = [];

/**
 * A transition as selection reads it: the one-element selection it makes (shared: selections are read, never
 * changed) and its guard as a plain predicate (null: no guard), remembered with the `checks` table it came
 * from. Selection tests guards more than a million times in a large run; this keeps each test to a call,
 * without a lookup. The tables are shared by runners bound to other implementations (cpu-drivers.ts'
 * `boundRunner` gives each its own `checks`), so a predicate is used only by the runner whose table made it.
 */
interface Candidate<C, E> {
  t: Transition;
  one: Transition[];
  check: ((context: C, event: E) => boolean) | null;
  owner: Map<unknown, (context: C, event: E) => boolean> | null;
}

/** An action as `run` calls it: its implementation, its parameters (or their function), its assignment if it is `assign`. */
interface CompiledAction<C, E> {
  impl: Impl;
  params: unknown;
  paramsOf: ((args: { context: C; event: E }) => unknown) | null;
  assignment: ((args: unknown, params: unknown) => Partial<C>) | null;
}

export interface ChartEvent {
  type: string;
}

/**
 * One actor's state: which nodes are active and its context. The configuration is the active child of each
 * compound node: the root is always active, every region of an active parallel state is, and a compound
 * state's child is when the state is (`isActive`, `activeOrders`). No flag per node: with thousands of
 * CPUs a byte per node (1,263 in the CPU chart) was 10 MB to fault in, copy and write on every step.
 */
export interface ChartState<C> {
  context: C;
  status: 'active' | 'done';
  /** Active atomic nodes (document order), kept up to date by each microstep; null = recompute. */
  leaves?: number[] | null;
  /** For each compound node (by its place in the runner's `childSlot`), the order of its active child (-1: none). */
  child: Int16Array;
}

export class ChartRunner<C, E extends ChartEvent> {
  private readonly nodes: Node[] = [];
  private readonly guards: Record<string, Impl>;
  private readonly actions: Record<string, Impl>;
  private readonly pathOf: string[] = [];
  private readonly root: Node;
  private readonly candidates: Map<string, Transition[]>[] = [];
  private readonly always: (Transition[] | undefined)[] = [];
  /** Event types some node in the subtree (the node included) has transitions for. */
  private readonly subtreeEvents: Set<string>[] = [];
  private readonly eventIds = new Map<string, number>();
  private eventCount = 0;
  /** handledBelow[node · eventCount + event]: the subtree of node has transitions for the event. */
  private handledBelow = new Uint8Array(0);
  private readonly candidatesById: (Candidate<C, E>[] | undefined)[][] = [];
  /** For each atomic node, the eventless transitions of itself and of each ancestor that has some, nearest first. */
  private readonly alwaysChain: Candidate<C, E>[][][] = [];
  /** The node each level of `alwaysChain` belongs to. */
  private readonly alwaysNodes: number[][] = [];
  /**
   * Per node, the `eventless()` call that last tested its eventless transitions, and whether one passed
   * then. The leaves of a parallel state share its ancestors' levels (the CPU chart's `os` is every
   * region's): within one call a level's answer does not change (guards are pure, no action runs
   * between), so each is tested once, not once per leaf.
   */
  private alwaysTested = new Float64Array(0);
  private alwaysPassed = new Uint8Array(0);
  /**
   * Numbers each `eventless()` call, for its stamps in `alwaysTested`: one counter with the stamps, so a
   * runner bound to other implementations (cpu-drivers.ts' `boundRunner`), which shares these tables,
   * shares it too (calls never overlap).
   */
  private readonly eventlessCalls = { n: 0 };
  private readonly children: Node[][] = [];
  /** The children of each node by number, and which nodes are parallel (selection's walk). */
  private readonly childOrders: number[][] = [];
  private parallel = new Uint8Array(0);
  /**
   * Each compound node's place in a chart state's `child` array (-1: atomic or parallel, no place).
   * Only compound nodes have an active child to remember (about a tenth of the CPU chart's nodes), and the
   * array is read on every step of every CPU: a short one stays in fewer cache lines.
   */
  private childSlot = new Int16Array(0);
  private childSlots = 0;
  private readonly entryOf: unknown[][] = [];
  private readonly exitOf: unknown[][] = [];
  private readonly initialActionsOf: unknown[][] = [];
  /** Per transition, what does not depend on the active configuration (the domain, the entry set). */
  private initialTransition: Transition | undefined;
  /**
   * The configuration default entry makes, when entering it runs no action (no entry or initial action, no
   * final state): then it is the same for every input, and each further initial state copies it
   * (thousands of CPUs are set up before the first step). `child` and `leaves` stay null until the first
   * initial state is made, and for good when entering runs an action.
   */
  private initialConfig: { known: boolean; child: Int16Array | null; leaves: number[] | null } = { known: false, child: null, leaves: null };
  /** One argument object for every action call: implementations read it at once, and none re-enters the runner. */
  private readonly actionArgs: { context: C; event: E } = { context: undefined as unknown as C, event: undefined as unknown as E };
  /** One argument object for every guard call: guards are pure and read it at once. */
  private readonly guardArgs: { context: C; event: E } = { context: undefined as unknown as C, event: undefined as unknown as E };
  private readonly checks = new Map<unknown, (context: C, event: E) => boolean>();
  /** Action lists resolved to their implementations (`compiledList`), and the implementations they were resolved with. */
  private compiledActions: Map<readonly unknown[], CompiledAction<C, E>[]> | null = null;
  private compiledFor: unknown = null;
  /** The buffer microstep collects one transition's exit set in, while it is not in use (null: taken, or not made yet). */
  private exitBuffer: Node[] | null = null;
  /** The queue of done events `send` uses, while it is not in use (every CPU step is a send: one array, not one each). */
  private sendQueue: E[] | null = [];
  private readonly plans = new Map<Transition, { domain: Node | undefined; enter: Node[]; defaultEntry: Set<Node> }>();

  /** The runner of `machine`, typed by the machine's own context and events. */
  static of<M extends AnyStateMachine>(machine: M): ChartRunner<ContextFrom<M>, EventFromLogic<M>> {
    return new ChartRunner<ContextFrom<M>, EventFromLogic<M>>(machine);
  }

  constructor(private readonly machine: AnyStateMachine) {
    this.root = machine.root as Node;
    const impl = machine.implementations as unknown as { guards: Record<string, Impl>; actions: Record<string, Impl> };
    this.guards = impl.guards;
    this.actions = impl.actions;
    const visit = (n: Node) => {
      if (n.type === 'history') throw new Error(`chart runner: history state ${n.id} is not supported`);
      if (n.invoke.length > 0) throw new Error(`chart runner: invoke in ${n.id} is not supported`);
      if (n.after.length > 0) throw new Error(`chart runner: delayed transitions in ${n.id} are not supported`);
      this.nodes[n.order] = n;
      this.pathOf[n.order] = n.path.join('.');
      this.children[n.order] = Object.values(n.states) as Node[];
      this.entryOf[n.order] = [...(n.entry as unknown[])];
      this.exitOf[n.order] = [...(n.exit as unknown[])];
      this.initialActionsOf[n.order] = [...(((n.initial as unknown as { actions?: unknown[] } | undefined)?.actions) ?? [])];
      const byEvent = new Map<string, Transition[]>();
      for (const [type, ts] of n.transitions) byEvent.set(type, ts as unknown as Transition[]);
      this.candidates[n.order] = byEvent;
      this.always[n.order] = n.always as unknown as Transition[] | undefined;
      const all = [...byEvent.values()].flat().concat(this.always[n.order] ?? []);
      for (const t of all) for (const a of t.actions) this.checkAction(a, n);
      for (const a of [...(n.entry as unknown[]), ...(n.exit as unknown[])]) this.checkAction(a, n);
      for (const child of this.children[n.order] as Node[]) visit(child);
    };
    visit(this.root);
    this.parallel = new Uint8Array(this.nodes.length);
    this.childSlot = new Int16Array(this.nodes.length).fill(-1);
    for (const n of this.nodes) {
      this.childOrders[n.order] = (this.children[n.order] as Node[]).map((c) => c.order);
      if (n.type === 'parallel') this.parallel[n.order] = 1;
      else if ((this.children[n.order] as Node[]).length > 0) this.childSlot[n.order] = this.childSlots++;
    }
    const events = (n: Node): Set<string> => {
      const set = new Set<string>((this.candidates[n.order] as Map<string, Transition[]>).keys());
      for (const c of this.children[n.order] as Node[]) for (const e of events(c)) set.add(e);
      this.subtreeEvents[n.order] = set;
      return set;
    };
    events(this.root);
    for (const set of this.subtreeEvents) for (const e of set) if (!this.eventIds.has(e)) this.eventIds.set(e, this.eventIds.size);
    const made = new Map<Transition, Candidate<C, E>>();
    const candidate = (t: Transition): Candidate<C, E> => {
      let c = made.get(t);
      if (!c) made.set(t, (c = { t, one: [t], check: null, owner: null }));
      return c;
    };
    this.eventCount = this.eventIds.size;
    this.handledBelow = new Uint8Array(this.nodes.length * this.eventCount);
    for (const n of this.nodes) {
      for (const e of this.subtreeEvents[n.order] as Set<string>) this.handledBelow[n.order * this.eventCount + (this.eventIds.get(e) as number)] = 1;
      const byId: (Candidate<C, E>[] | undefined)[] = new Array(this.eventCount);
      for (const [e, ts] of this.candidates[n.order] as Map<string, Transition[]>) byId[this.eventIds.get(e) as number] = ts.map(candidate);
      this.candidatesById[n.order] = byId;
    }
    for (const n of this.nodes) {
      if ((this.children[n.order] as Node[]).length > 0) continue;
      const chain: Candidate<C, E>[][] = [];
      const at: number[] = [];
      for (let m: Node | undefined = n; m; m = m.parent as Node | undefined) {
        const always = this.always[m.order];
        if (always) {
          chain.push(always.map(candidate));
          at.push(m.order);
        }
      }
      this.alwaysChain[n.order] = chain;
      this.alwaysNodes[n.order] = at;
    }
    this.alwaysTested = new Float64Array(this.nodes.length);
    this.alwaysPassed = new Uint8Array(this.nodes.length);
  }

  private checkAction(a: unknown, n: Node): void {
    const impl = this.implOf(a);
    if (!impl) throw new Error(`chart runner: action ${JSON.stringify(a)} in ${n.id} is not implemented`);
    if (impl.resolve && impl.type !== 'xstate.assign') {
      throw new Error(`chart runner: built-in action ${impl.type ?? '?'} in ${n.id} is not supported`);
    }
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The length of a chart state's `child` array (one place per compound node). */
  get childSize(): number {
    return this.childSlots;
  }

  path(order: number): string {
    return this.pathOf[order] as string;
  }

  node(order: number): Node {
    return this.nodes[order] as Node;
  }

  /** The machine's initial state for this input (its context factory, then default entry). */
  initial(input: unknown, storage?: { child: Int16Array }): ChartState<C> {
    const config = (this.machine as unknown as { config: { context?: unknown } }).config;
    const factory = config.context;
    const context = (typeof factory === 'function' ? (factory as (a: { input: unknown }) => C)({ input }) : factory) as C;
    const state: ChartState<C> = {
      context,
      status: 'active',
      // Every field from the start, in copy()'s order: one object shape for every chart state.
      leaves: null,
      child: storage?.child ?? new Int16Array(this.childSlots),
    };
    const init = { type: 'xstate.init', input } as unknown as E;
    const queue: E[] = [];
    this.initialTransition ??= { source: this.root, target: [...initialTargets(this.root)], actions: [], guard: undefined, reenter: true, eventType: '' };
    const entry = this.initialConfig;
    if (entry.child && entry.leaves) {
      // What the microstep below would write, with no action to run on the way.
      state.child.set(entry.child);
      state.leaves = entry.leaves.slice();
    } else {
      state.child.fill(-1);
      this.microstep(state, [this.initialTransition], init, queue, true);
      if (!entry.known) {
        entry.known = true;
        if (this.actionFree(this.initialTransition)) {
          entry.child = state.child.slice();
          entry.leaves = this.leaves(state).map((n) => n.order);
        }
      }
    }
    this.settle(state, init, queue);
    return state;
  }

  /** Whether taking `t` as the initial transition runs no action: none of its own, none on entering its states. */
  private actionFree(t: Transition): boolean {
    if (t.actions.length > 0) return false;
    const { enter, defaultEntry } = this.plan(t, true);
    return enter.every(
      (s) => s.type !== 'final' && (this.entryOf[s.order] as unknown[]).length === 0 && (!defaultEntry.has(s) || (this.initialActionsOf[s.order] as unknown[]).length === 0),
    );
  }

  /** One macrostep: the event, then eventless transitions and done events until stable. */
  send(state: ChartState<C>, event: E): void {
    if (state.status !== 'active') return;
    // The runner's queue of done events, empty between sends (a send takes it, a nested one would make its own).
    const queue = this.sendQueue ?? [];
    this.sendQueue = null;
    const selected = this.select(state, event);
    if (selected.length > 0) this.microstep(state, selected, event, queue, false);
    this.settle(state, event, queue);
    // Nearly always empty already: setting the length is a call into the runtime.
    if (queue.length > 0) queue.length = 0;
    this.sendQueue = queue;
  }

  /** XState's `can()`: some transition for the event has a target or actions. */
  can(state: ChartState<C>, event: E): boolean {
    if (state.status !== 'active') return false;
    return this.select(state, event).some((t) => t.target !== undefined || t.actions.length > 0);
  }

  /** Set the configuration to the given active leaves and their ancestors (restoring a capture). */
  loadLeaves(state: ChartState<C>, leaves: readonly number[]): void {
    const child = state.child;
    const slot = this.childSlot;
    // Clear only what is active now (the current leaves and their ancestors), not the whole chart.
    const current = state.leaves ?? this.leaves(state).map((n) => n.order);
    for (const o of current) {
      for (let n: Node | undefined = this.nodes[o]; n; n = n.parent as Node | undefined) {
        const k = slot[n.order] as number;
        if (k >= 0) child[k] = -1;
      }
    }
    for (const o of leaves) {
      for (let n: Node | undefined = this.nodes[o]; n; n = n.parent as Node | undefined) {
        const parent = n.parent as Node | undefined;
        if (parent && parent.type !== 'parallel') child[slot[parent.order] as number] = n.order;
      }
    }
    state.leaves = [...leaves];
  }

  copy(state: ChartState<C>): ChartState<C> {
    return {
      context: { ...state.context },
      status: state.status,
      leaves: state.leaves ? [...state.leaves] : null,
      child: state.child.slice(),
    };
  }

  /** Whether node `order` is active: each compound ancestor has the path's node as its active child. */
  isActive(state: ChartState<C>, order: number): boolean {
    const child = state.child;
    for (let n = this.nodes[order] as Node; n.parent; n = n.parent as Node) {
      const k = this.childSlot[(n.parent as Node).order] as number;
      if (k >= 0 && child[k] !== n.order) return false;
    }
    return true;
  }

  /** Every active node, in document order (the root first): what a saved chart lists. */
  activeOrders(state: ChartState<C>): number[] {
    const out: Node[] = [this.root];
    this.collect(state, this.root, out, false);
    return out.map((n) => n.order);
  }

  /** The `child` array of the configuration whose active nodes are `active` (a saved chart's list). */
  childOf(active: readonly number[]): Int16Array {
    const child = new Int16Array(this.childSlots).fill(-1);
    for (const o of active) {
      const parent = (this.nodes[o] as Node | undefined)?.parent as Node | undefined;
      if (parent && parent.type !== 'parallel') child[this.childSlot[parent.order] as number] = o;
    }
    return child;
  }

  /** Active atomic nodes, in document order. */
  leaves(state: ChartState<C>): Node[] {
    if (!state.leaves) {
      const out: Node[] = [];
      this.collect(state, this.root, out, true);
      state.leaves = out.map((n) => n.order);
    }
    return state.leaves.map((o) => this.nodes[o] as Node);
  }

  /** Active descendants of `node` (not `node` itself) in document order; only leaves if asked. */
  private collect(state: ChartState<C>, node: Node, out: Node[], leavesOnly: boolean): void {
    const kids = this.children[node.order] as Node[];
    if (kids.length === 0) {
      if (leavesOnly) out.push(node);
      return;
    }
    if (node.type !== 'parallel') {
      const c = this.activeChild(state, node);
      if (c) {
        if (!leavesOnly) out.push(c);
        this.collect(state, c, out, leavesOnly);
      }
      return;
    }
    // Every region of an active parallel state is active: no need to read the configuration.
    for (const c of kids) {
      if (!leavesOnly) out.push(c);
      this.collect(state, c, out, leavesOnly);
    }
  }

  /** The active child of a compound node, or undefined. */
  activeChild(state: ChartState<C>, node: Node): Node | undefined {
    const k = this.childSlot[node.order] as number;
    if (k < 0) return undefined;
    const o = state.child[k] as number;
    return o >= 0 ? this.nodes[o] : undefined;
  }

  // ---- selection -------------------------------------------------------------------------------

  private select(state: ChartState<C>, event: E): Transition[] {
    // Event types are interned: a type no state handles selects nothing, and the per-node tests
    // below are array reads instead of string-keyed lookups.
    const id = this.eventIds.get(event.type);
    if (id === undefined) return NONE;
    return this.transitionAt(state, this.root.order, event, id) ?? NONE;
  }

  // Selection walks node numbers (childOrders, parallel) rather than XState's StateNode objects: it
  // runs for every event of every CPU, and reading those large objects cost more than the walk.
  private transitionAt(state: ChartState<C>, o: number, event: E, id: number): Transition[] | undefined {
    if (this.handledBelow[o * this.eventCount + id] !== 1) return undefined;
    const kids = this.childOrders[o] as number[];
    if (kids.length === 0) return this.next(state, o, event, id);
    if (this.parallel[o] === 1) {
      let all: Transition[] | undefined;
      const handled = this.handledBelow;
      const events = this.eventCount;
      for (let k = 0; k < kids.length; k++) {
        const c = kids[k] as number;
        // The chart's table only: every region of an active parallel state is active, so this actor's
        // configuration is not read (each region's flag would be a cache line of its own).
        if (handled[c * events + id] !== 1) continue;
        const inner = this.transitionAt(state, c, event, id);
        if (inner && inner.length) all = all ? [...all, ...inner] : inner;
      }
      return all ?? this.next(state, o, event, id);
    }
    const child = state.child[this.childSlot[o] as number] as number;
    const inner = child >= 0 ? this.transitionAt(state, child, event, id) : undefined;
    return inner && inner.length ? inner : this.next(state, o, event, id);
  }

  private next(state: ChartState<C>, o: number, event: E, id: number): Transition[] | undefined {
    const cs = (this.candidatesById[o] as (Candidate<C, E>[] | undefined)[])[id];
    if (!cs) return undefined;
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i] as Candidate<C, E>;
      if (this.passes(c, state.context, event)) return c.one;
    }
    return undefined;
  }

  private passes(c: Candidate<C, E>, context: C, event: E): boolean {
    if (c.t.guard === undefined) return true;
    if (c.owner !== this.checks) {
      c.check = this.checkOf(c.t.guard);
      c.owner = this.checks;
    }
    return (c.check as (context: C, event: E) => boolean)(context, event);
  }

  /** The predicate of a guard reference, compiled once for every transition that shares the reference. */
  private checkOf(g: unknown): (context: C, event: E) => boolean {
    let check = this.checks.get(g);
    if (!check) {
      check = this.compileGuard(g);
      this.checks.set(g, check);
    }
    return check;
  }

  /** A guard reference resolved once to a plain predicate (the chart's guard refs are static). */
  private compileGuard(g: unknown): (context: C, event: E) => boolean {
    if (typeof g === 'function') {
      const f = g as Impl & { check?: unknown; guards?: unknown[] };
      if (f.check && f.guards) {
        const parts = f.guards.map((x) => this.compileGuard(x));
        // xstate's and() / or() / not(): the function's name says which.
        // Loops rather than every()/some(): no callback made per test (a large run tests these a million times).
        if (f.name === 'and')
          return (c, e) => {
            for (let i = 0; i < parts.length; i++) if (!(parts[i] as (c: C, e: E) => boolean)(c, e)) return false;
            return true;
          };
        if (f.name === 'or')
          return (c, e) => {
            for (let i = 0; i < parts.length; i++) if ((parts[i] as (c: C, e: E) => boolean)(c, e)) return true;
            return false;
          };
        if (f.name === 'not') return (c, e) => !(parts[0] as (c: C, e: E) => boolean)(c, e);
        throw new Error(`chart runner: unknown higher-order guard ${f.name}`);
      }
      return (context, event) => Boolean(f({ context, event }, undefined));
    }
    const ref = g as string | { type: string; params?: unknown };
    const name = typeof ref === 'string' ? ref : ref.type;
    const impl = this.guards[name];
    if (!impl) throw new Error(`chart runner: guard '${name}' is not implemented`);
    const params = typeof ref === 'string' ? undefined : ref.params;
    if (typeof params === 'function') {
      return (context, event) => Boolean(impl({ context, event }, (params as (a: unknown) => unknown)({ context, event })));
    }
    const args = this.guardArgs;
    return (context, event) => {
      args.context = context;
      args.event = event;
      return Boolean(impl(args, params));
    };
  }

  private eventless(state: ChartState<C>, event: E): Transition[] {
    let enabled: Transition[] | null = null;
    if (!state.leaves) this.leaves(state);
    const leaves = state.leaves as number[];
    const call = ++this.eventlessCalls.n;
    const tested = this.alwaysTested;
    const passed = this.alwaysPassed;
    for (let l = 0; l < leaves.length; l++) {
      const chain = this.alwaysChain[leaves[l] as number] as Candidate<C, E>[][];
      const nodes = this.alwaysNodes[leaves[l] as number] as number[];
      loop: for (let k = 0; k < chain.length; k++) {
        const at = nodes[k] as number;
        if (tested[at] === call) {
          // Tested for another leaf: its transition, if one passed, is in `enabled` already.
          if (passed[at] === 1) break loop;
          continue;
        }
        tested[at] = call;
        passed[at] = 0;
        const cs = chain[k] as Candidate<C, E>[];
        for (let i = 0; i < cs.length; i++) {
          const c = cs[i] as Candidate<C, E>;
          if (this.passes(c, state.context, event)) {
            passed[at] = 1;
            if (!enabled) enabled = [c.t];
            else if (!enabled.includes(c.t)) enabled.push(c.t);
            break loop;
          }
        }
      }
    }
    return enabled ?? NONE;
  }

  // ---- microsteps ------------------------------------------------------------------------------

  private settle(state: ChartState<C>, first: E, queue: E[]): void {
    let event = first;
    for (let guard = 0; state.status === 'active'; guard++) {
      if (guard > 10_000) throw new Error('chart runner: more than 10,000 microsteps without a stable state');
      let ts = this.eventless(state, event);
      if (ts.length === 0) {
        const next = queue.shift();
        if (!next) break;
        event = next;
        ts = this.select(state, event);
        if (ts.length === 0) continue;
      }
      this.microstep(state, ts, event, queue, false);
    }
  }

  private microstep(state: ChartState<C>, selected: Transition[], event: E, queue: E[], initial: boolean): void {
    const transitions = this.removeConflicts(state, selected);
    // One transition (nearly every microstep): its plan, looked up once for its exit and its entry.
    const single = transitions.length === 1 ? this.plan(transitions[0] as Transition, initial) : null;
    let leaves = state.leaves ?? null;
    if (!initial) {
      // Exit in reverse document order. One transition's exit set is collected in document order
      // (a pre-order walk, and `order` is pre-order), so it is walked backwards instead of sorted.
      // One transition's exit set goes into the first `count` places of a buffer the runner keeps (a large
      // run takes hundreds of thousands of microsteps); it is taken while in use, so a nested microstep (no
      // action makes one) would get its own.
      const buffer = this.exitBuffer ?? new Array<Node>(this.nodes.length).fill(this.root);
      this.exitBuffer = null;
      let exits: Node[];
      let count: number;
      if (single) {
        exits = buffer;
        count = this.exitSetOf(state, transitions[0] as Transition, single.domain, buffer);
      } else {
        exits = this.exitSet(state, transitions).sort((a, b) => a.order - b.order);
        count = exits.length;
      }
      const child = state.child;
      for (let i = count - 1; i >= 0; i--) {
        const s = exits[i] as Node;
        this.run(state, this.exitOf[s.order] as unknown[], event);
        const parent = s.parent as Node | undefined;
        const k = parent ? (this.childSlot[parent.order] as number) : -1;
        if (k >= 0 && child[k] === s.order) child[k] = -1;
      }
      if (leaves && count > 0) {
        // The leaves that stop being active are the atomic nodes just exited (reading the others' flags
        // would touch a cache line per region).
        for (let e = 0; e < count; e++) {
          const s = exits[e] as Node;
          if ((this.children[s.order] as Node[]).length > 0) continue;
          const i = leaves.indexOf(s.order);
          if (i < 0) continue;
          // splice() without the array of removed elements it would make.
          for (let j = i + 1; j < leaves.length; j++) leaves[j - 1] = leaves[j] as number;
          leaves.pop();
        }
      }
      this.exitBuffer = buffer;
    }
    for (let i = 0; i < transitions.length; i++) this.run(state, (transitions[i] as Transition).actions, event);
    let enter: Node[];
    let defaultEntry: Set<Node>;
    if (single) {
      // The initial transition's plan also holds the root in its default entry (XState adds it).
      ({ enter, defaultEntry } = single);
    } else {
      const sets = entrySet(transitions, this.root, this.children);
      enter = [...sets.enter].sort((a, b) => a.order - b.order);
      defaultEntry = sets.defaultEntry;
    }
    let enteredLeaf = false;
    const child = state.child;
    for (let e = 0; e < enter.length; e++) {
      const s = enter[e] as Node;
      const parent = s.parent as Node | undefined;
      if (parent && parent.type !== 'parallel') child[this.childSlot[parent.order] as number] = s.order;
      if ((this.children[s.order] as Node[]).length === 0) enteredLeaf = true;
      this.run(state, this.entryOf[s.order] as unknown[], event);
      if (defaultEntry.has(s)) this.run(state, this.initialActionsOf[s.order] as unknown[], event);
      if (s.type === 'final') {
        // XState's enterStates(): a done event for the compound parent; the machine is done when
        // the final state has no ancestor left to complete (a final child of the root).
        const parent = s.parent as Node | undefined;
        const marker = parent?.type === 'parallel' ? parent : (parent?.parent as Node | undefined);
        if (parent?.type === 'compound') queue.push({ type: `xstate.done.state.${parent.id}` } as unknown as E);
        if (marker?.type === 'parallel') throw new Error(`chart runner: a final state in parallel ${marker.id} is not supported`);
        if (!marker) state.status = 'done';
      }
    }
    if (leaves && enteredLeaf) {
      for (let e = 0; e < enter.length; e++) {
        const n = enter[e] as Node;
        if ((this.children[n.order] as Node[]).length > 0) continue;
        // An insertion in order, without splice()'s array of removed elements.
        let i = leaves.length;
        leaves.push(n.order);
        while (i > 0 && (leaves[i - 1] as number) > n.order) {
          leaves[i] = leaves[i - 1] as number;
          i--;
        }
        leaves[i] = n.order;
      }
    }
    state.leaves = initial ? null : leaves;
  }

  /** The entry set of one transition alone: it depends only on the transition. */
  private plan(t: Transition, initial = false): { domain: Node | undefined; enter: Node[]; defaultEntry: Set<Node> } {
    let p = this.plans.get(t);
    if (!p) {
      const sets = entrySet([t], this.root, this.children);
      if (initial) sets.defaultEntry.add(this.root);
      p = { domain: transitionDomain(t, this.root), enter: [...sets.enter].sort((a, b) => a.order - b.order), defaultEntry: sets.defaultEntry };
      this.plans.set(t, p);
    }
    return p;
  }

  private run(state: ChartState<C>, actions: readonly unknown[], event: E): void {
    if (actions.length === 0) return;
    const list = this.compiledList(actions);
    const args = this.actionArgs;
    for (let i = 0; i < list.length; i++) {
      const a = list[i] as CompiledAction<C, E>;
      args.context = state.context;
      args.event = event;
      // Parameter functions read the argument object at once, as implementations do: the runner's own serves.
      const params = a.paramsOf ? a.paramsOf(args) : a.params;
      if (a.assignment) {
        // The runner owns the context object, so the assignment is applied in place; nothing else
        // keeps a reference to an older context (copy() makes a new object).
        Object.assign(state.context as object, a.assignment(args, params));
      } else {
        a.impl(args, params);
      }
    }
  }

  /**
   * An action list resolved once to its implementations and parameters (the chart's lists are static),
   * for the implementations this runner has: a runner bound to other ones (cpu-drivers.ts'
   * `boundRunner`) starts its own table.
   */
  private compiledList(actions: readonly unknown[]): CompiledAction<C, E>[] {
    if (this.compiledFor !== this.actions) {
      this.compiledActions = new Map();
      this.compiledFor = this.actions;
    }
    const table = this.compiledActions as Map<readonly unknown[], CompiledAction<C, E>[]>;
    let list = table.get(actions);
    if (!list) {
      list = actions.map((a) => {
        const impl = this.implOf(a) as Impl;
        const raw = typeof a === 'object' && a !== null && 'params' in a ? (a as { params: unknown }).params : undefined;
        return {
          impl,
          params: typeof raw === 'function' ? undefined : raw,
          paramsOf: typeof raw === 'function' ? (raw as (x: { context: C; event: E }) => unknown) : null,
          assignment: impl.type === 'xstate.assign' ? (impl.assignment as (args: unknown, p: unknown) => Partial<C>) : null,
        };
      });
      table.set(actions, list);
    }
    return list;
  }

  private implOf(a: unknown): Impl | undefined {
    if (typeof a === 'function') return a as Impl;
    const name = typeof a === 'string' ? a : (a as { type: string }).type;
    return this.actions[name];
  }

  // ---- SCXML sets, as XState computes them (the parts that read the configuration; scxml-sets.ts the rest) ----




  private exitSet(state: ChartState<C>, transitions: Transition[]): Node[] {
    const out = new Set<Node>();
    for (const t of transitions) {
      if (!t.target?.length) continue;
      const domain = this.plan(t).domain as Node;
      if (t.reenter && t.source === domain) out.add(domain);
      const under: Node[] = [];
      this.collect(state, domain, under, false);
      for (const n of under) out.add(n);
    }
    return [...out];
  }

  /** The exit set of a single transition: the active nodes below its domain. */
  private exitSetOf(state: ChartState<C>, t: Transition, planned: Node | undefined, out: Node[]): number {
    if (!t.target?.length) return 0;
    const domain = planned as Node;
    let n = 0;
    if (t.reenter && t.source === domain) out[n++] = domain;
    return this.activeBelow(state, domain, out, n);
  }

  /** `collect(…, false)` into `out` from place `n`, without growing an array: returns the new count. */
  private activeBelow(state: ChartState<C>, node: Node, out: Node[], n: number): number {
    const kids = this.children[node.order] as Node[];
    if (kids.length === 0) return n;
    if (node.type !== 'parallel') {
      const c = this.activeChild(state, node);
      if (!c) return n;
      out[n++] = c;
      return this.activeBelow(state, c, out, n);
    }
    // Every region of an active parallel state is active.
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i] as Node;
      out[n++] = c;
      n = this.activeBelow(state, c, out, n);
    }
    return n;
  }

  private removeConflicts(state: ChartState<C>, transitions: Transition[]): Transition[] {
    if (transitions.length <= 1) return transitions;
    const kept = new Set<Transition>();
    for (const t1 of transitions) {
      let preempted = false;
      const remove = new Set<Transition>();
      const e1 = new Set(this.exitSet(state, [t1]));
      for (const t2 of kept) {
        const e2 = this.exitSet(state, [t2]);
        if (e2.some((x) => e1.has(x))) {
          if (isDescendant(t1.source, t2.source)) remove.add(t2);
          else {
            preempted = true;
            break;
          }
        }
      }
      if (!preempted) {
        for (const t3 of remove) kept.delete(t3);
        kept.add(t1);
      }
    }
    return [...kept];
  }




}
