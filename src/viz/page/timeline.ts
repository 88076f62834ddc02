/// <reference lib="dom" />
/**
 * The scrubber: the whole run on one strip, with faults, console lines, WARNs, scripted actions and
 * failed properties marked, message deliveries as a band coloured by mode, and the current position.
 * Drag or click to move. The x axis is either trace order or virtual time: a race happens within
 * microseconds and a crash kernel's mdelay(10) takes milliseconds, so neither scale serves alone,
 * and both zoom: the wheel zooms around the pointer, Shift+drag zooms to the stretch dragged over,
 * a double-click shows the whole run again. The legend names each colour; clicking an entry hides
 * or shows those marks, and "shown CPUs" keeps only the marks of the CPUs the viewer shows.
 */
import { type Mark, type TraceModel, formatNs, kindCode, messageClass, upperBound } from '../trace-model.js';

import { h, perFrame } from './dom.js';

const STEP = kindCode('step');

const MARK_COLOURS: Record<Mark['kind'], string> = {
  bug: '#d62828',
  fault: '#f08c00',
  warn: '#e8590c',
  console: '#868e96',
  script: '#1c7ed6',
  kernel: '#ae3ec9',
  reset: '#212529',
  kexec: '#212529',
  violation: '#c92a2a',
  noreturn: '#5f3dc4',
};

const MODE_COLOURS: Record<string, string> = { nmi: '#e03131', ipi: '#1971c2', init: '#f08c00', sipi: '#2f9e44', smi: '#9c36b5', other: '#868e96' };

const MARK_NAMES: Record<Mark['kind'], string> = {
  violation: 'violation',
  bug: 'BUG',
  fault: 'fault',
  warn: 'WARN / panic',
  console: 'console',
  script: 'scripted action',
  kernel: 'kernel event',
  reset: 'reset',
  kexec: 'kexec',
  noreturn: 'point of no return',
};
const MODE_NAMES: Record<string, string> = { nmi: 'NMI', ipi: 'IPI', init: 'INIT', sipi: 'SIPI', smi: 'SMI', other: 'other' };

/** The visible stretch of the axis, as fractions of the whole run. */
export interface TimelineView {
  lo: number;
  hi: number;
}

export class Timeline {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly label: HTMLElement;
  private base: ImageData | null = null;
  private pos = 0;
  private scale: 'order' | 'time' = 'order';
  /** The stretch of the axis on screen (zoom). */
  view: TimelineView = { lo: 0, hi: 1 };
  /** Mark kinds and delivery modes hidden from the strip (legend toggles). */
  private readonly hidden = new Set<string>();
  /** When set, only marks and deliveries of these CPUs are drawn. */
  private cpus: Set<number> | null = null;
  private shownCpus: number[] = [];
  private readonly schedule = perFrame(() => this.draw());
  private readonly maxNs: number;
  private brush: { from: number; to: number } | null = null;
  /** The points of no return (explore's `noreturn` records), as elements over the strip: a title to read, a target to click. */
  private readonly pointers: { mark: Mark; el: HTMLElement }[];

  constructor(
    private readonly model: TraceModel,
    private readonly jump: (i: number) => void,
  ) {
    this.canvas = h('canvas', { class: 'timeline-canvas', height: 46 });
    this.label = h('span', { class: 'timeline-scale' });
    const toggle = h('button', { class: 'small axis', title: 'x axis: trace order or virtual time', text: 'axis: order' });
    toggle.addEventListener('click', () => {
      // Keep the same records on screen across the switch.
      const a = this.recordAt(0);
      const b = this.recordAt(1);
      this.scale = this.scale === 'order' ? 'time' : 'order';
      toggle.textContent = `axis: ${this.scale === 'order' ? 'order' : 'time'}`;
      this.view = this.view.lo === 0 && this.view.hi === 1 ? { lo: 0, hi: 1 } : this.clampView(this.full(a), Math.max(this.full(b), this.full(a) + this.minSpan()));
      this.redraw();
    });
    const reset = h('button', { class: 'small zoom-reset', title: 'show the whole run (double-click the strip)', text: 'whole run' });
    reset.addEventListener('click', () => this.resetZoom());
    const cpusOnly = h('input', { type: 'checkbox', class: 'shown-only' });
    cpusOnly.addEventListener('change', () => {
      this.cpus = cpusOnly.checked ? new Set(this.shownCpus) : null;
      this.redraw();
    });
    this.pointers = model.marks
      .filter((m) => m.kind === 'noreturn')
      .map((mark) => {
        const el = h('button', { class: 'noreturn-mark', 'data-at': mark.at, 'data-property': mark.property ?? '', title: `line ${mark.at + 1}: ${mark.text}` });
        el.addEventListener('click', () => this.jump(mark.at));
        return { mark, el };
      });
    this.el = h(
      'div',
      { class: 'timeline' },
      h('div', { class: 'timeline-strip' }, this.canvas, ...this.pointers.map((p) => p.el)),
      h(
        'div',
        { class: 'timeline-foot' },
        this.label,
        h('span', { class: 'spacer' }),
        this.legend(),
        h('label', { class: 'shown-cpus', title: 'only the marks and messages of the CPUs shown below' }, cpusOnly, 'shown CPUs'),
        reset,
        toggle,
      ),
    );
    this.maxNs = model.count > 0 ? (model.ns[model.count - 1] as number) : 0;
    new ResizeObserver(() => this.redraw()).observe(this.canvas);
    let dragging = false;
    const fraction = (ev: PointerEvent | MouseEvent) => {
      const r = this.canvas.getBoundingClientRect();
      return Math.min(1, Math.max(0, (ev.clientX - r.left) / Math.max(1, r.width)));
    };
    this.canvas.addEventListener('pointerdown', (ev) => {
      this.canvas.setPointerCapture(ev.pointerId);
      if (ev.shiftKey) {
        const f = fraction(ev);
        this.brush = { from: f, to: f };
        return;
      }
      dragging = true;
      this.jump(this.recordAt(fraction(ev)));
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (this.brush) {
        this.brush.to = fraction(ev);
        this.schedule();
      } else if (dragging) this.jump(this.recordAt(fraction(ev)));
      else this.hover(ev);
    });
    this.canvas.addEventListener('pointerup', () => {
      dragging = false;
      const b = this.brush;
      this.brush = null;
      if (b && Math.abs(b.to - b.from) * (this.canvas.clientWidth || 800) >= 3) {
        const span = this.view.hi - this.view.lo;
        this.view = this.clampView(this.view.lo + Math.min(b.from, b.to) * span, this.view.lo + Math.max(b.from, b.to) * span);
        this.redraw();
      } else this.schedule();
    });
    this.canvas.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      this.zoom(fraction(ev), Math.exp(Math.max(-5, Math.min(5, ev.deltaY * 0.002))));
    }, { passive: false });
    this.canvas.addEventListener('dblclick', () => this.resetZoom());
  }

  /** The legend: one entry per mark kind and delivery mode the trace has; a click hides or shows them. */
  private legend(): HTMLElement {
    const kinds = new Set<string>(this.model.marks.map((m) => m.kind));
    const modes = new Set<string>(this.model.deliveries.map((d) => messageClass(d.mode)));
    const entry = (key: string, colour: string, name: string) => {
      const item = h('button', { class: 'legend-item', 'data-key': key, title: `hide or show: ${name}` }, h('span', { class: 'swatch', style: `background:${colour}` }), name);
      item.addEventListener('click', () => {
        if (this.hidden.has(key)) this.hidden.delete(key);
        else this.hidden.add(key);
        item.classList.toggle('off', this.hidden.has(key));
        this.redraw();
      });
      return item;
    };
    return h(
      'span',
      { class: 'legend' },
      ...(Object.keys(MARK_COLOURS) as Mark['kind'][]).filter((k) => kinds.has(k)).map((k) => entry(k, MARK_COLOURS[k], MARK_NAMES[k])),
      ...Object.keys(MODE_COLOURS).filter((m) => modes.has(m)).map((m) => entry(`mode-${m}`, MODE_COLOURS[m] as string, MODE_NAMES[m] ?? m)),
    );
  }

  /** The CPUs the viewer shows (for "shown CPUs"). */
  setShownCpus(cpus: readonly number[]): void {
    this.shownCpus = [...cpus];
    if (this.cpus) {
      this.cpus = new Set(cpus);
      this.redraw();
    }
  }

  /** Zooms by `factor` (below 1: in) keeping the point at fraction `f` of the strip where it is. */
  zoom(f: number, factor: number): void {
    const span = this.view.hi - this.view.lo;
    const anchor = this.view.lo + f * span;
    const next = Math.min(1, Math.max(this.minSpan(), span * factor));
    this.view = this.clampView(anchor - f * next, anchor - f * next + next);
    this.redraw();
  }

  /** Zooms around the current position (keys + and -). */
  zoomAtPosition(factor: number): void {
    const span = this.view.hi - this.view.lo;
    const f = Math.min(1, Math.max(0, (this.full(this.pos) - this.view.lo) / span));
    this.zoom(f, factor);
  }

  resetZoom(): void {
    this.view = { lo: 0, hi: 1 };
    this.redraw();
  }

  private redraw(): void {
    this.base = null;
    this.schedule();
  }

  /** The narrowest stretch worth showing: a few records, or one nanosecond. */
  private minSpan(): number {
    if (this.scale === 'order') return Math.min(1, 4 / Math.max(1, this.model.count - 1));
    return this.maxNs > 0 ? Math.min(1, 1 / this.maxNs) : 1;
  }

  private clampView(lo: number, hi: number): TimelineView {
    let span = Math.min(1, Math.max(this.minSpan(), hi - lo));
    if (!Number.isFinite(span)) span = 1;
    const a = Math.min(1 - span, Math.max(0, lo));
    return { lo: a, hi: a + span };
  }

  /** Record i's place on the whole axis, from 0 to 1. */
  private full(i: number): number {
    if (this.scale === 'order') return i / Math.max(1, this.model.count - 1);
    return this.maxNs > 0 ? (this.model.ns[i] as number) / this.maxNs : 0;
  }

  /** Fraction of the strip → record index. */
  recordAt(f: number): number {
    const x = this.view.lo + Math.min(1, Math.max(0, f)) * (this.view.hi - this.view.lo);
    if (this.scale === 'order') return Math.round(x * (this.model.count - 1));
    return Math.max(0, upperBound(this.model.ns, x * this.maxNs) - 1);
  }

  private xOf(i: number, width: number): number {
    return ((this.full(i) - this.view.lo) / (this.view.hi - this.view.lo)) * width;
  }

  private hover(ev: PointerEvent): void {
    const r = this.canvas.getBoundingClientRect();
    const f = (ev.clientX - r.left) / Math.max(1, r.width);
    const i = this.recordAt(f);
    const px = 3 / Math.max(1, r.width);
    const lo = this.recordAt(f - px);
    const hi = this.recordAt(f + px);
    const near = this.model.marks.filter((m) => m.at >= lo && m.at <= hi && this.markShown(m)).slice(0, 4);
    const what = near.map((m) => `${m.cpu >= 0 ? `CPU${m.cpu}: ` : ''}${m.text}`).join('\n');
    this.canvas.title = `line ${i + 1} · t=${formatNs(this.model.ns[i] as number)} s${what ? `\n${what}` : ''}\n(wheel: zoom · Shift+drag: zoom to a stretch · double-click: whole run)`;
  }

  private markShown(m: Mark): boolean {
    return !this.hidden.has(m.kind) && (this.cpus === null || m.cpu < 0 || this.cpus.has(m.cpu));
  }

  setPosition(i: number): void {
    this.pos = i;
    this.schedule();
  }

  private drawBase(ctx: CanvasRenderingContext2D, width: number, height: number): void {
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = '#f1f3f5';
    ctx.fillRect(0, 0, width, height);
    const inView = (x: number) => x >= -1 && x <= width + 1;
    // Deliveries: one column per pixel, the colour of the mode seen most there.
    const bins = new Map<number, Map<string, number>>();
    for (const d of this.model.deliveries) {
      if (d.at < 0) continue;
      const c = messageClass(d.mode);
      if (this.hidden.has(`mode-${c}`) || (this.cpus !== null && !this.cpus.has(d.cpu))) continue;
      const x = Math.floor(this.xOf(d.at, width));
      if (!inView(x)) continue;
      const bin = bins.get(x) ?? new Map<string, number>();
      bin.set(c, (bin.get(c) ?? 0) + 1);
      bins.set(x, bin);
    }
    for (const [x, bin] of bins) {
      const [mode] = [...bin.entries()].sort((a, b) => b[1] - a[1])[0] as [string, number];
      ctx.fillStyle = MODE_COLOURS[mode] ?? '#868e96';
      ctx.fillRect(x, height - 12, 2, 10);
    }
    // Step density, so the busy stretches show.
    const stepBins = new Float32Array(Math.max(1, Math.ceil(width)));
    for (let i = 0; i < this.model.count; i++) {
      if (this.model.kinds[i] !== STEP) continue;
      if (this.cpus !== null && !this.cpus.has(this.model.cpuOf[i] as number)) continue;
      const x = Math.floor(this.xOf(i, width));
      if (x < 0 || x >= stepBins.length) continue;
      stepBins[x] = (stepBins[x] as number) + 1;
    }
    let peak = 1;
    for (const v of stepBins) if (v > peak) peak = v;
    ctx.fillStyle = '#ced4da';
    for (let x = 0; x < stepBins.length; x++) {
      const v = stepBins[x] as number;
      if (v > 0) {
        const hgt = 4 + (v / peak) * 14;
        ctx.fillRect(x, height - 14 - hgt, 1, hgt);
      }
    }
    for (const m of this.model.marks) {
      if (!this.markShown(m)) continue;
      const x = Math.floor(this.xOf(m.at, width));
      if (!inView(x)) continue;
      ctx.fillStyle = MARK_COLOURS[m.kind];
      if (m.kind === 'noreturn') {
        // The whole height: everything right of it is sealed.
        ctx.fillRect(x, 0, 2, height);
        continue;
      }
      const tall = m.kind === 'bug' || m.kind === 'violation' || m.kind === 'warn' || m.kind === 'fault';
      ctx.fillRect(x, 2, tall ? 3 : 2, tall ? 18 : 10);
    }
    for (const p of this.pointers) {
      const x = this.xOf(p.mark.at, width);
      p.el.hidden = !this.markShown(p.mark) || x < -1 || x > width + 1;
      p.el.style.left = `${(x / Math.max(1, width)) * 100}%`;
    }
  }

  private draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth || 800;
    const height = 46;
    if (!this.base || this.canvas.width !== Math.round(width * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      const ctx = this.canvas.getContext('2d') as CanvasRenderingContext2D;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.drawBase(ctx, width, height);
      this.base = ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    }
    const ctx = this.canvas.getContext('2d') as CanvasRenderingContext2D;
    ctx.putImageData(this.base, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const x = Math.min(width + 2, Math.max(-2, this.xOf(this.pos, width)));
    ctx.fillStyle = 'rgba(28,126,214,0.12)';
    ctx.fillRect(0, 0, Math.max(0, x), height);
    ctx.fillStyle = '#1c7ed6';
    ctx.fillRect(Math.max(0, x - 1), 0, 2, height);
    if (this.brush) {
      ctx.fillStyle = 'rgba(240,140,0,0.25)';
      ctx.fillRect(Math.min(this.brush.from, this.brush.to) * width, 0, Math.abs(this.brush.to - this.brush.from) * width, height);
    }
    const first = this.recordAt(0);
    const last = this.recordAt(1);
    const zoomed = this.view.lo > 0 || this.view.hi < 1;
    const factor = 1 / (this.view.hi - this.view.lo);
    const zoomText = zoomed ? ` · zoom ×${factor >= 100 ? Math.round(factor).toLocaleString('en') : factor.toFixed(1)}` : '';
    if (this.scale === 'order') {
      this.label.textContent = `records ${first + 1} … ${last + 1} of ${this.model.count} (t ${formatNs(this.model.ns[first] as number)} … ${formatNs(this.model.ns[last] as number)} s)${zoomText}`;
    } else {
      const a = this.view.lo * this.maxNs;
      const b = this.view.hi * this.maxNs;
      this.label.textContent = `virtual time ${formatNs(Math.floor(a))} … ${formatNs(Math.ceil(b))} s (${spanText(b - a)})${zoomText}`;
    }
  }
}

/** A stretch of virtual time in the unit that reads best. */
function spanText(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(ns < 10 ? 1 : 0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}
