/// <reference lib="dom" />
/**
 * The message sequence chart: a lifeline per CPU, one row per send, delivery, fault, console line,
 * kernel event or scripted action, and an arrow from each send to each of its deliveries, coloured
 * by delivery mode. Rows are in trace order, not to scale in time (a 10 ms mdelay would otherwise
 * squash every race to one pixel). Only the rows in view are drawn, so the chart of a trace with
 * hundreds of thousands of records scrolls like a short one. A filter hides message classes (NMI,
 * IPI, INIT, SIPI, SMI) and row kinds (timers, console lines, …) and narrows the lifelines.
 */
import { type Delivery, type TraceModel, messageClass, messageName, upperBound } from '../trace-model.js';
import { h, s, perFrame } from './dom.js';
import { guestRow, guestSide, laneName, segmentDistance, type Lane } from './msc-rows.js';

const ROW_H = 20;
const PAD_X = 40;
/** Average width of a label character at the chart's font size, for cutting labels to their room. */
const CHAR_W = 6;
/** Lane spacing in the whole-trace SVG export. */
const EXPORT_LANE_W = 220;
/** The export's own styles (the page's stylesheet does not travel with the file). */
const EXPORT_CSS = [
  '.lane{font-weight:600;fill:#343a40}',
  '.lifeline{stroke:#adb5bd;stroke-dasharray:3 3}',
  '.arrow .shaft{stroke-width:1.4}.arrow .hit{stroke:transparent}',
  '.arrow.nmi .shaft{stroke:#e03131}.arrow.nmi .head{fill:#e03131}',
  '.arrow.ipi .shaft{stroke:#1971c2}.arrow.ipi .head{fill:#1971c2}',
  '.arrow.init .shaft{stroke:#f08c00}.arrow.init .head{fill:#f08c00}',
  '.arrow.sipi .shaft{stroke:#2f9e44}.arrow.sipi .head{fill:#2f9e44}',
  '.arrow.smi .shaft{stroke:#9c36b5}.arrow.smi .head{fill:#9c36b5}',
  '.arrow.other .shaft{stroke:#868e96}.arrow.other .head{fill:#868e96}',
  '.msc-event circle{fill:#495057}.msc-event text{fill:#343a40}',
  '.msc-event.bug circle,.msc-event.bug text{fill:#c92a2a;font-weight:700}',
  '.msc-event.fault circle{fill:#f08c00}.msc-event.kernel text{fill:#862e9c}',
  '.msc-event.console text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:10px}',
  '.ioctl-arrow{stroke:#5f3dc4;stroke-width:1.2}.ioctl-arrow.return{stroke-dasharray:4 3}.ioctl-head{fill:#5f3dc4}',
  '.ioctl-arrow.failed{stroke:#c92a2a}.ioctl-head.failed{fill:#c92a2a}.msc-event.ioctl circle{fill:#5f3dc4}.msc-event.vsock circle{fill:#0c8599}',
].join('');

export class SequenceChart {
  readonly el: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly lanesHead: HTMLElement;
  /** CPU numbers, 'platform', and the guest side's lanes (`vmm0`, `vsock0`, `worker0`). */
  private lanes: Lane[] = [];
  private laneX = new Map<Lane, number>();
  /** The guest side's lanes this trace has, and the records drawn on them (ioctls, packets, device states). */
  private readonly guestLanes: string[];
  private readonly guestRows: Int32Array;
  /** Record indices shown as rows (for the current lanes). */
  private rows = new Int32Array(0);
  private pos = 0;
  /** What the last drawing put where (chart coordinates), for hit-testing a click. */
  private arrows: { x1: number; y1: number; x2: number; y2: number; at: number }[] = [];
  private dots: { x: number; y: number }[] = [];
  /** The CPUs asked for by the viewer, before the chart's own lane filter. */
  private wanted: number[] = [];
  /** The chart's own lane filter (`null`: the viewer's CPUs). */
  private laneFilter: number[] | null = null;
  /** Message classes (nmi, ipi, …) and row kinds (timer, console, …) not drawn. */
  private hidden = new Set<string>();
  private readonly schedule = perFrame(() => this.render());

  constructor(
    private readonly model: TraceModel,
    private readonly jump: (i: number) => void,
  ) {
    const guest = guestSide(model);
    this.guestLanes = guest.lanes;
    this.guestRows = guest.rows;
    this.lanesHead = h('div', { class: 'msc-lanes' });
    this.svg = s('svg', { class: 'msc-svg' });
    this.spacer = h('div', { class: 'msc-spacer' });
    this.scroller = h('div', { class: 'msc-scroll' }, this.spacer, this.svg);
    this.el = h('div', { class: 'msc' }, this.lanesHead, this.scroller);
    this.scroller.addEventListener('scroll', this.schedule);
    new ResizeObserver(this.schedule).observe(this.scroller);
    this.svg.addEventListener('click', (ev) => {
      const r = this.svg.getBoundingClientRect();
      const at = this.hit(ev.clientX - r.left, ev.clientY - r.top + this.scroller.scrollTop);
      if (at !== null) {
        this.jump(at);
        return;
      }
      const t = (ev.target as Element).closest('[data-at]');
      if (t) this.jump(Number(t.getAttribute('data-at')));
    });
  }

  /**
   * The arrow under the pointer, if any (chart coordinates): an arrow crosses other CPUs' rows, and a
   * click on it must go to its delivery, not to the event it happens to pass over. An event's own dot
   * still wins within its radius.
   */
  private hit(x: number, y: number): number | null {
    for (const d of this.dots) if (Math.hypot(x - d.x, y - d.y) <= 6) return null;
    let best: { at: number; dist: number } | null = null;
    for (const a of this.arrows) {
      const dist = segmentDistance(x, y, a.x1, a.y1, a.x2, a.y2);
      if (dist <= 4 && (!best || dist < best.dist)) best = { at: a.at, dist };
    }
    return best?.at ?? null;
  }

  /** Lifelines for these CPUs; rows are the records that involve them. */
  setLanes(cpus: number[]): void {
    this.wanted = [...cpus];
    this.rebuild();
  }

  /** Only these CPUs' lifelines (`null`: the ones the viewer shows). */
  setLaneFilter(cpus: number[] | null): void {
    this.laneFilter = cpus;
    this.rebuild();
  }

  /** Hides (or shows again) a message class (`nmi`, `ipi`, `init`, `sipi`, `smi`, `other`) or a row kind (`timer`, `console`, …). */
  setHidden(category: string, hidden: boolean): void {
    if (hidden) this.hidden.add(category);
    else this.hidden.delete(category);
    this.rebuild();
  }

  /** The category a row belongs to, for the filter. */
  private category(i: number): string {
    const kind = this.model.kind(i);
    if (kind === 'send' || kind === 'deliver') return messageClass(String((this.model.record(i) as { mode?: unknown }).mode));
    if (kind === 'gstep') return 'vsock';
    return kind;
  }

  private rebuild(): void {
    const cpus = this.laneFilter ?? this.wanted;
    const hasPlatform = this.model.deliveries.some((d) => d.from === 'platform');
    this.lanes = [...(hasPlatform ? ['platform' as const] : []), ...[...cpus].sort((a, b) => a - b), ...this.guestLanes];
    const want = new Set<number>(cpus);
    const rows: number[] = [];
    const m = this.model;
    for (const i of m.mscRows) {
      const kind = m.kind(i);
      if (this.hidden.size > 0 && this.hidden.has(this.category(i))) continue;
      if (kind === 'send') {
        const from = (m.record(i) as { from: number | 'platform' }).from;
        if (from === 'platform' ? hasPlatform : want.has(from)) rows.push(i);
      } else if (kind === 'reset' || want.has(m.cpuOf[i] as number)) rows.push(i);
    }
    if (this.guestRows.length > 0) {
      for (const i of this.guestRows) if (!this.hidden.has(this.category(i))) rows.push(i);
      rows.sort((a, b) => a - b);
    }
    this.rows = Int32Array.from(rows);
    this.spacer.style.height = `${this.rows.length * ROW_H + 40}px`;
    this.schedule();
  }

  setPosition(i: number): void {
    this.pos = i;
    // Keep the current row in view.
    const row = Math.max(0, upperBound(this.rows, i) - 1);
    const y = row * ROW_H;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 300;
    if (y < top + 20 || y > top + height - 40) this.scroller.scrollTop = Math.max(0, y - height / 3);
    this.schedule();
  }

  private rowY(i: number): number {
    // Row of record i in this chart (the row at or before it).
    return (upperBound(this.rows, i) - 1) * ROW_H + ROW_H / 2;
  }

  private render(): void {
    const width = this.scroller.clientWidth || 400;
    this.width = width;
    const height = this.scroller.clientHeight || 300;
    const top = this.scroller.scrollTop;
    const usable = width - PAD_X * 2;
    const step = this.lanes.length > 1 ? usable / (this.lanes.length - 1) : 0;
    this.laneX = new Map(this.lanes.map((l, k) => [l, PAD_X + (this.lanes.length > 1 ? k * step : usable / 2)]));
    this.lanesHead.replaceChildren(
      ...this.lanes.map((l) => h('span', { class: 'lane-label', style: `left:${this.laneX.get(l)}px`, text: laneName(l) })),
    );
    const first = Math.max(0, Math.floor(top / ROW_H) - 2);
    const last = Math.min(this.rows.length - 1, Math.ceil((top + height) / ROW_H) + 2);
    this.svg.setAttribute('width', String(width));
    this.svg.setAttribute('height', String(height));
    this.svg.style.top = `${top}px`;
    const g = s('g', { transform: `translate(0,${-top})` });
    this.arrows = [];
    this.dots = [];
    const current = Math.max(0, upperBound(this.rows, this.pos) - 1);
    // Row backgrounds and the current position.
    for (let r = first; r <= last; r++) {
      const at = this.rows[r] as number;
      const cls = r === current && (this.rows[r] as number) <= this.pos ? 'msc-row current' : at > this.pos ? 'msc-row future' : 'msc-row';
      g.append(s('rect', { class: cls, x: 0, y: r * ROW_H, width, height: ROW_H, 'data-at': at }));
    }
    for (const [, x] of this.laneX) g.append(s('line', { class: 'lifeline', x1: x, y1: Math.max(0, first * ROW_H), x2: x, y2: (last + 1) * ROW_H }));
    // Arrows crossing the window.
    const lo = this.rows[first] ?? 0;
    const hi = this.rows[last] ?? 0;
    for (const d of this.model.deliveriesBetween(lo, hi)) this.drawArrow(g, d);
    for (let r = first; r <= last; r++) this.drawRow(g, r);
    this.svg.replaceChildren(g);
  }

  /** Pixels from a lane at x to the next lane on its right (or to the chart's right edge), for its labels. */
  private labelRoom(x: number): number {
    const xs = [...this.laneX.values()].filter((v) => v > x).sort((a, b) => a - b);
    return (xs[0] ?? this.width) - x - 12;
  }

  private width = 400;

  /**
   * The whole trace's chart (every row the filter keeps, not only those in view) as a standalone SVG
   * document, lanes spaced so labels have room; nothing is dimmed as "future".
   */
  exportSvg(): string {
    const saved = { pos: this.pos, laneX: this.laneX, width: this.width, arrows: this.arrows, dots: this.dots };
    this.pos = Number.MAX_SAFE_INTEGER;
    this.width = PAD_X * 2 + Math.max(1, this.lanes.length - 1) * EXPORT_LANE_W + EXPORT_LANE_W;
    this.laneX = new Map(this.lanes.map((l, k) => [l, PAD_X + k * EXPORT_LANE_W]));
    const height = this.rows.length * ROW_H + 40;
    const head = 24;
    const doc = s('svg', { xmlns: 'http://www.w3.org/2000/svg', width: this.width, height: height + head, viewBox: `0 0 ${this.width} ${height + head}`, 'font-family': 'system-ui, sans-serif', 'font-size': 10.5 });
    doc.append(s('style', {}, EXPORT_CSS));
    for (const [l, x] of this.laneX) doc.append(s('text', { class: 'lane', x, y: 15, 'text-anchor': 'middle' }, laneName(l)));
    const g = s('g', { transform: `translate(0,${head})` });
    for (const [, x] of this.laneX) g.append(s('line', { class: 'lifeline', x1: x, y1: 0, x2: x, y2: height }));
    const lo = this.rows[0] ?? 0;
    const hi = this.rows[this.rows.length - 1] ?? 0;
    for (const d of this.model.deliveriesBetween(lo, hi)) this.drawArrow(g, d);
    for (let r = 0; r < this.rows.length; r++) this.drawRow(g, r);
    doc.append(g);
    Object.assign(this, saved);
    return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}\n`;
  }

  private drawArrow(g: SVGGElement, d: Delivery): void {
    if (this.hidden.has(messageClass(d.mode))) return;
    const toX = d.cpu >= 0 ? this.laneX.get(d.cpu) : undefined;
    const fromX = this.laneX.get(d.from);
    if (toX === undefined) return;
    const y2 = d.at >= 0 ? this.rowY(d.at) : this.rows.length * ROW_H;
    const y1 = d.sendAt >= 0 && fromX !== undefined ? this.rowY(d.sendAt) : y2 - ROW_H / 2;
    const x1 = fromX ?? 4;
    const future = d.at > this.pos || d.at < 0;
    const cls = `arrow ${messageClass(d.mode)} status-${d.status.replace(' ', '-')}${future ? ' future' : ''}`;
    const arrow = s('g', { class: cls, 'data-at': d.at >= 0 ? d.at : d.sendAt, 'data-msg': d.msg, 'data-cpu': d.cpu });
    arrow.append(
      s(
        'title',
        {},
        `${messageName(d.mode, d.vector)} (msg ${d.msg}) from ${d.from === 'platform' ? 'platform' : `CPU${d.from}`} to CPU${d.cpu}: ${d.status}${d.reason ? ` — ${d.reason}` : ''}`,
      ),
    );
    this.arrows.push({ x1, y1, x2: toX, y2, at: d.at >= 0 ? d.at : d.sendAt });
    arrow.append(s('line', { class: 'hit', x1, y1, x2: toX, y2 }));
    arrow.append(s('line', { class: 'shaft', x1, y1, x2: toX, y2 }));
    // Arrowhead, drawn by hand so it takes the arrow's class colour.
    const angle = Math.atan2(y2 - y1, toX - x1);
    const a1 = angle + Math.PI - 0.4;
    const a2 = angle + Math.PI + 0.4;
    arrow.append(
      s('path', {
        class: 'head',
        d: `M${toX},${y2} L${toX + 8 * Math.cos(a1)},${y2 + 8 * Math.sin(a1)} L${toX + 8 * Math.cos(a2)},${y2 + 8 * Math.sin(a2)} z`,
      }),
    );
    if (d.status === 'dropped') arrow.append(s('text', { class: 'drop', x: toX - 4, y: y2 + 4 }, '×'));
    g.append(arrow);
  }

  private drawRow(g: SVGGElement, r: number): void {
    const i = this.rows[r] as number;
    const m = this.model;
    const kind = m.kind(i);
    const y = r * ROW_H + ROW_H / 2;
    const rec = m.record(i) as unknown as Record<string, unknown>;
    const guest = guestRow(rec);
    const cpu: Lane = guest ? guest.lane : kind === 'send' ? (rec.from as number | 'platform') : (m.cpuOf[i] as number);
    const x = this.laneX.get(cpu) ?? PAD_X;
    let text = '';
    let cls: string = kind;
    if (guest) {
      text = guest.text;
      cls = guest.cls;
      // A vhost ioctl is a call from the VMM thread to the device (and its return, back).
      const other = guest.to !== undefined ? this.laneX.get(guest.to) : undefined;
      if (other !== undefined) {
        const head = other > x ? -7 : 7;
        g.append(s('line', { class: `ioctl-arrow ${cls}${i > this.pos ? ' future' : ''}`, x1: x, y1: y, x2: other, y2: y }));
        g.append(s('path', { class: `ioctl-head ${cls}${i > this.pos ? ' future' : ''}`, d: `M${other},${y} l${head},-4 l0,8 z` }));
      }
    }
    switch (guest ? '' : kind) {
      case 'send':
        text = `${messageName(String(rec.mode), rec.vector as number | null)} → ${String(rec.dest)}`;
        cls = `send ${messageClass(String(rec.mode))}`;
        break;
      case 'deliver':
        text = `${messageName(String(rec.mode), (rec.vector as number | null | undefined) ?? null)} ${rec.status === 'delivered' ? '' : String(rec.status)}`;
        cls = `deliver ${messageClass(String(rec.mode))}`;
        break;
      case 'console':
        text = String(rec.text);
        break;
      case 'fault':
        text = `✗ ${String(rec.insn)} ${String(rec.fault)}: ${String(rec.handling)}`;
        cls = rec.handling === 'eaten' ? 'fault' : 'fault bug';
        break;
      case 'kernel':
        text = `· ${String(rec.what)}`;
        break;
      case 'script':
        text = `» ${String(rec.action)}${rec.status === 'ignored' ? ' (ignored)' : ''}`;
        break;
      case 'reset':
        text = `⟲ reset (${String(rec.method)})`;
        break;
      case 'kexec':
        text = '⇒ kexec';
        break;
      case 'timer':
        text = `timer ${String(rec.name)}`;
        break;
    }
    const row = s('g', { class: `msc-event ${cls}${i > this.pos ? ' future' : ''}`, 'data-at': i });
    row.append(s('circle', { cx: x, cy: y, r: kind === 'send' ? 4 : 3 }));
    this.dots.push({ x, y });
    // Labels go right of the lifeline, or left of it for the last lane, as long as the room there allows.
    const left = this.lanes.length > 1 && cpu === this.lanes[this.lanes.length - 1];

    const room = left ? x - 10 : this.labelRoom(x);
    const fits = Math.max(8, Math.floor(room / CHAR_W));
    const short = text.length > fits ? `${text.slice(0, fits - 1)}…` : text;
    row.append(s('text', { x: left ? x - 7 : x + 7, y: y + 4, 'text-anchor': left ? 'end' : 'start' }, short));
    row.append(s('title', {}, `line ${i + 1}: ${text}`));
    g.append(row);
  }
}
