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

/**
 * A state name as a user writes it in a trigger: a dot-separated suffix of a state path, where `*`
 * stands for one path segment and `**` for any number of them (e.g.
 * `emergencyRestart.selfVirt.*.clearVmxe`), and `|` separates alternatives.
 */
export class StatePattern {
  private readonly alternatives: readonly (readonly string[])[];

  /** `a|b` matches where either alternative does. */
  constructor(readonly source: string) {
    this.alternatives = source.split('|').map((alt) => alt.trim().split('.'));
  }

  /** Whether the pattern matches the end of `path`. */
  matches(path: string): boolean {
    const segs = path.split('.');
    for (const parts of this.alternatives) {
      for (let i = 0; i < segs.length; i++) if (globMatch(segs, i, parts, 0)) return true;
    }
    return false;
  }

  get valid(): boolean {
    return this.alternatives.every((parts) => parts.length > 0 && parts.every((p) => p !== ''));
  }
}

function globMatch(segs: readonly string[], i: number, parts: readonly string[], j: number): boolean {
  if (j === parts.length) return i === segs.length;
  const part = parts[j];
  if (part === '**') {
    for (let k = i; k <= segs.length; k++) if (globMatch(segs, k, parts, j + 1)) return true;
    return false;
  }
  if (i === segs.length) return false;
  return (part === '*' || part === segs[i]) && globMatch(segs, i + 1, parts, j + 1);
}

/** Whether some active state (a leaf or one of its ancestors) matches the pattern. */
export function inState(paths: readonly string[], pattern: StatePattern): boolean {
  for (const leaf of paths) {
    let p = leaf;
    for (;;) {
      if (pattern.matches(p)) return true;
      const dot = p.lastIndexOf('.');
      if (dot < 0) break;
      p = p.slice(0, dot);
    }
  }
  return false;
}

/** Whether any state of the chart matches (for validating scenario triggers). */
export function knownState(table: ReadonlyMap<string, StateInfo>, name: string): boolean {
  const pattern = new StatePattern(name);
  if (!pattern.valid) return false;
  // Every alternative must name some state, so a typo in one of them is still reported.
  return name.split('|').every((alt) => {
    const one = new StatePattern(alt);
    for (const path of table.keys()) if (path && one.matches(path)) return true;
    return false;
  });
}
