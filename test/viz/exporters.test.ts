/**
 * The exporters print the chart the simulator runs. SCXML is read back with a real XML parser: one
 * element per state node, same nesting, every transition target an existing id. (mermaid's own
 * parser needs a DOM, so the mermaid output is parsed in Chromium, in browser.test.ts; every export is
 * drawn, by mermaid and by Graphviz, in export-render.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { exportScope, type ChartNode } from '../../src/viz/chart-model.js';
import { chartToScxml } from '../../src/viz/export-scxml.js';
import { chartToDot } from '../../src/viz/export-dot.js';
import { chartToMermaid, mermaidId } from '../../src/viz/export-mermaid.js';
import { chart } from './helpers.js';

const STATE_ELEMENTS = ['state', 'parallel', 'final', 'history'];

type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };

/** Walks fast-xml-parser's ordered output: element name, attributes, children. */
function walk(nodes: Ordered[], visit: (name: string, attrs: Record<string, string>, parentId: string | null) => void, parentId: string | null = null): void {
  for (const n of nodes) {
    const name = Object.keys(n).find((k) => k !== ':@');
    if (!name || name === '#text' || name === '#comment') continue;
    const attrs = n[':@'] ?? {};
    visit(name, attrs, parentId);
    walk(n[name] as Ordered[], visit, STATE_ELEMENTS.includes(name) ? (attrs['@_id'] ?? parentId) : parentId);
  }
}

describe('SCXML', () => {
  const xml = chartToScxml(chart);
  const parsed = new XMLParser({ ignoreAttributes: false, preserveOrder: true, commentPropName: '#comment' }).parse(xml) as Ordered[];

  it('is well-formed XML', () => {
    expect(XMLValidator.validate(xml)).toBe(true);
  });

  it('has one <state>/<parallel>/<final>/<history> per state node, nested as in the chart', () => {
    const seen = new Map<string, { name: string; parent: string | null }>();
    walk(parsed, (name, attrs, parent) => {
      if (STATE_ELEMENTS.includes(name)) seen.set(attrs['@_id'] as string, { name, parent });
    });
    expect(seen.size).toBe(chart.nodes.length);
    for (const n of chart.nodes) {
      const el = seen.get(n.id);
      expect(el, n.id).toBeDefined();
      const expected = n.type === 'parallel' ? 'parallel' : n.type === 'final' ? 'final' : n.type === 'history' ? 'history' : 'state';
      expect(el?.name).toBe(expected);
      expect(el?.parent).toBe(n.parent >= 0 ? (chart.nodes[n.parent] as ChartNode).id : null);
    }
  });

  it('every transition targets existing ids, and compound states name their initial child', () => {
    const ids = new Set(chart.nodes.map((n) => n.id));
    let transitions = 0;
    walk(parsed, (name, attrs) => {
      if (name === 'transition') {
        transitions += 1;
        for (const t of (attrs['@_target'] ?? '').split(' ').filter(Boolean)) expect(ids.has(t), t).toBe(true);
      }
      if (name === 'state' && attrs['@_initial']) expect(ids.has(attrs['@_initial'])).toBe(true);
    });
    expect(transitions).toBe(chart.nodes.reduce((a, n) => a + n.transitions.length, 0));
  });

  it('escapes attribute text and keeps comments legal', () => {
    const tiny = {
      kind: 'x',
      title: 'x',
      nodes: [
        { index: 0, id: 'm', path: '', key: 'm', type: 'compound' as const, history: null, parent: -1, children: [1], initial: [1], description: 'a -- b', tags: [], transitions: [], depth: 0 },
        {
          index: 1, id: 'm.a', path: 'a', key: 'a', type: 'atomic' as const, history: null, parent: 0, children: [], initial: [], description: null, tags: [], depth: 1,
          transitions: [{ kind: 'event' as const, event: 'e', label: 'e', guard: 'x < y && "z"', targets: [1], actions: [] }],
        },
      ],
    };
    const out = chartToScxml(tiny);
    expect(XMLValidator.validate(out)).toBe(true);
    expect(out).toContain('cond="x &lt; y &amp;&amp; &quot;z&quot;"');
  });
});

describe('DOT', () => {
  it('has a cluster per open compound and a node per leaf, with balanced braces', () => {
    const dot = chartToDot(chart);
    const open = (dot.match(/\{/g) ?? []).length;
    expect(open).toBe((dot.match(/\}/g) ?? []).length);
    const compounds = chart.nodes.filter((n) => n.children.length > 0).length;
    expect((dot.match(/subgraph "cluster_/g) ?? []).length).toBe(compounds);
    for (const n of chart.nodes.filter((x) => x.children.length === 0)) expect(dot).toContain(`"${n.id}" [`);
  });
});

describe('mermaid (structure; parsed by mermaid in browser.test.ts)', () => {
  it('declares every state once under a unique id, and regions of os are separated by --', () => {
    const { text } = chartToMermaid(chart);
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    const ids = chart.nodes.filter((n) => n.index !== 0).map(mermaidId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(text.match(new RegExp(`as ${id}( \\{)?$`, 'm')), id).not.toBeNull();
    const os = text.slice(text.indexOf('as s_os {'));
    expect((os.match(/^ {4}--$/gm) ?? []).length).toBe(3);
  });

  it('--root and --depth cut a part small enough for GitHub', () => {
    const scope = exportScope(chart, 'os.nmi.emergencyHandler');
    if ('error' in scope) throw new Error(scope.error);
    const { text, edges } = chartToMermaid(chart, scope);
    expect(text.length).toBeLessThan(50_000);
    expect(edges).toBeLessThan(500);
    const shallow = exportScope(chart, '', 3);
    if ('error' in shallow) throw new Error(shallow.error);
    expect(chartToMermaid(chart, shallow).text.length).toBeLessThan(50_000);
  });
});
