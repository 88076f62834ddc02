/// <reference lib="dom" />
/** The drawing of one chart layout as SVG (chart-panel.ts): built once per layout, cloned into every panel. */
import type { ChartModel, ChartNode } from '../chart-model.js';
import { isSchedLabel, shortLabel, type ChartGeometry, type EdgePath, type NodeBox } from '../chart-layout.js';
import { s } from './dom.js';

export interface Layout {
  collapse: Set<number>;
  geometry: ChartGeometry;
}

/** The drawing of one layout, cloned into every panel. */
export class ChartDrawing {
  readonly svg: SVGGElement;
  /** For every chart node, the node drawn for it (itself, or the closed state hiding it). */
  readonly visibleOf: Int32Array;
  readonly boxes = new Map<number, NodeBox>();

  constructor(
    readonly chart: ChartModel,
    readonly layout: Layout,
  ) {
    const g = s('g', { class: 'chart' });
    this.visibleOf = new Int32Array(chart.nodes.length).fill(-1);
    for (const b of layout.geometry.nodes) this.boxes.set(b.index, b);
    for (const n of chart.nodes) {
      let v = n.index;
      // The innermost drawn ancestor stands for a hidden state.
      for (let a = n.index; a >= 0; a = (chart.nodes[a] as ChartNode).parent) if (this.boxes.has(a)) { v = a; break; }
      this.visibleOf[n.index] = this.boxes.has(v) ? v : -1;
    }
    const defs = s('defs');
    for (const kind of ['arrow', 'arrow-taken']) {
      const marker = s('marker', { id: `${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      marker.append(s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: kind }));
      defs.append(marker);
    }
    g.append(defs);
    const nodesLayer = s('g', { class: 'nodes' });
    const edgesLayer = s('g', { class: 'edges' });
    // Outer states first so inner ones paint over them.
    for (const b of [...layout.geometry.nodes].sort((a, c) => (chart.nodes[a.index] as ChartNode).depth - (chart.nodes[c.index] as ChartNode).depth)) {
      nodesLayer.append(this.drawNode(b));
    }
    for (const e of layout.geometry.edges) edgesLayer.append(this.drawEdge(e));
    g.append(nodesLayer, edgesLayer);
    this.svg = g;
  }

  private drawNode(b: NodeBox): SVGGElement {
    const n = this.chart.nodes[b.index] as ChartNode;
    const classes = ['state', n.type, b.open ? 'open' : 'leaf', b.closed ? 'closed' : '', ...n.tags.map((t) => `tag-${t}`)].filter(Boolean);
    const g = s('g', { class: classes.join(' '), 'data-i': b.index, transform: `translate(${b.x},${b.y})` });
    const tip = [n.path || '(machine)', n.description ?? '', n.tags.length ? `tags: ${n.tags.join(', ')}` : '', b.closed ? 'closed: click to open' : b.open && b.index !== 0 ? 'click the title to close' : '']
      .filter(Boolean)
      .join('\n');
    g.append(s('title', {}, tip));
    g.append(s('rect', { class: 'box', width: b.width, height: b.height, rx: b.open ? 8 : 6 }));
    if (n.type === 'final' && !b.open) g.append(s('rect', { class: 'final-inner', x: 3, y: 3, width: Math.max(0, b.width - 6), height: Math.max(0, b.height - 6), rx: 4 }));
    if (b.open) {
      g.append(s('rect', { class: 'header', width: b.width, height: 20, rx: 8 }));
      g.append(s('text', { class: 'title', x: 8, y: 14 }, n.type === 'parallel' ? `${n.key} ∥` : n.key));
    } else {
      g.append(s('text', { class: 'label', x: b.width / 2, y: b.height / 2 + 4, 'text-anchor': 'middle' }, b.closed ? `${n.key} ▸` : n.key));
    }
    return g;
  }

  private drawEdge(e: EdgePath): SVGGElement {
    const g = s('g', { class: `edge ${e.kinds.every((k) => k === 'always') ? 'always' : ''}`, 'data-e': `${e.source}>${e.target}` });
    const d = e.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    g.append(s('title', {}, e.labels.map((l) => l || '(always)').join('\n')));
    g.append(s('path', { d, 'marker-end': 'url(#arrow)' }));
    if (e.label) {
      // Scheduler events (`sched.task`…) label most edges and say little: drawn only when asked
      // (the view's `show-sched` class), the other names of the edge always.
      const all = shortLabel(e.labels) || '[…]';
      const plain = shortLabel(e.labels, false);
      const at = { x: e.label.x, y: e.label.y + 9 };
      if (!e.labels.some(isSchedLabel)) g.append(s('text', { class: 'edge-label', ...at }, all));
      else {
        g.append(s('text', { class: 'edge-label sched-on', ...at }, all));
        if (plain) g.append(s('text', { class: 'edge-label sched-off', ...at }, plain));
      }
    }
    return g;
  }
}
