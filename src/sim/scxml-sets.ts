/**
 * The SCXML sets of the chart runner (chart-runner.ts) that depend on the chart alone, not on which states are
 * active: a transition's domain, and its entry set with default entries — computed the way XState computes them
 * (its `getTransitionDomain`, `computeEntrySet`, `addDescendantStatesToEnter`, `addAncestorStatesToEnter`).
 * `children[n.order]` is each node's child list in document order.
 */
import type { StateNode } from 'xstate';

export type Node = StateNode<any, any>;
export type Transition = {
  source: Node;
  target: readonly Node[] | undefined;
  actions: readonly unknown[];
  guard: unknown;
  reenter: boolean;
  eventType: string;
};

export function isDescendant(child: Node, parent: Node): boolean {
  let m = child;
  while (m.parent && m.parent !== parent) m = m.parent as Node;
  return m.parent === parent;
}

export function properAncestors(node: Node, upTo: Node | undefined): Node[] {
  const out: Node[] = [];
  for (let m = node.parent as Node | undefined; m && m !== upTo; m = m.parent as Node | undefined) out.push(m);
  return out;
}

export function transitionDomain(t: Transition, root: Node): Node | undefined {
  const targets = t.target ?? [];
  if (!t.reenter && targets.every((x) => x === t.source || isDescendant(x, t.source))) return t.source;
  const all = [...targets, t.source];
  const [head, ...tail] = all as [Node, ...Node[]];
  for (const anc of properAncestors(head, undefined)) if (tail.every((x) => isDescendant(x, anc))) return anc;
  return t.reenter ? undefined : root;
}

export function initialTargets(node: Node): Node[] {
  const init = node.initial as unknown as { target: Node[] } | undefined;
  return init?.target ? [...init.target] : [];
}

export function entrySet(transitions: Transition[], root: Node, children: Node[][]): { enter: Set<Node>; defaultEntry: Set<Node> } {
  const enter = new Set<Node>();
  const defaultEntry = new Set<Node>();
  for (const t of transitions) {
    const domain = transitionDomain(t, root);
    for (const s of t.target ?? []) {
      if (t.source !== s || t.source !== domain || t.reenter) {
        enter.add(s);
        defaultEntry.add(s);
      }
      addDescendants(s, enter, defaultEntry, children);
    }
    for (const s of t.target ?? []) {
      const ancestors = properAncestors(s, domain);
      if (domain?.type === 'parallel') ancestors.push(domain);
      addAncestors(enter, defaultEntry, ancestors, !t.source.parent && t.reenter ? undefined : domain, children);
    }
  }
  return { enter, defaultEntry };
}

function addDescendants(node: Node, enter: Set<Node>, defaultEntry: Set<Node>, children: Node[][]): void {
  if (node.type === 'compound') {
    const [initial] = initialTargets(node) as [Node];
    enter.add(initial);
    defaultEntry.add(initial);
    addDescendants(initial, enter, defaultEntry, children);
    addAncestors(enter, defaultEntry, properAncestors(initial, node), undefined, children);
  } else if (node.type === 'parallel') {
    for (const child of children[node.order] as Node[]) {
      if (![...enter].some((s) => isDescendant(s, child))) {
        enter.add(child);
        defaultEntry.add(child);
        addDescendants(child, enter, defaultEntry, children);
      }
    }
  }
}

function addAncestors(enter: Set<Node>, defaultEntry: Set<Node>, ancestors: Node[], domain: Node | undefined, children: Node[][]): void {
  for (const anc of ancestors) {
    if (!domain || isDescendant(anc, domain)) enter.add(anc);
    if (anc.type === 'parallel') {
      for (const child of children[anc.order] as Node[]) {
        if (![...enter].some((s) => isDescendant(s, child))) {
          enter.add(child);
          addDescendants(child, enter, defaultEntry, children);
        }
      }
    }
  }
}
