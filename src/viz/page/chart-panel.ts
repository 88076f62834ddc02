/// <reference lib="dom" />
/**
 * One actor instance's chart: the shared layout drawn as SVG, with that CPU's active states lit at
 * the current record. Zoom with the wheel, pan by dragging, click a compound state's title (or a
 * closed one) to close or open it; "fit" asks the viewer for an overview laid out to be legible in
 * the panel. The drawing is built once per layout and cloned per panel; moving to another record
 * only toggles classes on the states that changed.
 */
import { nodeAtPath, type ChartModel, type ChartNode } from '../chart-model.js';
import { fitScale, isSchedLabel, MIN_TEXT_PX, shortLabel, STATE_FONT_PX, type ChartGeometry, type EdgePath, type NodeBox } from '../chart-layout.js';
import { NO_LEAVES, type TraceModel } from '../trace-model.js';
import { h, s } from './dom.js';

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

export interface PanelHost {
  model: TraceModel;
  toggle(node: number): void;
  remove(cpu: number): void;
  /** Lays out an overview that fits this panel's views, then fits them to it. */
  overview(panel: ChartPanel): void;
}

/** The view's caption covers its top left: a state is centred in the room below it. */
const CAPTION_H = 26;

/** One zoomable view of the drawing, following one region's active state. */
export class ChartView {
  readonly el: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly viewport: SVGGElement;
  private readonly caption: HTMLElement;
  private drawing: ChartDrawing | null = null;
  private nodeEls = new Map<number, SVGGElement>();
  private edgeEls = new Map<string, SVGGElement>();
  private lit = new Map<number, string>();
  private taken: SVGGElement | null = null;
  private tx = 0;
  private ty = 0;
  private k = 1;
  private placed = false;
  private dragged = false;
  /** The state this view keeps in sight. */
  target = -1;
  /** A new layout moved every state: bring the target back in sight on the next show. */
  private relaid = false;

  constructor(
    private readonly id: string,
    private readonly onToggle: (node: number) => void,
  ) {
    this.svg = s('svg', { class: 'chart-svg' });
    this.viewport = s('g', { class: 'viewport' });
    this.svg.append(this.viewport);
    this.caption = h('span', { class: 'view-caption' });
    this.el = h('div', { class: 'chart-view' }, this.svg, this.caption);
    this.wireZoom();
    // A view that gets narrower (a second region's view opened beside it) re-centres its state.
    let width = 0;
    new ResizeObserver(() => {
      const w = this.svg.getBoundingClientRect().width;
      if (this.placed && Math.abs(w - width) > 1) this.focus(false);
      width = w;
    }).observe(this.svg);
    this.svg.addEventListener('click', (ev) => {
      if (this.dragged) return;
      const hit = ev.target as Element;
      const target = hit.closest('g.state') as SVGGElement | null;
      if (!target) return;
      const i = Number(target.getAttribute('data-i'));
      const onTitle = hit.classList.contains('header') || hit.classList.contains('title');
      if (target.classList.contains('closed') || (target.classList.contains('open') && onTitle && i !== 0)) this.onToggle(i);
    });
  }

  setCaption(text: string, onTop: boolean): void {
    this.caption.textContent = text;
    this.caption.classList.toggle('on-top', onTop);
  }

  setDrawing(drawing: ChartDrawing): void {
    this.drawing = drawing;
    const copy = drawing.svg.cloneNode(true) as SVGGElement;
    // Marker ids must be unique in the document: give this view its own.
    for (const m of copy.querySelectorAll('marker')) m.id = `${m.id}-${this.id}`;
    for (const p of copy.querySelectorAll('path[marker-end]')) p.setAttribute('marker-end', `url(#arrow-${this.id})`);
    this.viewport.replaceChildren(copy);
    this.nodeEls.clear();
    this.edgeEls.clear();
    for (const g of copy.querySelectorAll<SVGGElement>('g.state')) this.nodeEls.set(Number(g.getAttribute('data-i')), g);
    for (const g of copy.querySelectorAll<SVGGElement>('g.edge')) this.edgeEls.set(g.getAttribute('data-e') as string, g);
    this.lit.clear();
    this.taken = null;
    this.relaid = this.placed;
  }

  /** Whether a new layout came since the last call (and the target must be brought in sight). */
  takeRelaid(): boolean {
    const r = this.relaid;
    this.relaid = false;
    return r;
  }

  light(next: Map<number, string>, taken: string | null): void {
    for (const [n, cls] of this.lit) if (next.get(n) !== cls) this.nodeEls.get(n)?.classList.remove(...cls.split(' '));
    for (const [n, cls] of next) if (this.lit.get(n) !== cls) this.nodeEls.get(n)?.classList.add(...cls.split(' '));
    this.lit = next;
    const e = taken ? (this.edgeEls.get(taken) ?? null) : null;
    if (e !== this.taken) {
      this.taken?.classList.remove('taken');
      e?.classList.add('taken');
      this.taken = e;
    }
  }

  private apply(): void {
    this.viewport.setAttribute('transform', `translate(${this.tx.toFixed(1)},${this.ty.toFixed(1)}) scale(${this.k.toFixed(4)})`);
  }

  private size(): { width: number; height: number } {
    const r = this.svg.getBoundingClientRect();
    return { width: r.width || 600, height: r.height || 400 };
  }

  /** The view's size in pixels. */
  get box(): { width: number; height: number } {
    return this.size();
  }

  /** Shows or hides the scheduler events' edge labels. */
  showSched(on: boolean): void {
    this.el.classList.toggle('show-sched', on);
  }

  /**
   * The whole chart in view, unless its text would be smaller than MIN_TEXT_PX: then at the
   * smallest zoom that keeps it legible, centred on the active state.
   */
  fit(): void {
    const g = this.drawing?.layout.geometry;
    if (!g) return;
    const { width, height } = this.size();
    const minK = MIN_TEXT_PX / STATE_FONT_PX;
    const k = Math.min(fitScale(g, width, height), 1.5);
    this.placed = true;
    if (k >= minK) {
      this.k = k;
      this.tx = (width - g.width * this.k) / 2;
      this.ty = (height - g.height * this.k) / 2;
      this.apply();
      return;
    }
    this.k = minK;
    const box = this.drawing?.boxes.get(this.target);
    const cx = box ? box.x + box.width / 2 : g.width / 2;
    const cy = box ? box.y + box.height / 2 : g.height / 2;
    this.tx = width / 2 - cx * this.k;
    this.ty = (height + CAPTION_H) / 2 - cy * this.k;
    this.apply();
  }

  /** Brings the target into view: centred at a readable zoom, or (`pan`) only when it is off screen. */
  focus(pan: boolean): void {
    const box = this.drawing?.boxes.get(this.target);
    if (!box) return;
    const { width, height } = this.size();
    if (!this.placed || !pan) {
      this.placed = true;
      this.k = 1;
    } else {
      const sx = box.x * this.k + this.tx;
      const sy = box.y * this.k + this.ty;
      const margin = 24;
      if (sx >= margin && sy >= margin && sx + box.width * this.k <= width - margin && sy + box.height * this.k <= height - margin) return;
    }
    this.tx = width / 2 - (box.x + box.width / 2) * this.k;
    this.ty = (height + CAPTION_H) / 2 - (box.y + box.height / 2) * this.k;
    this.apply();
  }

  private wireZoom(): void {
    this.svg.addEventListener(
      'wheel',
      (ev) => {
        ev.preventDefault();
        const r = this.svg.getBoundingClientRect();
        const px = ev.clientX - r.left;
        const py = ev.clientY - r.top;
        const k = Math.max(0.05, Math.min(4, this.k * Math.exp(-ev.deltaY * 0.0015)));
        this.tx = px - ((px - this.tx) * k) / this.k;
        this.ty = py - ((py - this.ty) * k) / this.k;
        this.k = k;
        this.apply();
      },
      { passive: false },
    );
    let start: { x: number; y: number; tx: number; ty: number } | null = null;
    this.svg.addEventListener('pointerdown', (ev) => {
      start = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty };
      this.dragged = false;
    });
    this.svg.addEventListener('pointermove', (ev) => {
      if (!start) return;
      const dx = ev.clientX - start.x;
      const dy = ev.clientY - start.y;
      if (!this.dragged && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!this.dragged) this.svg.setPointerCapture(ev.pointerId);
      this.dragged = true;
      this.tx = start.tx + dx;
      this.ty = start.ty + dy;
      this.apply();
    });
    const end = () => {
      start = null;
    };
    this.svg.addEventListener('pointerup', end);
    this.svg.addEventListener('pointercancel', end);
  }
}

/** A state path that wraps after its dots when the panel is narrow, whole in its tooltip. */
export function pathText(path: string): HTMLElement {
  const parts = path.split('.');
  const el = h('span', { class: 'path', title: path });
  parts.forEach((p, k) => {
    el.append(k < parts.length - 1 ? `${p}.` : p);
    if (k < parts.length - 1) el.append(h('wbr'));
  });
  return el;
}

/**
 * A panel's header: its name and status, the follow box, and focus / fit / hide over its chart
 * views (a CPU panel has one view per busy region, a guest panel one).
 */
export function panelHead(
  label: string,
  status: HTMLElement,
  hooks: {
    views: () => Iterable<ChartView>;
    plural: boolean;
    follow: (on: boolean) => void;
    remove: () => void;
    /** What `fit` does, if not fitting each view to the layout it has. */
    fit?: () => void;
    /** Shows or hides the scheduler events' edge labels; no toggle without it. */
    sched?: (on: boolean) => void;
  },
): HTMLElement {
  const followBox = h('input', { type: 'checkbox', checked: true });
  followBox.addEventListener('change', () => {
    hooks.follow(followBox.checked);
    if (followBox.checked) for (const v of hooks.views()) v.focus(true);
  });
  const btn = (text: string, title: string, fn: () => void) => {
    const b = h('button', { class: 'small', title, text });
    b.addEventListener('click', fn);
    return b;
  };
  const states = hooks.plural ? 'states' : 'state';
  let schedToggle: HTMLElement | null = null;
  if (hooks.sched) {
    const set = hooks.sched;
    const box = h('input', { type: 'checkbox', class: 'sched-box' });
    box.addEventListener('change', () => set(box.checked));
    schedToggle = h('label', { class: 'follow sched-toggle', title: 'label the edges with the scheduler events (sched.task, sched.nmi…) too' }, box, 'sched.*');
  }
  return h(
    'header',
    { class: 'panel-head' },
    h('strong', { text: label }),
    status,
    h('span', { class: 'spacer' }),
    schedToggle,
    h('label', { class: 'follow', title: `keep the active ${states} in view` }, followBox, 'follow'),
    btn('focus', hooks.plural ? 'centre each view on its active state' : 'centre the view on the active state', () => {
      for (const v of hooks.views()) v.focus(false);
    }),
    btn(
      'fit',
      hooks.fit ? 'an overview: the chart closed at the depth where its text still reads, the active path open; click a closed state to open it' : 'show the whole chart',
      hooks.fit ??
        (() => {
          for (const v of hooks.views()) v.fit();
        }),
    ),
    btn('×', `hide ${label}`, hooks.remove),
  );
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
