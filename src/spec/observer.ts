/**
 * A property of a run, checked by watching its trace. Each observer re-derives its rule from the
 * records alone (never from the model's helpers), so a bug in the model cannot hide a bug in the check.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Scenario } from '../scenarios/types.js';

export interface Violation {
  property: string;
  message: string;
}

/**
 * Why a property cannot apply to a scenario — no run of it could ever violate the property, so a search
 * for its violations would pass without checking anything — or null when it can. Each property class
 * that needs something of the scenario has one as its static `inapplicable`.
 */
export type Applicability = (scenario: Scenario) => string | null;

export interface Observer {
  readonly property: string;
  /** The record kinds it looks at; it is given no others. */
  readonly reads: readonly TraceRecord['t'][];
  observe(record: TraceRecord): void;
  /**
   * Whether a record of a kind it reads can change what it found (default: every one). Exploration
   * copies a path's observer before the first record that can: the fewer, the fewer copies. It
   * must depend on the record alone (the transition cache filters a decision's records once).
   */
  relevant?(record: TraceRecord): boolean;
  /** Called after the `end` record, or at any point to see what was found so far. */
  violations(): Violation[];
  /** An independent copy with the same state (exploration forks a path's observers). */
  clone(): Observer;
  /**
   * Exactly what of its state can still change a verdict or a message it gives later, as a small
   * string ('' for nothing, as when fresh). Exhaustive search keys a state by the machine and this:
   * two paths to one machine state are merged only when every observer remembers the same, so no
   * future violation of the path not taken can differ from the one taken. What it already reported
   * is not needed (the search reported it on the path's own transition), nor what the `header`
   * record told it (the same on every path of a search). `now` is the path's clock: the machine
   * state keeps times relative to it, so an observer keeps times it remembers relative to it too.
   *
   * Symmetry reduction (src/explore/symmetry.ts) passes `cpu`, a renaming of CPU numbers: an
   * observer that remembers CPU numbers gives its memory with each renamed (and sets sorted again).
   */
  remembers(now: number, cpu?: (id: number) => number): string;
}
