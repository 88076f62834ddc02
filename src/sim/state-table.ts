/**
 * What the scheduler needs to know of each state of a chart, read once from the machine
 * definition: whether a CPU there can execute (blocked states cannot; wait states only when their
 * guard holds) and which shared variables a wait state watches.
 */
import type { AnyStateMachine, StateNode } from 'xstate';

export interface StateInfo {
  path: string;
  blocked: boolean;
  wait: boolean;
  /** A loop that never returns (tag `stopped`: stop_this_cpu(), the crash NMI handler's halt): the contexts below it never run again. */
  stopped: boolean;
  final: boolean;
  watch: readonly string[];
}

export function stateTable(machine: Pick<AnyStateMachine, "root">): Map<string, StateInfo> {
  const table = new Map<string, StateInfo>();
  const visit = (node: StateNode<any, any>): void => {
    const path = node.path.join('.');
    const meta = (node.meta ?? {}) as { watch?: string[] };
    table.set(path, {
      path,
      blocked: node.tags.includes('blocked'),
      wait: node.tags.includes('wait'),
      stopped: node.tags.includes('stopped'),
      final: node.type === 'final',
      watch: meta.watch ?? [],
    });
    for (const child of Object.values(node.states)) visit(child as StateNode<any, any>);
  };
  visit(machine.root as StateNode<any, any>);
  return table;
}

type StateValue = string | { [key: string]: StateValue };

/** The leaf path under `start` (a region of a parallel state, or the whole value). */
export function leafPath(value: StateValue, region: string): string {
  let v: StateValue = value;
  let path = '';
  if (typeof v === 'object' && 'os' in v) {
    const os = v.os as { [key: string]: StateValue };
    v = os[region] as StateValue;
    path = `os.${region}`;
  }
  while (typeof v === 'object') {
    const key = Object.keys(v)[0] as string;
    path = path ? `${path}.${key}` : key;
    v = v[key] as StateValue;
  }
  return path ? `${path}.${v}` : v;
}

/** Every active leaf path (all regions). */
export function activePaths(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix ? `${prefix}.${value}` : value];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) out.push(...activePaths(child, prefix ? `${prefix}.${key}` : key));
  return out;
}

/** Counts the work a match does: positions of the pattern visited, summed over the path's segments. */
export interface MatchMeter {
  steps: number;
}

const ANY_ONE = '*';
const ANY_MANY = '**';

/**
 * A state name as a user writes it in a trigger: a dot-separated suffix of a state path, where `*`
 * stands for one path segment and `**` for any number of them (e.g.
 * `emergencyRestart.selfVirt.*.clearVmxe`), and `|` separates alternatives.
 *
 * Matching runs each alternative as a nondeterministic automaton over the path's segments, keeping
 * the set of pattern positions reached (Thompson's construction, no backtracking): a path of n
 * segments against a pattern of m parts costs O(n·m), whatever the `**`s, where trying every split
 * of the path for every `**` was exponential in their number.
 */
export class StatePattern {
  private readonly alternatives: readonly (readonly string[])[];
  /** Reached pattern positions, for the segment being read and the next one (reused: no allocation per match). */
  private cur: Uint8Array;
  private next: Uint8Array;

  /** `a|b` matches where either alternative does. */
  constructor(readonly source: string) {
    this.alternatives = source.split('|').map((alt) => alt.trim().split('.'));
    const longest = Math.max(0, ...this.alternatives.map((a) => a.length));
    this.cur = new Uint8Array(longest + 1);
    this.next = new Uint8Array(longest + 1);
  }

  /** Whether the pattern matches the end of `path`. */
  matches(path: string, meter?: MatchMeter): boolean {
    const segs = path.split('.');
    for (const parts of this.alternatives) if (this.run(parts, segs, false, meter)) return true;
    return false;
  }

  /** Whether the pattern matches the end of `path` or of one of its ancestors (`a.b.c`, `a.b`, `a`). */
  matchesPrefix(path: string, meter?: MatchMeter): boolean {
    const segs = path.split('.');
    for (const parts of this.alternatives) if (this.run(parts, segs, true, meter)) return true;
    return false;
  }

  get valid(): boolean {
    return this.alternatives.every((parts) => parts.length > 0 && parts.every((p) => p !== ''));
  }

  /** The alternatives, each as a pattern of its own. */
  split(): StatePattern[] {
    return this.alternatives.map((parts) => new StatePattern(parts.join('.')));
  }

  /**
   * Whether `parts` matches a suffix of `segs` (with `anyPrefix`, a suffix of some leading part of
   * `segs`). Position j means "parts[0..j) matched"; position 0 is entered again before every
   * segment, which is what lets the match start anywhere.
   */
  private run(parts: readonly string[], segs: readonly string[], anyPrefix: boolean, meter?: MatchMeter): boolean {
    const m = parts.length;
    let cur = this.cur;
    let next = this.next;
    cur.fill(0, 0, m + 1);
    let work = 0;
    for (const seg of segs) {
      cur[0] = 1;
      // `**` may match no segment: what reaches it reaches the part after it too (forward only, one pass).
      for (let j = 0; j < m; j++) if (cur[j] === 1 && parts[j] === ANY_MANY) cur[j + 1] = 1;
      next.fill(0, 0, m + 1);
      for (let j = 0; j < m; j++) {
        if (cur[j] !== 1) continue;
        const part = parts[j] as string;
        if (part === ANY_MANY) next[j] = 1;
        else if (part === ANY_ONE || part === seg) next[j + 1] = 1;
      }
      work += m + 1;
      [cur, next] = [next, cur];
      for (let j = 0; j < m; j++) if (cur[j] === 1 && parts[j] === ANY_MANY) cur[j + 1] = 1;
      if (anyPrefix && cur[m] === 1) break;
    }
    this.cur = cur;
    this.next = next;
    if (meter) meter.steps += work;
    return cur[m] === 1;
  }
}

/** Whether some active state (a leaf or one of its ancestors) matches the pattern. */
export function inState(paths: readonly string[], pattern: StatePattern): boolean {
  for (const leaf of paths) if (pattern.matchesPrefix(leaf)) return true;
  return false;
}

/** Whether any state of the chart matches (for validating scenario triggers). */
export function knownState(table: ReadonlyMap<string, StateInfo>, name: string): boolean {
  const pattern = new StatePattern(name);
  if (!pattern.valid) return false;
  // Every alternative must name some state, so a typo in one of them is still reported.
  return pattern.split().every((one) => {
    for (const path of table.keys()) if (path && one.matches(path)) return true;
    return false;
  });
}
