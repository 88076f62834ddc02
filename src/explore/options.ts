/**
 * What an exploration is asked and what it answers: its options and defaults, its result, and the
 * small rules every engine shares (when a search stops, which properties it checks, the symmetry it
 * keys states under). Apart from explorer.ts so that the engines (explorer.ts, cached.ts, parallel.ts,
 * shard.ts) share them without importing one another.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Scenario } from '../scenarios/types.js';
import type { Dependence } from './dependence.js';
import type { Harness } from './harness.js';
import type { ShardOption, SplitInfo } from './shard-split.js';
import { Symmetry, symmetryGroups, vcpuLayout, type SymmetryStats } from './symmetry.js';
import { DEFAULT_BOUNDS } from './defaults.js';

export type Strategy = 'exhaustive' | 'random' | 'pct';

export interface ExploreOptions {
  strategy: Strategy;
  /** Properties to check; empty means all. */
  properties: readonly string[];
  /** Exhaustive: stop after this many distinct states. */
  maxStates: number;
  /**
   * Exhaustive, with `--workers`: the states every worker has kept so far, in one Int32Array over a
   * SharedArrayBuffer (place 0): a worker claims each new state there, so maxStates bounds the whole
   * search, whoever's part of it is bigger (parallel.ts).
   */
  sharedStates?: Int32Array;
  /** Exhaustive: stop after this many milliseconds of search (none when absent). */
  maxTimeMs?: number;
  /**
   * Exhaustive: go on after each property's first (shortest) violation, reporting one per kind of
   * violation; by default the search stops once every property watched has its counterexample.
   */
  allViolations?: boolean;
  /** How often onProgress is called, in ms of wall-clock time (default 500). */
  progressMs?: number;
  /** Decisions per path at most. */
  maxDepth: number;
  seed: number;
  /** random / pct: how many runs. */
  runs: number;
  /** pct: number of priority change points + 1. */
  pctDepth: number;
  /** Sleep-set reduction (exhaustive). */
  reduction: boolean;
  /**
   * Exhaustive, with `reduction`: when two choices commute (dependence.ts). 'fields' (default): by
   * what each read and wrote — memory fields, CPUs and guest actors, pending items, timers, the
   * observers shown its records; 'shared': different CPUs and neither wrote shared memory nor sent
   * anything (the coarser relation, kept to measure against).
   */
  dependence?: Dependence;
  /** Exhaustive: collect the keys of the states where runs end (to compare reductions). */
  collectEnds?: boolean;
  /**
   * Exhaustive: 'cached' (default) applies remembered effects of decisions to states kept as
   * numbers (cached.ts), 'direct' runs every decision on restored objects. Same search, same result,
   * with or without guests.
   */
  engine?: 'cached' | 'direct';
  /**
   * Exhaustive: what makes two paths one state of the search (default: DEFAULT_PRUNING).
   * 'observers': the machine state and what the property observers remember that can still change
   * a verdict or a message (`Observer.remembers`). For tests: 'history', the reference — the machine state (its exact key),
   * the clock and everything the observers hold (direct engine); 'machine', the machine state alone,
   * which merges paths whose observers remember different things and so can lose a violation.
   */
  pruning?: 'observers' | 'history' | 'machine';
  /**
   * Exhaustive, observers pruning: key visited states up to renaming interchangeable CPUs
   * (symmetry.ts), on either engine. Without groups of such CPUs, no effect.
   */
  symmetry?: boolean;
  /** Cached engine: check every cached transition against the real simulation (tests). */
  verify?: boolean;
  /**
   * Cached engine, tests: start without the memos a wide machine outgrows (sleep sets worked out
   * directly, pending-item signatures worked out per expansion), as the search does once they stop
   * paying; the result is the same.
   */
  noMemos?: boolean;
  /** Exhaustive: explore only these first choices, by rank in key order (how workers split the space). */
  rootSlice?: { index: number; of: number };
  /** Exhaustive: expand only this shard's share of the frontier at the split depth (shard.ts). */
  shard?: ShardOption;
  /**
   * Exhaustive: only runs in which no CPU whose next step is ready waits through more than this many
   * decisions of other actors (passover.ts): CPUs that run go at comparable speeds, so a longer wait
   * needs the CPU to stall (an SMI, a host preempting it), which a scenario scripts where it means one.
   * Absent: any CPU may be passed over for any number of steps (untimed steps cost nothing). Either
   * engine keeps it (the transition cache by default), without sleep sets or symmetry (the counts it keys break both).
   */
  maxPassOver?: number;
  onProgress?: (p: Progress) => void;
}

/** Whether one more state may be kept: within maxStates, counted over every worker when they share a count. */
export function roomForState(opts: Pick<ExploreOptions, 'maxStates' | 'sharedStates'>, kept: number): boolean {
  if (kept >= opts.maxStates) return false;
  return !opts.sharedStates || Atomics.add(opts.sharedStates, 0, 1) < opts.maxStates;
}

export interface Progress {
  states: number;
  transitions: number;
  depth: number;
  frontier: number;
  elapsedMs: number;
}

export interface Found {
  property: string;
  message: string;
  /** The scheduler's picks from the start, one per decision (including forced ones). */
  picks: { pick: number; n: number }[];
  /** The choice keys of the decisions (exhaustive search; orders counterexamples of equal length). */
  keys?: string[];
}

/**
 * What kept a search from being complete: a bound (--max-states, --max-depth, --max-time), every
 * property already violated (the search stops at each property's first violation), or sampling
 * (random walks and PCT never exhaust the space).
 */
export type StopReason = 'max-states' | 'max-depth' | 'max-time' | 'memory' | 'violations' | 'sampled';

export interface ExploreResult {
  complete: boolean;
  /** Empty when complete; else what stopped the search, in a fixed order. */
  stoppedBy: StopReason[];
  statesVisited: number;
  transitions: number;
  /** Exhaustive with `reduction`: choices not taken because they were in the state's sleep set. */
  slept?: number;
  maxDepth: number;
  elapsedMs: number;
  violations: Found[];
  /** With collectEnds: the canonical keys of the end states reached. */
  ends?: string[];
  /** When the first violation was found, from the start of the search. */
  firstViolationMs: number | null;
  /** Exhaustive search with the transition cache: transitions taken from it, and run for real. */
  cache?: { hits: number; misses: number };
  /** With `shard`: where the search split between the shards. */
  split?: SplitInfo;
  /** With `symmetry` and groups of interchangeable CPUs: the groups and the reduction. */
  symmetry?: SymmetryStats;
}

/** How exhaustive search keys its states when `pruning` is not given (see ExploreOptions.pruning). */
export const DEFAULT_PRUNING: NonNullable<ExploreOptions['pruning']> = 'observers';

export const DEFAULT_EXPLORE: Omit<ExploreOptions, 'strategy'> = {
  properties: [],
  ...DEFAULT_BOUNDS,
  reduction: true,
};


const STOP_ORDER: readonly StopReason[] = ['violations', 'max-states', 'max-depth', 'max-time', 'memory', 'sampled'];

/**
 * The share of the JS heap's limit (v8 heap_size_limit: node's default, or --max-old-space-size) past
 * which a search stops as at any other bound ('memory', exit 3), instead of dying with "JavaScript heap
 * out of memory": the states a search keeps grow with --max-states (up to 10^9), about 700 bytes each
 * for a 12-CPU machine. An object so that a test can lower it.
 */
export const HEAP_BOUND = { fraction: 0.75 };

/** States expanded between two looks at the heap (a look costs about a microsecond). */
const HEAP_CHECK_EVERY = 1024;

/**
 * One search's look at the heap: whether it has passed HEAP_BOUND, looked at once every
 * HEAP_CHECK_EVERY calls. `used_heap_size` counts garbage not yet collected, so a heap over the bound
 * is collected in full before it counts as full (a search whose live data fits would otherwise stop
 * early); a heap collected once and found under the bound is collected again only after it has grown
 * by a sixteenth of the limit since.
 */
export class HeapWatch {
  private calls = 0;
  /** The used heap after the last full collection this made (-1: none yet). */
  private collected = -1;
  private gc: (() => void) | null | undefined;

  full(): boolean {
    if (++this.calls % HEAP_CHECK_EVERY !== 0) return false;
    const h = getHeapStatistics();
    const bound = HEAP_BOUND.fraction * h.heap_size_limit;
    if (h.used_heap_size < bound) return false;
    if (this.collected >= 0 && this.collected < bound && h.used_heap_size < this.collected + h.heap_size_limit / 16) return false;
    const gc = this.fullCollection();
    if (!gc) return true;
    gc();
    this.collected = getHeapStatistics().used_heap_size;
    return this.collected >= bound;
  }

  /** v8's full collection (the function --expose-gc gives), null where it cannot be had. */
  private fullCollection(): (() => void) | null {
    if (this.gc !== undefined) return this.gc;
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      this.gc = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      this.gc = null;
    }
    return this.gc;
  }
}

/** Stop reasons in a fixed order (the same whichever worker met them first). */
export function stopReasons(reasons: Iterable<StopReason>): StopReason[] {
  const set = new Set(reasons);
  return STOP_ORDER.filter((r) => set.has(r));
}

/** The properties a search watches. */
export function propertiesOf(h: Harness): string[] {
  return h.freshObservers().map((o) => o.property);
}

/**
 * Before expanding a state `depth` deep: whether the search stops here, and why — every property
 * already has its shortest counterexample, the time bound is spent, or the heap is nearly full. Both engines ask it at the
 * same point of the same breadth-first order.
 */
export function stopHere(opts: ExploreOptions, found: { settled(depth: number): boolean }, depth: number, started: number, heap: HeapWatch): StopReason | null {
  if (found.settled(depth)) return 'violations';
  if (opts.maxTimeMs !== undefined && performance.now() - started >= opts.maxTimeMs) return 'max-time';
  if (heap.full()) return 'memory';
  return null;
}



/** The symmetry a search keys its states under, if any (see ExploreOptions.symmetry). */
export function symmetryOf(scenario: Scenario, opts: ExploreOptions): Symmetry | null {
  if (!opts.symmetry || opts.strategy !== 'exhaustive' || (opts.pruning ?? DEFAULT_PRUNING) !== 'observers' || opts.shard || opts.rootSlice) return null;
  const { groups } = symmetryGroups(scenario);
  return groups.length ? new Symmetry(groups, scenario.machine.cpus, vcpuLayout(scenario)) : null;
}
