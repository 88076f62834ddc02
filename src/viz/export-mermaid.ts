/**
 * Mermaid `stateDiagram-v2` from a chart: composite states nest, a parallel state's regions are
 * separated by `--`, `[*]` marks initial and final states, transitions carry `event [guard]`, one
 * line each when several transitions are drawn as one arrow. State ids are the trace paths made
 * into identifiers, because mermaid ids are global while keys such as `idle` repeat in every region.
 *
 * A transition of a state into its own descendant (the VMM chart's `thread.died`, taken from any
 * state) cannot be drawn from the state's border by mermaid: it draws an arrow from a composite to
 * its own child as a label with no line, and the chart's root has no box at all. It is listed once,
 * as a note on its target: `from any state: thread.died`.
 */
import { type ChartModel, type ChartNode, type ExportScope, visibleGraph, commonAncestor, isAncestor } from './chart-model.js';

/** mermaid's default `maxTextSize`: a diagram longer than this is refused by GitHub's renderer. */
export const MERMAID_MAX_TEXT = 50_000;
/** mermaid's default `maxEdges`. */
export const MERMAID_MAX_EDGES = 500;

export function mermaidId(node: ChartNode): string {
  if (node.path === '') return 's_root';
  return `s_${node.path.split('.').map((seg) => seg.replace(/[^A-Za-z0-9]/g, '_')).join('__')}`;
}

/**
 * Transition and note text runs to the end of the line, drawn as written: characters that end or
 * confuse a statement (`;`, `#`, braces, quotes) or that mermaid reads as HTML (`<br>`, `&…;`) are
 * written as mermaid's numeric entity codes (`#35;` is drawn as `#`).
 */
function labelText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[;#{}"<>&]/g, (c) => `#${c.charCodeAt(0)};`);
}

/** Several transitions drawn as one arrow: one line each (` / ` would read as UML's `event / action`). */
function labelLines(labels: readonly string[]): string {
  return labels.map(labelText).filter((l) => l !== '').join('<br/>');
}

export function chartToMermaid(model: ChartModel, scope: ExportScope = { root: 0, collapse: new Set() }): { text: string; edges: number } {
  const graph = visibleGraph(model, scope.collapse, scope.root);
  const visible = new Set(graph.nodes);
  const node = (i: number) => model.nodes[i] as ChartNode;
  // Each edge is printed in the innermost composite that holds both ends, as mermaid expects.
  const edgesAt = new Map<number, string[]>();
  // Transitions into the source's own descendants, by target: listed once as a note (see above).
  const fromAnyState = new Map<number, string[]>();
  let edgeCount = 0;
  for (const e of graph.edges) {
    if (e.source !== e.target && isAncestor(model, e.source, e.target)) {
      const whose = e.source === scope.root ? '' : ` of ${node(e.source).key}`;
      const notes = fromAnyState.get(e.target) ?? [];
      for (const l of e.labels) notes.push(`from any state${whose}: ${l}`);
      fromAnyState.set(e.target, notes);
      continue;
    }
    let at = commonAncestor(model, e.source, e.target);
    if (at === e.source || at === e.target) at = node(at).parent >= 0 && at !== scope.root ? node(at).parent : at;
    // After a parallel state's last `--` an edge would land in its last region: print it outside.
    while (at !== scope.root && node(at).type === 'parallel') at = node(at).parent;
    if (!visible.has(at)) at = scope.root;
    const list = edgesAt.get(at) ?? [];
    const label = labelLines(e.labels);
    list.push(`${mermaidId(node(e.source))} --> ${mermaidId(node(e.target))}${label ? ` : ${label}` : ''}`);
    edgesAt.set(at, list);
    edgeCount += 1;
  }
  const lines: string[] = ['stateDiagram-v2'];
  const body = (i: number, indent: string): void => {
    const n = node(i);
    const kids = n.children;
    const regions = n.type === 'parallel';
    if (!regions && n.initial[0] !== undefined) {
      lines.push(`${indent}[*] --> ${mermaidId(node(n.initial[0]))}`);
      edgeCount += 1;
    }
    kids.forEach((c, k) => {
      if (regions && k > 0) lines.push(`${indent}--`);
      declare(c, indent);
    });
    for (const line of edgesAt.get(i) ?? []) lines.push(`${indent}${line}`);
  };
  const declare = (i: number, indent: string): void => {
    const n = node(i);
    const id = mermaidId(n);
    const open = n.children.length > 0 && !graph.collapsed.has(i);
    const label = n.type === 'history' ? `${n.key} (H${n.history === 'deep' ? '*' : ''})` : graph.collapsed.has(i) ? `${n.key} …` : n.key;
    if (open) {
      lines.push(`${indent}state "${label}" as ${id} {`);
      body(i, `${indent}  `);
      lines.push(`${indent}}`);
    } else {
      lines.push(`${indent}state "${label}" as ${id}`);
    }
    if (n.type === 'final') {
      lines.push(`${indent}${id} --> [*]`);
      edgeCount += 1;
    }
    const notes = fromAnyState.get(i);
    // The block form: a one-line note ends at its text's first `:`.
    if (notes) lines.push(`${indent}note left of ${id}`, ...notes.map((l) => `${indent}  ${labelText(l)}`), `${indent}end note`);
  };
  if (scope.root === 0) body(0, '  ');
  else declare(scope.root, '  ');
  return { text: lines.join('\n') + '\n', edges: edgeCount };
}
