/**
 * How a sharded search splits (explore --shard I/N): every shard runs the same breadth-first prefix
 * to the split depth, then expands only the frontier states whose machine hash is its index mod N.
 * Apart from shard.ts (which runs and merges shards) so that the engines can split without
 * importing the search that calls them.
 */
/** The split of an exhaustive search between shards (ExploreOptions.shard). */
export interface ShardOption {
  /** This shard, 0 to of − 1. */
  index: number;
  of: number;
  /** Split at this depth (≥ 1); absent: at the first depth whose frontier has at least `minFrontier` states. */
  splitDepth?: number;
  minFrontier: number;
}

/** Where a sharded exhaustive search split (ExploreResult.split): the same in every shard of a run. */
export interface SplitInfo {
  /** The split depth; null when the search ended (or stopped) above any depth it would split at. */
  depth: number | null;
  /** States queued at the split depth (all shards'). */
  frontier: number;
  /** Of them, those this shard expanded. */
  kept: number;
  /** States and transitions of the shared prefix (the whole search when it did not split). */
  prefixStates: number;
  prefixTransitions: number;
}

/** Frontier states per shard the automatic split depth waits for. */
export const FRONTIER_PER_SHARD = 8;

/**
 * The split, as the breadth-first loop of either engine meets it: asked before each state is
 * expanded, in order, whether this shard expands it.
 */
export class ShardSplit {
  private at: number | null = null;
  private level = -1;
  private frontier = 0;
  private kept = 0;
  private prefixStates = 0;
  private prefixTransitions = 0;

  constructor(private readonly opt: ShardOption) {}

  /**
   * Whether to expand the next state, `depth` deep. `frontier`: the states queued from it on (at
   * the first state of a depth, all of that depth); `states`, `transitions`: counted so far;
   * `hash`: its state hash (asked only at the split depth).
   */
  expands(depth: number, frontier: () => number, states: number, transitions: number, hash: () => number): boolean {
    if (depth !== this.level) {
      this.level = depth;
      if (this.at === null && depth > 0 && (this.opt.splitDepth !== undefined ? depth === this.opt.splitDepth : frontier() >= this.opt.minFrontier)) {
        this.at = depth;
        this.frontier = frontier();
        this.prefixStates = states;
        this.prefixTransitions = transitions;
      }
    }
    if (depth !== this.at) return true;
    const mine = hash() % this.opt.of === this.opt.index;
    if (mine) this.kept += 1;
    return mine;
  }

  /** At the end of the search, with its final counts. */
  info(states: number, transitions: number): SplitInfo {
    if (this.at === null) return { depth: null, frontier: 0, kept: 0, prefixStates: states, prefixTransitions: transitions };
    return { depth: this.at, frontier: this.frontier, kept: this.kept, prefixStates: this.prefixStates, prefixTransitions: this.prefixTransitions };
  }
}

