/// <reference lib="dom" />
/**
 * One actor instance's chart: the shared layout drawn as SVG, with that CPU's active states lit at
 * the current record. Zoom with the wheel, pan by dragging, click a compound state's title (or a
 * closed one) to close or open it; "fit" asks the viewer for an overview laid out to be legible in
 * the panel. The drawing is built once per layout and cloned per panel; moving to another record
 * only toggles classes on the states that changed.
 *
 * The drawing is in chart-drawing.ts, a view and a panel's header in chart-view.ts; both are re-exported here.
 */
import { nodeAtPath, type ChartNode } from '../chart-model.js';
import { NO_LEAVES, type TraceModel } from '../trace-model.js';
import { h } from './dom.js';
import { ChartDrawing, type Layout } from './chart-drawing.js';
import { ChartView, panelHead, pathText } from './chart-view.js';

export { ChartDrawing, ChartView, panelHead, pathText, type Layout };

export interface PanelHost {
  model: TraceModel;
  toggle(node: number): void;
  remove(cpu: number): void;
  /** Lays out an overview that fits this panel's views, then fits them to it. */
  overview(panel: ChartPanel): void;
}

/**
 * A CPU's panel: the active path of every region as text, and one view of the chart per region
 * that is not idle (the interrupted task beside the NMI handler that interrupted it), each
 * following its region's state.
 */
export class ChartPanel {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private readonly paths: HTMLElement;
  private readonly viewsEl: HTMLElement;
  private readonly views = new Map<number, ChartView>();
  private drawing: ChartDrawing | null = null;
  private follow = true;
  private sched = false;
  /** The active leaf of each region that has a view. */
  private leaves: number[] = [];

  constructor(
    readonly cpu: number,
    private readonly host: PanelHost,
  ) {
    this.status = h('span', { class: 'panel-status' });
    this.paths = h('div', { class: 'panel-paths' });
    this.viewsEl = h('div', { class: 'chart-box' });
    this.el = h(
      'section',
      { class: 'panel', 'data-cpu': cpu },
      panelHead(`CPU${cpu}`, this.status, {
        views: () => this.views.values(),
        plural: true,
        follow: (on) => (this.follow = on),
        remove: () => host.remove(cpu),
        fit: () => host.overview(this),
        sched: (on) => {
          this.sched = on;
          for (const v of this.views.values()) v.showSched(on);
        },
      }),
      this.paths,
      this.viewsEl,
    );
  }

  setDrawing(drawing: ChartDrawing): void {
    this.drawing = drawing;
    for (const v of this.views.values()) v.setDrawing(drawing);
  }

  /** The states an overview keeps open the way to: each view's active leaf. */
  activeLeaves(): number[] {
    return [...this.leaves];
  }

  /** The smallest width and height among this panel's views. */
  viewBox(): { width: number; height: number } {
    const boxes = [...this.views.values()].map((v) => v.box);
    if (boxes.length === 0) return { width: 600, height: 400 };
    return { width: Math.min(...boxes.map((b) => b.width)), height: Math.min(...boxes.map((b) => b.height)) };
  }

  /** Fits every view to the drawing; `overview` tells the page (and its tests) which overview it is. */
  fitViews(overview?: { depth: number; fits: boolean }): void {
    for (const v of this.views.values()) v.fit();
    if (overview) {
      this.el.dataset.overviewDepth = String(overview.depth);
      this.el.dataset.overviewFits = String(overview.fits);
    }
  }

  /** Lights the states of this CPU after record `i`. */
  show(i: number): void {
    const model = this.host.model;
    const drawing = this.drawing;
    if (!drawing) return;
    const chart = model.chart;
    const at = model.cpuAt(this.cpu, i);
    const next = new Map<number, string>();
    const lines: HTMLElement[] = [];
    /** Regions that get a view: the one on top, and every other that is not idle. */
    const busy: { slot: number; leaf: number }[] = [];
    at.leaves.forEach((leaf, slot) => {
      if (leaf < 0) return;
      const node = chart.nodes[leaf] as ChartNode;
      if (node.type === 'parallel') return;
      const onTop = slot === at.onTop;
      const idle = model.isInitialLeaf(slot, leaf);
      if (onTop || !idle) busy.push({ slot, leaf });
      const v = drawing.visibleOf[leaf] as number;
      const cls = onTop ? 'lit' : 'lit-idle';
      if (v >= 0 && next.get(v) !== 'lit') next.set(v, cls);
      for (let a = node.parent; a >= 0; a = (chart.nodes[a] as ChartNode).parent) {
        const va = drawing.visibleOf[a] as number;
        if (va >= 0 && va !== v && !next.has(va)) next.set(va, 'lit-path');
      }
      const region = slot === 0 ? 'cpu' : (model.slotNames[slot] ?? '?');
      lines.push(
        h(
          'div',
          { class: `path-line${onTop ? ' on-top' : idle ? ' idle' : ' busy'}`, title: node.description ?? '' },
          h('span', { class: 'region', text: region }),
          pathText(node.path),
          onTop && slot !== 0 ? h('span', { class: 'exec-tag', text: 'executing' }) : null,
        ),
      );
    });
    this.paths.replaceChildren(...lines);
    this.status.textContent = !model.hasLeaves ? NO_LEAVES : at.onTop === 0 ? 'outside the kernel' : `${model.slotNames[at.onTop] ?? '?'} context on top`;
    // The transition this record took, if it was this CPU's step.
    let taken: string | null = null;
    if (model.kind(i) === 'step' && model.cpuOf[i] === this.cpu) {
      const r = model.record(i) as { from: string; to: string };
      const from = nodeAtPath(chart, r.from);
      const to = nodeAtPath(chart, r.to);
      if (from && to) taken = `${drawing.visibleOf[from.index]}>${drawing.visibleOf[to.index]}`;
    }
    this.leaves = busy.map((b) => b.leaf);
    const wanted = new Set(busy.map((b) => b.slot));
    for (const [slot, v] of this.views) {
      if (!wanted.has(slot)) {
        v.el.remove();
        this.views.delete(slot);
      }
    }
    for (const { slot, leaf } of busy) {
      let view = this.views.get(slot);
      const fresh = !view;
      if (!view) {
        view = new ChartView(`${this.cpu}-${slot}`, (n) => this.host.toggle(n));
        view.setDrawing(drawing);
        view.showSched(this.sched);
        this.views.set(slot, view);
      }
      const target = drawing.visibleOf[leaf] as number;
      const moved = view.target !== target;
      view.target = target;
      view.setCaption(slot === 0 ? 'cpu' : `${model.slotNames[slot] ?? '?'}${slot === at.onTop ? ' · executing' : ' · interrupted'}`, slot === at.onTop);
      view.light(next, taken);
      if (fresh) this.viewsEl.append(view.el);
      if (fresh) requestAnimationFrame(() => view.focus(false));
      else if (view.takeRelaid() || (this.follow && moved)) view.focus(true);
    }
    // Views in region order: the interrupted context left of the one that interrupted it.
    const order = [...this.views.keys()].sort((a, b) => a - b);
    if (order.some((slot, k) => this.viewsEl.children[k] !== this.views.get(slot)?.el)) this.viewsEl.replaceChildren(...order.map((slot) => (this.views.get(slot) as ChartView).el));
    this.viewsEl.dataset.count = String(order.length);
  }
}
