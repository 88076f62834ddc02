/// <reference lib="dom" />
/**
 * The scrubber: the whole run on one strip, with faults, console lines, WARNs, scripted actions and
 * failed properties marked, message deliveries as a band coloured by mode, and the current position.
 * Drag or click to move. The x axis is either trace order or virtual time: a race happens within
 * microseconds and a crash kernel's mdelay(10) takes milliseconds, so neither scale serves alone.
 */
import { type Mark, type TraceModel, formatNs, kindCode, messageClass, upperBound } from '../trace-model.js';

const STEP = kindCode('step');
import { h, perFrame } from './dom.js';

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
};

const MODE_COLOURS: Record<string, string> = { nmi: '#e03131', ipi: '#1971c2', init: '#f08c00', sipi: '#2f9e44', smi: '#9c36b5', other: '#868e96' };

export class Timeline {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly label: HTMLElement;
  private base: ImageData | null = null;
  private pos = 0;
  private scale: 'order' | 'time' = 'order';
  private readonly schedule = perFrame(() => this.draw());
  private readonly maxNs: number;

  constructor(
    private readonly model: TraceModel,
    private readonly jump: (i: number) => void,
  ) {
    this.canvas = h('canvas', { class: 'timeline-canvas', height: 46 });
    this.label = h('span', { class: 'timeline-scale' });
    const toggle = h('button', { class: 'small', title: 'x axis: trace order or virtual time', text: 'axis: order' });
    toggle.addEventListener('click', () => {
      this.scale = this.scale === 'order' ? 'time' : 'order';
      toggle.textContent = `axis: ${this.scale === 'order' ? 'order' : 'time'}`;
      this.base = null;
      this.schedule();
    });
    this.el = h('div', { class: 'timeline' }, this.canvas, h('div', { class: 'timeline-foot' }, this.label, h('span', { class: 'spacer' }), toggle));
    this.maxNs = model.count > 0 ? (model.ns[model.count - 1] as number) : 0;
    new ResizeObserver(() => {
      this.base = null;
      this.schedule();
    }).observe(this.canvas);
    let dragging = false;
    const go = (ev: PointerEvent) => {
      const r = this.canvas.getBoundingClientRect();
      this.jump(this.recordAt((ev.clientX - r.left) / Math.max(1, r.width)));
    };
    this.canvas.addEventListener('pointerdown', (ev) => {
      dragging = true;
      this.canvas.setPointerCapture(ev.pointerId);
      go(ev);
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (dragging) go(ev);
      else this.hover(ev);
    });
    this.canvas.addEventListener('pointerup', () => {
      dragging = false;
    });
  }

  /** Fraction of the strip → record index. */
  private recordAt(f: number): number {
    const x = Math.min(1, Math.max(0, f));
    if (this.scale === 'order') return Math.round(x * (this.model.count - 1));
    return Math.max(0, upperBound(this.model.ns, x * this.maxNs) - 1);
  }

  private xOf(i: number, width: number): number {
    if (this.scale === 'order') return (i / Math.max(1, this.model.count - 1)) * width;
    return this.maxNs > 0 ? ((this.model.ns[i] as number) / this.maxNs) * width : 0;
  }

  private hover(ev: PointerEvent): void {
    const r = this.canvas.getBoundingClientRect();
    const i = this.recordAt((ev.clientX - r.left) / Math.max(1, r.width));
    const px = 3 / Math.max(1, r.width);
    const lo = this.recordAt((ev.clientX - r.left) / r.width - px);
    const hi = this.recordAt((ev.clientX - r.left) / r.width + px);
    const near = this.model.marks.filter((m) => m.at >= lo && m.at <= hi).slice(0, 4);
    const what = near.map((m) => `${m.cpu >= 0 ? `CPU${m.cpu}: ` : ''}${m.text}`).join('\n');
    this.canvas.title = `line ${i + 1} · t=${formatNs(this.model.ns[i] as number)} s${what ? `\n${what}` : ''}`;
  }

  setPosition(i: number): void {
    this.pos = i;
    this.schedule();
  }

  private drawBase(ctx: CanvasRenderingContext2D, width: number, height: number): void {
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = '#f1f3f5';
    ctx.fillRect(0, 0, width, height);
    // Deliveries: one column per pixel, the colour of the mode seen most there.
    const bins = new Map<number, Map<string, number>>();
    for (const d of this.model.deliveries) {
      if (d.at < 0) continue;
      const x = Math.floor(this.xOf(d.at, width));
      const bin = bins.get(x) ?? new Map<string, number>();
      const c = messageClass(d.mode);
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
      const x = Math.min(stepBins.length - 1, Math.floor(this.xOf(i, width)));
      stepBins[x] = (stepBins[x] as number) + 1;
    }
    const peak = Math.max(1, ...stepBins);
    ctx.fillStyle = '#ced4da';
    for (let x = 0; x < stepBins.length; x++) {
      const v = stepBins[x] as number;
      if (v > 0) {
        const hgt = 4 + (v / peak) * 14;
        ctx.fillRect(x, height - 14 - hgt, 1, hgt);
      }
    }
    for (const m of this.model.marks) {
      const x = Math.floor(this.xOf(m.at, width));
      ctx.fillStyle = MARK_COLOURS[m.kind];
      const tall = m.kind === 'bug' || m.kind === 'violation' || m.kind === 'warn' || m.kind === 'fault';
      ctx.fillRect(x, 2, tall ? 3 : 2, tall ? 18 : 10);
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
    const x = this.xOf(this.pos, width);
    ctx.fillStyle = 'rgba(28,126,214,0.12)';
    ctx.fillRect(0, 0, x, height);
    ctx.fillStyle = '#1c7ed6';
    ctx.fillRect(Math.max(0, x - 1), 0, 2, height);
    const first = formatNs(0);
    const last = formatNs(this.maxNs);
    this.label.textContent = this.scale === 'order' ? `records 1 … ${this.model.count} (t ${first} … ${last} s)` : `virtual time ${first} … ${last} s`;
  }
}
