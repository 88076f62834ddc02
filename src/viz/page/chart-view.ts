/// <reference lib="dom" />
/**
 * One zoomable, pannable view of a chart drawing (chart-panel.ts), following one region's active state; and the
 * parts CPU and guest panels share: a state path as wrapping text, and a panel's header.
 */
import { fitScale, MIN_TEXT_PX, STATE_FONT_PX } from '../chart-layout.js';
import { h, s } from './dom.js';
import type { ChartDrawing } from './chart-drawing.js';

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
