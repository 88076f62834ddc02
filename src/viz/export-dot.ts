/**
 * Graphviz DOT from a chart: a cluster per compound or parallel state (parallel ones dashed, the
 * UML notation for regions), a point per compound for its initial transition, and edges labelled
 * `event [guard]`. An edge into or out of a compound ends at its point, clipped to the cluster
 * (`lhead`/`ltail`), since DOT cannot attach an edge to a cluster itself.
 *
 * A transition of a compound into its own descendant (the VMM chart's `thread.died`, taken from
 * any state) cannot leave the cluster's border either: Graphviz clips only edges that leave the
 * cluster, so it would start at the initial point and read "starts in dead". It is drawn from a
 * note inside the cluster, `from any state: thread.died`, listed once per target.
 */
import { type ChartModel, type ChartNode, type ExportScope, type VisibleEdge, visibleGraph, isAncestor } from './chart-model.js';

/** A quoted DOT string drawn as written: Graphviz reads `&…;` in a label as an HTML entity. */
export function dotString(text: string): string {
  return `"${text.replace(/&/g, '&amp;').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function chartToDot(model: ChartModel, scope: ExportScope = { root: 0, collapse: new Set() }): string {
  const graph = visibleGraph(model, scope.collapse, scope.root);
  const node = (i: number) => model.nodes[i] as ChartNode;
  const isCluster = (i: number) => node(i).children.length > 0 && !graph.collapsed.has(i);
  const id = (i: number) => dotString(node(i).id);
  const anchor = (i: number) => dotString(`${node(i).id}#initial`);
  const fromAnyState = (e: VisibleEdge) => e.source !== e.target && isAncestor(model, e.source, e.target);
  const noteId = (e: VisibleEdge) => dotString(`${node(e.source).id}#any>${node(e.target).id}`);
  const notesIn = new Map<number, VisibleEdge[]>();
  for (const e of graph.edges.filter(fromAnyState)) notesIn.set(e.source, [...(notesIn.get(e.source) ?? []), e]);
  const lines: string[] = [
    `digraph ${dotString(model.kind)} {`,
    '  compound=true; rankdir=LR; newrank=true;',
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
  ];
  const emit = (i: number, indent: string): void => {
    const n = node(i);
    if (isCluster(i)) {
      const parallel = n.type === 'parallel';
      lines.push(`${indent}subgraph ${dotString(`cluster_${n.id}`)} {`);
      lines.push(`${indent}  label=${dotString(parallel ? `${n.key} ∥` : n.key)}; style=${parallel ? '"rounded,dashed"' : 'rounded'}; fontname="Helvetica"; fontsize=11;`);
      if (n.description) lines.push(`${indent}  tooltip=${dotString(n.description)};`);
      lines.push(`${indent}  ${anchor(i)} [shape=point, width=0.08, fillcolor="#000000"${parallel ? ', style=invis' : ''}];`);
      for (const e of notesIn.get(i) ?? []) {
        const whose = i === scope.root ? '' : ` of ${n.key}`;
        const text = e.labels.map((l) => `from any state${whose}: ${l}`).join('\n');
        lines.push(`${indent}  ${noteId(e)} [shape=note, fillcolor="#fff5ad", label=${dotString(text)}];`);
      }
      for (const c of n.children) emit(c, `${indent}  `);
      if (!parallel && n.initial[0] !== undefined) {
        const first = n.initial[0];
        lines.push(`${indent}  ${anchor(i)} -> ${isCluster(first) ? anchor(first) : id(first)}${isCluster(first) ? ` [lhead=${dotString(`cluster_${node(first).id}`)}]` : ''};`);
      }
      lines.push(`${indent}}`);
      return;
    }
    const attrs = [`label=${dotString(graph.collapsed.has(i) ? `${n.key} …` : n.type === 'history' ? `H${n.history === 'deep' ? '*' : ''}` : n.key)}`];
    if (n.type === 'final') attrs.push('peripheries=2');
    if (n.type === 'history') attrs.push('shape=circle');
    if (n.tags.includes('blocked')) attrs.push('fillcolor="#eeeeee"');
    if (n.description) attrs.push(`tooltip=${dotString(n.description)}`);
    lines.push(`${indent}${id(i)} [${attrs.join(', ')}];`);
  };
  emit(scope.root, '  ');
  for (const e of graph.edges) {
    if (fromAnyState(e)) {
      const to = isCluster(e.target) ? `${anchor(e.target)} [lhead=${dotString(`cluster_${node(e.target).id}`)}]` : id(e.target);
      lines.push(`  ${noteId(e)} -> ${to};`);
      continue;
    }
    const attrs: string[] = [];
    const label = e.labels.join('\n');
    if (label) attrs.push(`label=${dotString(label)}`);
    if (isCluster(e.source)) attrs.push(`ltail=${dotString(`cluster_${node(e.source).id}`)}`);
    if (isCluster(e.target)) attrs.push(`lhead=${dotString(`cluster_${node(e.target).id}`)}`);
    if (e.kinds.every((k) => k === 'always')) attrs.push('style=dashed');
    const from = isCluster(e.source) ? anchor(e.source) : id(e.source);
    const to = isCluster(e.target) ? anchor(e.target) : id(e.target);
    lines.push(`  ${from} -> ${to}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
