/**
 * Exploration over the scheduler's choices (docs/architecture.md rule 3): the simulator runs untimed, so every
 * pending step, delivery and scripted action is a choice, and a timer fires only when nothing else
 * can happen. Strategies:
 * - exhaustive: breadth-first over states, each state keyed by its canonical value and what the
 *   property observers remember (ExploreOptions.pruning), with sleep sets over independent choices;
 *   the first violation of a property is found at the smallest depth of the searched graph (by
 *   default the search stops once every property has its shortest), and `complete` says the
 *   space was exhausted within the bounds (`stoppedBy` says which stopped it);
 * - random: uniform random walks; pct: probabilistic concurrency testing (random CPU priorities
 *   with d−1 priority change points). Both deterministic for a seed.
 * Properties are the `src/spec/` observers, forked along each path.
 */
import type { Scenario } from '../scenarios/types.js';
import type { Capture } from '../sim/simulation.js';
import { SeededChooser } from '../sim/chooser.js';
import type { Observer } from '../spec/index.js';
import { exhaustiveCached } from './cached.js';
import { byKey, countViolations, Findings, Harness, memoryHash, NO_KEYS, NO_SLEEP, observersSnapshot, sleepAfter, visitedKey } from './harness.js';
import { DEFAULT_DEPENDENCE, StepFootprints, type Footprint } from './dependence.js';
import { ShardSplit } from './shard-split.js';
import { heldCpus, passOverAfter, passOverKey, runsActor } from './passover.js';
import { DEFAULT_PRUNING, HeapWatch, propertiesOf, roomForState, stopHere, stopReasons, symmetryOf, type ExploreOptions, type ExploreResult, type Found, type StopReason } from './options.js';

export * from './options.js';

interface Path {
  picks: { pick: number; n: number }[];
  keys: string[];
}

interface Node {
  capture: Capture;
  observers: Observer[];
  sleep: Footprint[];
  depth: number;
  id: number;
  /** A state seen again with a smaller sleep set: expand only the choices slept the first time. */
  only?: readonly string[];
  /** With a pass-over bound: per CPU, the decisions of others it has waited through with its step ready (passover.ts). */
  counts?: Uint8Array;
}

/** Explore one scenario. */
export function explore(scenario: Scenario, opts: ExploreOptions): ExploreResult {
  if (opts.strategy !== 'exhaustive') return sampled(scenario, opts);
  // A pass-over bound keys per-CPU counts (passover.ts) that do not commute: two independent choices
  // taken in either order leave the same state but not the same counts (each choice resets its own
  // CPU's count and raises the others'), so a sleep set would skip an order whose counts stay within
  // the bound; and the counts are per CPU number, which symmetry renames. Both engines keep them.
  const bounded = opts.maxPassOver !== undefined ? { ...opts, reduction: false, symmetry: false } : opts;
  const direct = opts.engine === 'direct' || opts.pruning === 'history';
  return direct ? exhaustive(scenario, bounded) : exhaustiveCached(scenario, bounded);
}


function exhaustive(scenario: Scenario, opts: ExploreOptions): ExploreResult {
  const started = performance.now();
  const heap = new HeapWatch();
  const h = new Harness(scenario, opts.properties);
  const rootObservers = h.freshObservers();
  h.attach(rootObservers);
  h.sim.header();
  // Path reconstruction: for each enqueued state, its parent and the pick that led to it.
  const parent: number[] = [-1];
  const pickOf: { pick: number; n: number }[] = [{ pick: -1, n: 0 }];
  const keyOf: string[] = [''];
  const visited = new Map<number | string, readonly string[]>();
  const pruning = opts.pruning ?? DEFAULT_PRUNING;
  const sym = symmetryOf(scenario, opts);
  // Sleep sets are stored by canonical choice keys under symmetry: the state seen before may be a renaming of this one.
  const canon = (k: string) => (sym ? sym.toCanonical(k) : k);
  const uncanon = (k: string) => (sym ? sym.fromCanonical(k) : k);
  /** A state's key in the visited set; `memory`: its observers' memoryHash when known. */
  const bound = opts.maxPassOver;
  const stateKey = (observers: readonly Observer[], memory?: number, counts?: Uint8Array): number | string => {
    if (counts) return `${String(stateKeyOf(observers, memory))}|${passOverKey(counts)}`;
    return stateKeyOf(observers, memory);
  };
  const stateKeyOf = (observers: readonly Observer[], memory?: number): number | string => {
    if (sym) return sym.key(h.sim, observers);
    if (pruning === 'history') return `${h.sim.stateKey()}|${h.sim.now}|${observersSnapshot(observers)}`;
    if (pruning === 'machine') return h.sim.stateHash();
    return visitedKey(h.sim.stateHash(), memory ?? memoryHash(observers, h.sim.now));
  };
  // One counterexample per property (or per kind of violation), the shortest found, which
  // breadth-first order finds first.
  const found = new Findings<Path>(() => performance.now() - started, (p) => p.keys, propertiesOf(h), opts.allViolations === true);
  const ends = opts.collectEnds ? new Set<string>() : null;
  let transitions = 0;
  let slept = 0;
  let maxDepth = 0;
  const stopped = new Set<StopReason>();
  let lastProgress = started;
  const dependence = opts.dependence ?? DEFAULT_DEPENDENCE;
  // The 'fields' relation needs what each decision read and wrote (dependence.ts).
  const steps = opts.reduction && dependence === 'fields' ? new StepFootprints(h.sim) : null;

  const pathTo = (id: number, last?: { pick: number; n: number; key: string }): Path => {
    const picks: { pick: number; n: number }[] = last ? [{ pick: last.pick, n: last.n }] : [];
    const keys: string[] = last ? [last.key] : [];
    for (let x = id; x > 0; x = parent[x] as number) {
      picks.push(pickOf[x] as { pick: number; n: number });
      keys.push(keyOf[x] as string);
    }
    return { picks: picks.reverse(), keys: keys.reverse() };
  };
  const report = (violations: { property: string; message: string }[], node: Node, last?: { pick: number; n: number; key: string }) =>
    found.add(violations, node.depth + (last ? 1 : 0), () => pathTo(node.id, last));

  const rootCounts = bound !== undefined ? new Uint8Array(scenario.machine.cpus) : undefined;
  const root: Node = { capture: h.sim.capture(), observers: rootObservers, sleep: [], depth: 0, id: 0, ...(rootCounts ? { counts: rootCounts } : {}) };
  visited.set(stateKey(rootObservers, undefined, rootCounts), NO_KEYS);
  sym?.countLast();
  const queue: Node[] = [root];
  const split = opts.shard ? new ShardSplit(opts.shard) : null;
  const hashOf = (node: Node) => (h.sim.restoreCapture(node.capture), h.sim.stateHash());
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as Node;
    const stop = stopHere(opts, found, node.depth, started, heap);
    if (stop) {
      stopped.add(stop);
      break;
    }
    queue[head] = undefined as unknown as Node; // let the GC have it
    if (split && !split.expands(node.depth, () => queue.length - head, visited.size, transitions, () => hashOf(node))) continue;
    h.sim.restoreCapture(node.capture);
    // Observers are shared between paths until a record changes one (see Harness.fork).
    const observers = node.observers;
    h.fork(observers);
    const n = h.sim.poll();
    if (n === 0) {
      // The run ended here: end-of-run properties (left in VMX root, reboot never completed).
      report(h.violations(), node);
      if (ends) ends.add(h.sim.stateKey());
      continue;
    }
    if (node.depth >= opts.maxDepth) {
      stopped.add('max-depth');
      continue;
    }
    const keys = h.sim.choiceKeys();
    // With a pass-over bound: whose each choice is (read before any is taken).
    const actors = bound !== undefined ? keys.map((_, i) => h.sim.choiceActor(i)) : null;
    const held = bound !== undefined ? heldCpus(keys, (c) => h.sim.stepContext(c)) : null;
    // Where each held CPU is, to tell whether a delivery or a scripted action ran it (passover.ts).
    const at = held ? new Map(held.map((c) => [c, h.sim.cpuPosition(c)])) : null;
    const afterPoll = h.sim.capture();
    // What the observers remember, on the clock the poll may have moved: a child whose step changed
    // no observer remembers the same.
    const memory = pruning === 'observers' ? memoryHash(observers, h.sim.now) : 0;
    const explored: Footprint[] = [];
    steps?.before();
    let fresh = true;
    const order = byKey(keys);
    for (let rank = 0; rank < n; rank++) {
      const i = order[rank] as number;
      const key = keys[i] as string;
      if (node.depth === 0 && opts.rootSlice && rank % opts.rootSlice.of !== opts.rootSlice.index) continue;
      if (opts.reduction && node.sleep.some((z) => z.key === key)) {
        slept += 1;
        continue;
      }
      if (node.only && !node.only.includes(key)) continue;
      // With a bound: the counts if the choice runs its CPU and if it does not; neither, a run that
      // needs a CPU to stall longer than the bound.
      let ifRan: Uint8Array | null = null;
      let ifNot: Uint8Array | null = null;
      const actor = actors ? (actors[i] as number) : -1;
      if (bound !== undefined) {
        ifRan = passOverAfter(node.counts as Uint8Array, held as number[], actor, bound);
        ifNot = runsActor(key) ? null : passOverAfter(node.counts as Uint8Array, held as number[], -1, bound);
        if (!ifRan && !ifNot) continue;
      }
      if (!fresh) h.sim.restoreCapture(afterPoll);
      fresh = false;
      h.fork(observers);
      if (steps) h.sim.trackReads();
      const shown = h.decide(i);
      const fp = steps ? steps.footprint(key, shown, h.sim.endTracking()) : coarse(key, shown);
      const childObservers = h.current;
      transitions += 1;
      let counts: Uint8Array | undefined;
      if (bound !== undefined) {
        const was = at?.get(actor);
        const ran = runsActor(key) || was === undefined || h.sim.cpuPosition(actor) !== was;
        const next = ran ? ifRan : ifNot;
        if (!next) continue;
        counts = next;
      }
      const step = { pick: i, n };
      // A property failed on this step: report the path, and go on: other properties (and other
      // kinds of failure of this one) may still show further down.
      if (h.touched) {
        const before = countViolations(observers);
        if (countViolations(childObservers) > before) report(h.violations().slice(before), node, { ...step, key });
      }
      const sleep = opts.reduction ? sleepAfter(node.sleep, explored, fp, dependence) : NO_SLEEP;
      explored.push(fp);
      const key53 = stateKey(childObservers, h.touched ? undefined : memory, counts);
      const seen = visited.get(key53);
      let childSleep = sleep;
      let only: string[] | undefined;
      if (seen !== undefined) {
        // Seen before with sleep set Z0: skip if Z0 ⊆ Z (nothing new to explore); else explore
        // again just the choices that were asleep then and are awake now, Z0 \ Z, and remember
        // Z0 ∩ Z (state caching and sleep sets together, as in Godefroid's algorithm).
        only = seen.map(uncanon).filter((k) => !sleep.some((z) => z.key === k));
        if (only.length === 0) continue;
        childSleep = sleep.filter((z) => seen.includes(canon(z.key)));
        visited.set(key53, childSleep.map((z) => canon(z.key)));
      } else {
        if (!roomForState(opts, visited.size)) {
          stopped.add('max-states');
          continue;
        }
        visited.set(key53, sleep.length ? sleep.map((z) => canon(z.key)) : NO_KEYS);
        sym?.countLast();
      }
      const id = parent.length;
      parent.push(node.id);
      pickOf.push(step);
      keyOf.push(key);
      maxDepth = Math.max(maxDepth, node.depth + 1);
      queue.push({ capture: h.sim.capture(), observers: childObservers, sleep: childSleep, depth: node.depth + 1, id, ...(only ? { only } : {}), ...(counts ? { counts } : {}) });
    }
    // Wall-clock time only paces the progress report; it never steers the search.
    if (opts.onProgress) {
      const now = performance.now();
      if (now - lastProgress >= (opts.progressMs ?? 500)) {
        lastProgress = now;
        opts.onProgress({ states: visited.size, transitions, depth: node.depth, frontier: queue.length - head - 1, elapsedMs: now - started });
      }
    }
  }
  return {
    complete: stopped.size === 0,
    stoppedBy: stopReasons(stopped),
    statesVisited: visited.size,
    transitions,
    ...(opts.reduction ? { slept } : {}),
    maxDepth,
    elapsedMs: performance.now() - started,
    violations: found.list().map((f) => ({ property: f.property, message: f.message, picks: f.path.picks, keys: f.path.keys })),
    firstViolationMs: found.firstMs,
    ...(ends ? { ends: [...ends].sort() } : {}),
    ...(split ? { split: split.info(visited.size, transitions) } : {}),
    ...(sym ? { symmetry: sym.stats(visited.size) } : {}),
  };
}

/** A footprint for the 'shared' relation (or none at all): its key, actor and whether it was local. */
function coarse(key: string, shown: { actor: number; local: boolean }): Footprint {
  return { key, actor: shown.actor, local: shown.local, global: !shown.local, slots: -1, memRead: -1, memWrite: -1, vars: -1, watch: -1, timers: true, seen: -1 };
}

/** Within a random walk or a PCT run, decisions between two looks at the clock for --max-time. */
const TIME_CHECK_EVERY = 256;

/** Random walks and PCT: complete only if... never: they sample. */
function sampled(scenario: Scenario, opts: ExploreOptions): ExploreResult {
  const started = performance.now();
  const h = new Harness(scenario, opts.properties);
  const initialObservers = h.freshObservers();
  h.attach(initialObservers);
  h.sim.header();
  const initial = h.sim.capture();
  const states = new Set<number>();
  // The shortest run of each property (each kind with allViolations) over all the runs.
  const found = new Findings<Found['picks']>(() => performance.now() - started, () => [], propertiesOf(h), opts.allViolations === true);
  let transitions = 0;
  let maxDepth = 0;
  const rng = new SeededChooser(opts.seed);
  const stopped = new Set<StopReason>(['sampled']);
  // The time bound is checked before each run and every few decisions within one: a run the bound cuts
  // short is dropped (its end-of-run properties were never reached), as exhaustive search drops its frontier.
  const outOfTime = () => opts.maxTimeMs !== undefined && performance.now() - started >= opts.maxTimeMs;
  runs: for (let run = 0; run < opts.runs; run++) {
    if (outOfTime()) {
      stopped.add('max-time');
      break;
    }
    h.sim.restoreCapture(initial);
    h.fork(initialObservers);
    const picks: { pick: number; n: number }[] = [];
    // PCT: a random priority per CPU (higher runs first); at d−1 random depths the running CPU drops
    // to the lowest priorities.
    const cpus = scenario.machine.cpus;
    const priority = Array.from({ length: cpus }, (_, i) => i + opts.pctDepth);
    for (let i = cpus - 1; i > 0; i--) {
      const j = rng.choose(i + 1);
      [priority[i], priority[j]] = [priority[j] as number, priority[i] as number];
    }
    const changeAt = new Map<number, number>();
    for (let c = 1; c < opts.pctDepth; c++) changeAt.set(rng.choose(Math.max(1, opts.maxDepth)), c);
    for (let depth = 0; ; depth++) {
      if (depth % TIME_CHECK_EVERY === TIME_CHECK_EVERY - 1 && outOfTime()) {
        stopped.add('max-time');
        break runs;
      }
      const n = h.sim.poll();
      if (n === 0) break;
      if (depth >= opts.maxDepth) break;
      let pick = 0;
      if (n > 1) {
        if (opts.strategy === 'random') pick = rng.choose(n);
        else {
          let best = -Infinity;
          for (let i = 0; i < n; i++) {
            const actor = h.sim.choiceActor(i);
            const p = actor >= 0 ? (priority[actor] as number) : -1;
            if (p > best) {
              best = p;
              pick = i;
            }
          }
          const change = changeAt.get(depth);
          const actor = h.sim.choiceActor(pick);
          if (change !== undefined && actor >= 0) priority[actor] = change - opts.pctDepth;
        }
      }
      picks.push({ pick, n });
      h.decide(pick);
      transitions += 1;
      maxDepth = Math.max(maxDepth, depth + 1);
      states.add(h.sim.stateHash());
    }
    found.add(h.violations(), picks.length, () => [...picks]);
  }
  return {
    complete: false,
    stoppedBy: stopReasons(stopped),
    statesVisited: states.size,
    transitions,
    maxDepth,
    elapsedMs: performance.now() - started,
    violations: found.list().map((f) => ({ property: f.property, message: f.message, picks: f.path })),
    firstViolationMs: found.firstMs,
  };
}
