/**
 * Every export drawn for real, and the drawn text compared with what was meant: mermaid's own
 * renderer (`mermaid.render` in Chromium, the bundle from node_modules) for the state charts and the
 * sequence diagrams, Graphviz (its WebAssembly build) for DOT. Parsing alone passed `#35;` garbage,
 * a `<br>` in a console line drawn as a line break and a stray `s_root` box.
 *
 * The mermaid half is skipped only where there is no /usr/bin/chromium and CI is not set.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Graphviz } from '@hpcc-js/wasm-graphviz';
import { XMLParser } from 'fast-xml-parser';
import { ACTOR_KINDS } from '../../src/viz/actor-kinds.js';
import { type ChartModel, type ChartNode, type ExportScope, exportScope, isAncestor, visibleGraph } from '../../src/viz/chart-model.js';
import { chartToMermaid } from '../../src/viz/export-mermaid.js';
import { chartToDot } from '../../src/viz/export-dot.js';
import { traceToMermaidSequence } from '../../src/viz/export-trace.js';
import { traceModel, type TraceModel } from '../../src/viz/trace-model.js';
import { messageLabel } from '../../src/hw/vectors.js';
import { builtin, chart, traceText } from './helpers.js';
import { launchBrowser, ROOT as root, runBrowser } from './browser-env.js';


const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

function model(text: string): TraceModel {
  const m = traceModel(chart, text);
  if ('error' in m) throw new Error(m.error);
  return m;
}

/** A trace of a built-in scenario with its first console line replaced. */
function withConsole(id: string, text: string): string {
  const records = traceText(builtin(id)).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const line = records.find((r) => r.t === 'console');
  if (!line) throw new Error(`${id} has no console line`);
  line.text = text;
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

/** Text that mermaid and DOT each read as markup if it is not escaped. */
const NASTY = 'a; b # c <br> d &amp; e #35; f %% g <b>h</b> {i} "j" \\n k: l';

/** A one-state chart whose transition label is NASTY, and a merged pair of labels. */
function nastyChart(): ChartModel {
  const leaf = (index: number, key: string, transitions: ChartNode['transitions']): ChartNode => ({
    index, id: `m.${key}`, path: key, key, type: 'atomic', history: null, parent: 0, children: [], initial: [], description: null, tags: [], transitions, depth: 1,
  });
  return {
    kind: 'nasty',
    title: 'nasty',
    nodes: [
      { index: 0, id: 'm', path: '', key: 'm', type: 'compound', history: null, parent: -1, children: [1, 2], initial: [1], description: null, tags: [], transitions: [], depth: 0 },
      leaf(1, 'a', [
        { kind: 'event', event: 'e', label: 'e', guard: NASTY, targets: [2], actions: [] },
        { kind: 'event', event: 'f', label: 'f', guard: null, targets: [2], actions: [] },
      ]),
      leaf(2, 'b', []),
    ],
  };
}

/** What a state diagram must show: state labels, and per arrow its lines, from the chart itself. */
function expectedChart(c: ChartModel, scope: ExportScope): { states: string[]; edges: string[]; notes: string[] } {
  const g = visibleGraph(c, scope.collapse, scope.root);
  const states: string[] = [];
  for (const i of g.nodes) {
    const n = c.nodes[i] as ChartNode;
    if (i === 0) continue;
    states.push(n.type === 'history' ? `${n.key} (H${n.history === 'deep' ? '*' : ''})` : g.collapsed.has(i) ? `${n.key} …` : n.key);
  }
  const edges: string[] = [];
  const notes: string[] = [];
  for (const e of g.edges) {
    if (e.source !== e.target && isAncestor(c, e.source, e.target)) {
      const whose = e.source === scope.root ? '' : ` of ${(c.nodes[e.source] as ChartNode).key}`;
      notes.push(e.labels.map((l) => `from any state${whose}: ${l}`).join('\n'));
    } else if (e.labels.some((l) => l !== '')) edges.push(e.labels.filter((l) => l !== '').join('\n'));
  }
  return { states: states.map(squash).sort(), edges: edges.sort(), notes: notes.sort() };
}

const sorted = (a: string[]) => [...a].sort();

describe.skipIf(!runBrowser)('mermaid exports drawn by mermaid.render in Chromium', () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><head><link rel="icon" href="data:,"></head><body><div id="out"></div></body></html>');
    await page.addScriptTag({ path: path.join(root, 'node_modules/mermaid/dist/mermaid.min.js') });
    await page.evaluate(() => (window as unknown as { mermaid: { initialize(c: object): void } }).mermaid.initialize({ startOnLoad: false, maxTextSize: 200_000, maxEdges: 2_000 }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  type Drawn = { error?: string; states: string[]; edges: string[]; notes: string[]; messages: string[]; all: string[] };

  /** Renders `text` and reads back what was drawn: each label's lines (a `<br>` is a line break). */
  async function draw(text: string): Promise<Drawn> {
    return page.evaluate(async (t) => {
      const mermaid = (window as unknown as { mermaid: { render(id: string, text: string): Promise<{ svg: string }> } }).mermaid;
      const out = document.getElementById('out') as HTMLElement;
      const lines = (el: Element): string => {
        const copy = el.cloneNode(true) as Element;
        for (const br of [...copy.querySelectorAll('br')]) br.replaceWith('\n');
        return (copy.textContent ?? '').split('\n').map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l !== '').join('\n');
      };
      try {
        out.innerHTML = (await mermaid.render(`d${Math.random().toString(36).slice(2)}`, t)).svg;
      } catch (e) {
        return { error: String((e as Error).message ?? e).slice(0, 500), states: [], edges: [], notes: [], messages: [], all: [] };
      }
      const all = (sel: string) => [...out.querySelectorAll(sel)].map(lines).filter((l) => l !== '');
      return {
        states: all('g.node.statediagram-state .nodeLabel, g.statediagram-cluster > g.cluster-label .nodeLabel'),
        edges: all('g.edgeLabel span.edgeLabel'),
        notes: [...all('g.node.statediagram-note .nodeLabel'), ...all('text.noteText')],
        messages: all('text.messageText'),
        all: [...out.querySelectorAll('text, .nodeLabel, .edgeLabel')].map((e) => (e.textContent ?? '').trim()).filter(Boolean),
      };
    }, text);
  }

  const scopes: [string, ChartModel, string, number | undefined][] = [
    ...ACTOR_KINDS.filter((k) => k.name !== 'physical-cpu').map((k) => [k.name, k.chart(), '', undefined] as [string, ChartModel, string, number | undefined]),
    ['physical-cpu --depth 2', chart, '', 2],
    ['physical-cpu --root os.nmi.emergencyHandler', chart, 'os.nmi.emergencyHandler', undefined],
    ['physical-cpu --root crashKernel', chart, 'crashKernel', undefined],
    ['labels with markup characters', nastyChart(), '', undefined],
  ];

  it.each(scopes)('state chart %s: every state, transition line and note drawn as the chart has it, nothing else', async (_name, c, rootPath, depth) => {
    const scope = exportScope(c, rootPath, depth);
    if ('error' in scope) throw new Error(scope.error);
    const drawn = await draw(chartToMermaid(c, scope).text);
    expect(drawn.error).toBeUndefined();
    const want = expectedChart(c, scope);
    expect(sorted(drawn.states.map(squash))).toEqual(want.states);
    expect(sorted(drawn.edges)).toEqual(want.edges);
    expect(sorted(drawn.notes)).toEqual(want.notes);
    // No mermaid id leaks into the picture (the chart-wide transition once drew a box `s_root`).
    expect(drawn.all.filter((t) => /^s_/.test(t))).toEqual([]);
  }, 120_000);

  it('vmm: the chart-wide thread.died is a note on dead, not an arrow from a box or the initial state', async () => {
    const vmm = ACTOR_KINDS.find((k) => k.name === 'vmm')?.chart();
    if (!vmm) throw new Error('no vmm chart');
    const drawn = await draw(chartToMermaid(vmm).text);
    expect(drawn.notes).toEqual(['from any state: thread.died']);
    expect(drawn.edges).not.toContain('thread.died');
  });

  const sequences: [string, string][] = [
    ['T1', traceText(builtin('T1'))],
    ['T5 (VMCLEAR #UD eaten in the NMI handler)', traceText(builtin('T5'))],
    ['T6', traceText(builtin('T6'))],
    ['T5 with a console line full of markup', withConsole('T5', NASTY)],
  ];

  it.each(sequences)('sequence %s: every message and note drawn as the trace has it', async (_name, text) => {
    const m = model(text);
    const drawn = await draw(traceToMermaidSequence(m));
    expect(drawn.error).toBeUndefined();
    // From the trace model, not from the export: each delivery's name and each mark's text.
    const messages = m.deliveries.map((d) => `${messageLabel(d.mode, d.vector)} (msg ${d.msg})${d.status === 'delivered' ? '' : ` ${d.status}${d.reason ? `: ${d.reason}` : ''}`}`);
    expect(sorted(drawn.messages)).toEqual(sorted(messages.map(squash)));
    const marks = m.marks.filter((k) => k.kind !== 'violation' && k.cpu >= 0);
    expect(drawn.notes.length).toBe(marks.length + (m.violations.length > 0 ? 1 : 0));
    for (const k of marks) expect(drawn.notes.some((n) => n.endsWith(squash(k.text))), k.text).toBe(true);
  }, 120_000);

  it('the markup console line is drawn whole, on one line; an escape sequence as visible symbols, never raw', async () => {
    const drawn = await draw(traceToMermaidSequence(model(withConsole('T5', NASTY))));
    expect(drawn.notes).toContain(squash(NASTY));
    const colour = traceToMermaidSequence(model(withConsole('T5', 'BUG: \u001b[31mred\u001b[0m\u0007')));
    expect(colour).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect((await draw(colour)).notes).toContain('BUG: ␛[31mred␛[0m␇');
    const t5 = await draw(traceToMermaidSequence(model(traceText(builtin('T5')))));
    expect(t5.notes).toContain('fault VMCLEAR #UD in nmi context: eaten');
  });
});

interface SvgGroup {
  cls: string;
  title: string;
  lines: string[];
}

/** Graphviz's SVG as its node, edge and cluster groups: `<title>` and each `<text>` line. */
function svgGroups(svg: string): SvgGroup[] {
  const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n))).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  const doc = new XMLParser({ ignoreAttributes: false, processEntities: false, isArray: (name) => name === 'g' || name === 'text' }).parse(svg) as Record<string, unknown>;
  const out: SvgGroup[] = [];
  const text = (t: unknown): string => (typeof t === 'object' && t !== null ? String((t as Record<string, unknown>)['#text'] ?? '') : String(t));
  const walk = (g: Record<string, unknown>): void => {
    const cls = String(g['@_class'] ?? '');
    if (cls === 'node' || cls === 'edge' || cls === 'cluster') {
      const texts: unknown[] = [];
      const collect = (x: Record<string, unknown>): void => {
        texts.push(...((x.text as unknown[] | undefined) ?? []));
        for (const k of (x.g as Record<string, unknown>[] | undefined) ?? []) collect(k);
        const a = x.a as Record<string, unknown> | undefined;
        if (a) collect(a);
      };
      collect(g);
      out.push({ cls, title: decode(text(g.title)), lines: texts.map((t) => decode(text(t))) });
    }
    for (const k of (g.g as Record<string, unknown>[] | undefined) ?? []) walk(k);
    const a = g.a as Record<string, unknown> | undefined;
    if (a) walk(a);
  };
  walk((doc.svg as Record<string, unknown>) ?? {});
  return out;
}

describe('DOT exports drawn by Graphviz (WebAssembly build)', () => {
  let graphviz: Awaited<ReturnType<typeof Graphviz.load>>;
  beforeAll(async () => {
    graphviz = await Graphviz.load();
  });

  const charts: [string, ChartModel, string, number | undefined][] = [
    ...ACTOR_KINDS.filter((k) => k.name !== 'physical-cpu').map((k) => [k.name, k.chart(), '', undefined] as [string, ChartModel, string, number | undefined]),
    ['physical-cpu --depth 3', chart, '', 3],
    ['physical-cpu --root os.nmi', chart, 'os.nmi', undefined],
    ['labels with markup characters', nastyChart(), '', undefined],
  ];

  it.each(charts)('%s: every state drawn as a node with its name, every transition with its lines', (_name, c, rootPath, depth) => {
    const scope = exportScope(c, rootPath, depth);
    if ('error' in scope) throw new Error(scope.error);
    const groups = svgGroups(graphviz.dot(chartToDot(c, scope)));
    const g = visibleGraph(c, scope.collapse, scope.root);
    const node = (i: number) => c.nodes[i] as ChartNode;
    const open = (i: number) => node(i).children.length > 0 && !g.collapsed.has(i);
    const nodes = new Map(groups.filter((x) => x.cls === 'node').map((x) => [x.title, x.lines.join('\n')]));
    const clusters = groups.filter((x) => x.cls === 'cluster').map((x) => x.lines.join('\n'));
    for (const i of g.nodes) {
      const n = node(i);
      if (open(i)) expect(clusters, n.id).toContain(n.type === 'parallel' ? `${n.key} ∥` : n.key);
      else expect(nodes.get(n.id), n.id).toBe(g.collapsed.has(i) ? `${n.key} …` : n.type === 'history' ? `H${n.history === 'deep' ? '*' : ''}` : n.key);
    }
    const drawnEdges = groups.filter((x) => x.cls === 'edge');
    for (const e of g.edges) {
      const target = open(e.target) ? `${node(e.target).id}#initial` : node(e.target).id;
      if (e.source !== e.target && isAncestor(c, e.source, e.target)) {
        // A chart-wide transition: from a note in the cluster, never from the initial point.
        const from = `${node(e.source).id}#any>${node(e.target).id}`;
        expect(drawnEdges.map((x) => x.title), from).toContain(`${from}->${target}`);
        expect(nodes.get(from)).toBe(e.labels.map((l) => `from any state${e.source === scope.root ? '' : ` of ${node(e.source).key}`}: ${l}`).join('\n'));
        expect(drawnEdges.map((x) => x.title)).not.toContain(`${node(e.source).id}#initial->${target}`);
        continue;
      }
      const source = open(e.source) ? `${node(e.source).id}#initial` : node(e.source).id;
      const drawn = drawnEdges.filter((x) => x.title === `${source}->${target}`).map((x) => x.lines.join('\n'));
      expect(drawn, `${source}->${target}: ${JSON.stringify(drawn)}`).toContain(e.labels.filter((l) => l !== '').join('\n'));
    }
  });

  it('vmm: thread.died comes from a note "from any state", not from the initial point', () => {
    const vmm = ACTOR_KINDS.find((k) => k.name === 'vmm')?.chart();
    if (!vmm) throw new Error('no vmm chart');
    const edges = svgGroups(graphviz.dot(chartToDot(vmm))).filter((x) => x.cls === 'edge');
    expect(edges.filter((x) => x.title.endsWith('->vmm.dead')).map((x) => x.title)).toEqual(['vmm#any>vmm.dead->vmm.dead']);
  });
});
