/**
 * SCXML (W3C, 2015) from a chart: one `<state>`, `<parallel>`, `<final>` or `<history>` element per
 * state node (the machine's root included), in the same nesting; transitions with `event`, `cond` (the guard's name: SCXML's
 * expression language is the datamodel's, and the chart's guards are named functions) and
 * space-separated `target` ids. The descriptions, the kernel code a state stands for, go in comments.
 */
import type { ChartModel, ChartNode, ChartTransition } from './chart-model.js';

export function xmlAttr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\n\r\t]/g, ' ');
}

/** A comment may not contain `--` nor end in `-`. */
function xmlComment(text: string): string {
  return `<!-- ${text.replace(/-(?=-)/g, '- ').replace(/-$/, '- ')} -->`;
}

const ELEMENT: Record<ChartNode['type'], string> = {
  atomic: 'state',
  compound: 'state',
  parallel: 'parallel',
  final: 'final',
  history: 'history',
};

export function chartToScxml(model: ChartModel, root = 0): string {
  const node = (i: number) => model.nodes[i] as ChartNode;
  const inScope = new Set<number>();
  const mark = (i: number): void => {
    inScope.add(i);
    for (const c of node(i).children) mark(c);
  };
  mark(root);
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const top = node(root);
  const transition = (t: ChartTransition, indent: string): string => {
    const attrs: string[] = [];
    // xstate's done and error events have SCXML counterparts of the same shape.
    if (t.kind !== 'always') attrs.push(`event="${xmlAttr(t.event)}"`);
    if (t.guard) attrs.push(`cond="${xmlAttr(t.guard)}"`);
    const targets = t.targets.filter((x) => inScope.has(x)).map((x) => node(x).id);
    if (targets.length > 0) attrs.push(`target="${xmlAttr(targets.join(' '))}"`);
    if (t.targets.length > 0 && targets.length === 0) return `${indent}${xmlComment(`transition ${t.label || 'always'} leaves the exported subtree`)}`;
    if (t.targets.length === 0) attrs.push('type="internal"');
    return `${indent}<transition ${attrs.join(' ')}/>`;
  };
  const emit = (i: number, indent: string): void => {
    const n = node(i);
    const el = ELEMENT[n.type];
    const attrs = [`id="${xmlAttr(n.id)}"`];
    if (n.type === 'compound' && n.initial[0] !== undefined) attrs.push(`initial="${xmlAttr(node(n.initial[0]).id)}"`);
    if (n.type === 'history') attrs.push(`type="${n.history ?? 'shallow'}"`);
    const inner: string[] = [];
    if (n.description) inner.push(`${indent}  ${xmlComment(n.description)}`);
    for (const t of n.transitions) inner.push(transition(t, `${indent}  `));
    if (inner.length === 0 && n.children.length === 0) {
      lines.push(`${indent}<${el} ${attrs.join(' ')}/>`);
      return;
    }
    lines.push(`${indent}<${el} ${attrs.join(' ')}>`);
    lines.push(...inner);
    for (const c of n.children) emit(c, `${indent}  `);
    lines.push(`${indent}</${el}>`);
  };
  // <scxml> may hold no transitions, so the machine's root is a <state> of its own: every state
  // node, the root included, is one element.
  lines.push(`<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="${xmlAttr(top.id)}" datamodel="null" initial="${xmlAttr(top.id)}">`);
  emit(root, '  ');
  lines.push('</scxml>');
  return lines.join('\n') + '\n';
}
