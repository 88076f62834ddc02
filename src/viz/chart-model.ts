/**
 * A statechart as plain data, read from an XState machine definition: the one description of a chart
 * that the exporters print and the viewer draws (docs/architecture.md rule 1: nothing re-declares a chart by
 * hand). It is JSON so the page can be handed it inline; node indices stand for references.
 */
import type { AnyStateMachine, StateNode } from 'xstate';

export type ChartNodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** How a transition is triggered: a named event, eventless (`always`), a child's completion, a delay. */
export type TransitionKind = 'event' | 'always' | 'done' | 'after' | 'error';

export interface ChartTransition {
  kind: TransitionKind;
  /** The event type as XState names it ('' for `always`). */
  event: string;
  /** What a diagram prints for the trigger: the event, `done`, `after 10ms`, or '' for `always`. */
  label: string;
  guard: string | null;
  /** Target node indices; empty for a targetless transition (actions only). */
  targets: number[];
  actions: string[];
}

export interface ChartNode {
  index: number;
  /** XState's id, unique in the machine: `cpu.os.nmi.idle`. */
  id: string;
  /** The path below the root as the trace writes it: `os.nmi.idle` ('' for the root). */
  path: string;
  key: string;
  type: ChartNodeType;
  history: 'shallow' | 'deep' | null;
  parent: number;
  children: number[];
  /** The initial child (compound) or every region (parallel). */
  initial: number[];
  description: string | null;
  tags: string[];
  transitions: ChartTransition[];
  depth: number;
}

export interface ChartModel {
  kind: string;
  title: string;
  nodes: ChartNode[];
}

type AnyNode = StateNode<any, any>;

/** A guard as a diagram prints it: its name and its parameters' values, e.g. `IRQ vector is (248)`. */
export function guardLabel(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // xstate's and()/or()/not() are functions carrying their operands.
    const g = guard as { guards?: unknown[]; name?: string };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((x) => guardLabel(x) ?? '?');
      if (g.name === 'not') return `not ${parts[0] ?? '?'}`;
      return parts.join(g.name === 'or' ? ' or ' : ' and ');
    }
    return g.name ? g.name : 'guard';
  }
  if (typeof guard === 'object') {
    const { type, params } = guard as { type?: unknown; params?: unknown };
    const name = typeof type === 'string' ? type : 'guard';
    if (params && typeof params === 'object' && Object.keys(params).length > 0) {
      return `${name} (${Object.values(params as Record<string, unknown>).map((v) => String(v)).join(', ')})`;
    }
    return name;
  }
  return String(guard);
}

function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') return (action as { type?: string; name?: string }).type ?? (action.name || 'action');
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') return (action as { type: string }).type;
  return 'action';
}

function triggerOf(eventType: string): { kind: TransitionKind; label: string } {
  if (eventType === '') return { kind: 'always', label: '' };
  if (eventType.startsWith('xstate.done.state.')) return { kind: 'done', label: 'done' };
  if (eventType.startsWith('xstate.after.')) {
    // xstate.after.<delay>.<state id>
    const delay = eventType.slice('xstate.after.'.length).split('.')[0] ?? '';
    return { kind: 'after', label: /^\d+$/.test(delay) ? `after ${delay}ms` : `after ${delay}` };
  }
  if (eventType.startsWith('xstate.error.')) return { kind: 'error', label: 'error' };
  return { kind: 'event', label: eventType };
}

/** The chart of `machine` as data; `kind` names the actor kind (`physical-cpu`). */
export function chartOf(machine: Pick<AnyStateMachine, 'root'>, kind: string, title = kind): ChartModel {
  const nodes: ChartNode[] = [];
  const indexOf = new Map<AnyNode, number>();
  const order: AnyNode[] = [];
  const visit = (node: AnyNode, parent: number, depth: number): void => {
    const index = nodes.length;
    indexOf.set(node, index);
    order.push(node);
    nodes.push({
      index,
      id: node.id,
      path: node.path.join('.'),
      key: node.key,
      type: node.type,
      history: node.type === 'history' ? (node.history === 'deep' ? 'deep' : 'shallow') : null,
      parent,
      children: [],
      initial: [],
      description: node.description ?? null,
      tags: [...node.tags],
      transitions: [],
      depth,
    });
    if (parent >= 0) nodes[parent]?.children.push(index);
    for (const child of Object.values(node.states)) visit(child as AnyNode, index, depth + 1);
  };
  visit(machine.root as AnyNode, -1, 0);

  for (const node of order) {
    const me = nodes[indexOf.get(node) as number] as ChartNode;
    if (node.type === 'parallel') me.initial = [...me.children];
    else if (node.type === 'compound') me.initial = (node.initial?.target ?? []).map((t) => indexOf.get(t as AnyNode) ?? -1).filter((i) => i >= 0);
    const defs = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const def of defs) {
      const { kind, label } = triggerOf(String(def.eventType));
      me.transitions.push({
        kind,
        event: String(def.eventType),
        label,
        guard: guardLabel(def.guard),
        targets: (def.target ?? []).map((t) => indexOf.get(t as AnyNode) ?? -1).filter((i) => i >= 0),
        actions: (def.actions ?? []).map(actionLabel),
      });
    }
  }
  return { kind, title, nodes };
}

/** The node at a trace path (`os.nmi.idle`), or undefined. */
export function nodeAtPath(model: ChartModel, path: string): ChartNode | undefined {
  return pathIndex(model).get(path);
}

const pathIndexes = new WeakMap<ChartModel, Map<string, ChartNode>>();
function pathIndex(model: ChartModel): Map<string, ChartNode> {
  let map = pathIndexes.get(model);
  if (!map) {
    map = new Map(model.nodes.map((n) => [n.path, n]));
    pathIndexes.set(model, map);
  }
  return map;
}

export function isAncestor(model: ChartModel, ancestor: number, node: number): boolean {
  for (let i = node; i >= 0; i = (model.nodes[i] as ChartNode).parent) if (i === ancestor) return true;
  return false;
}

/** The least common ancestor of two nodes (a node is its own ancestor). */
export function commonAncestor(model: ChartModel, a: number, b: number): number {
  const seen = new Set<number>();
  for (let i = a; i >= 0; i = (model.nodes[i] as ChartNode).parent) seen.add(i);
  for (let i = b; i >= 0; i = (model.nodes[i] as ChartNode).parent) if (seen.has(i)) return i;
  return 0;
}

/** One drawn edge after collapsing: from and to visible nodes, with every label it stands for. */
export interface VisibleEdge {
  source: number;
  target: number;
  labels: string[];
  kinds: TransitionKind[];
}

export interface VisibleGraph {
  /** Visible nodes (in model order): not hidden inside a collapsed ancestor. */
  nodes: number[];
  /** Visible compound or parallel nodes drawn collapsed (their children hidden). */
  collapsed: Set<number>;
  edges: VisibleEdge[];
}

export function transitionLabel(t: ChartTransition): string {
  const guard = t.guard ? `[${t.guard}]` : '';
  return t.label && guard ? `${t.label} ${guard}` : t.label || guard;
}

/**
 * What a diagram shows when the nodes in `collapse` are drawn closed, under `root`: a transition
 * from or into a hidden node is drawn from or to its closed ancestor, and the duplicates that makes
 * are merged (their labels kept). Transitions to nodes outside `root` are left out; targetless ones
 * (actions only, the chart's `hold or drop`) are not drawn.
 */
export function visibleGraph(model: ChartModel, collapse: ReadonlySet<number>, root = 0): VisibleGraph {
  const shown = new Int32Array(model.nodes.length).fill(-1);
  const nodes: number[] = [];
  const collapsed = new Set<number>();
  const walk = (i: number): void => {
    const n = model.nodes[i] as ChartNode;
    shown[i] = i;
    nodes.push(i);
    if (n.children.length > 0 && collapse.has(i) && i !== root) {
      collapsed.add(i);
      const hide = (j: number): void => {
        for (const c of (model.nodes[j] as ChartNode).children) {
          shown[c] = i;
          hide(c);
        }
      };
      hide(i);
      return;
    }
    for (const c of n.children) walk(c);
  };
  walk(root);
  const edges = new Map<string, VisibleEdge>();
  for (const i of nodes) {
    // A collapsed node stands for the transitions of everything inside it.
    const sources = collapsed.has(i) ? descendants(model, i) : [i];
    for (const s of sources) {
      for (const t of (model.nodes[s] as ChartNode).transitions) {
        for (const target of t.targets) {
          const to = shown[target] ?? -1;
          if (to < 0) continue;
          // Inside one closed node: nothing to draw.
          if (to === i && collapsed.has(i) && s !== i) continue;
          const key = `${i}>${to}`;
          const e = edges.get(key) ?? { source: i, target: to, labels: [], kinds: [] };
          const label = transitionLabel(t);
          if (!e.labels.includes(label)) {
            e.labels.push(label);
            e.kinds.push(t.kind);
          }
          edges.set(key, e);
        }
      }
    }
  }
  return { nodes, collapsed, edges: [...edges.values()] };
}

export function descendants(model: ChartModel, i: number): number[] {
  const out = [i];
  for (let k = 0; k < out.length; k++) out.push(...(model.nodes[out[k] as number] as ChartNode).children);
  return out;
}

export interface ExportScope {
  /** The node to export (its subtree); 0 is the whole machine. */
  root: number;
  /** Compound nodes drawn closed. */
  collapse: Set<number>;
}

/**
 * The part of a chart an export prints: the subtree at `rootPath` (a trace path such as `os.nmi`,
 * '' for all), with compound states deeper than `depth` levels below it drawn closed.
 */
export function exportScope(model: ChartModel, rootPath = '', depth?: number): ExportScope | { error: string } {
  const root = nodeAtPath(model, rootPath);
  if (!root) return { error: `no state at path '${rootPath}'` };
  const collapse = new Set<number>();
  if (depth !== undefined) {
    for (const i of descendants(model, root.index)) {
      const n = model.nodes[i] as ChartNode;
      if (n.children.length > 0 && n.depth - root.depth >= depth) collapse.add(i);
    }
  }
  return { root: root.index, collapse };
}
