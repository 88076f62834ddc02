/// <reference lib="dom" />
/**
 * The viewer: transport controls, the timeline, one chart panel per chosen CPU, the sequence chart
 * and the record list, all following one position (a record index). The position and the chosen
 * CPUs live in the URL (`#step=<line>&cpus=1,2`), so a link shows the same moment. Guest-side
 * actors (vCPUs, VMM threads, vhost-vsock devices) can be added beside the CPUs, each with its own
 * chart (`&actors=vcpu0,vsock0`).
 */
import { elkGraph, chartGeometry, overviewLayout } from '../chart-layout.js';
import { DEFAULT_STOPS, NO_LEAVES, type GuestActor, type MarkKind, type RecordKind, type TraceModel, type Violation, formatNs, parseGuestKey, upperBound } from '../trace-model.js';
import type { ViewerData } from '../viewer-data.js';
import { ChartDrawing, ChartPanel, type Layout } from './chart-panel.js';
import { h } from './dom.js';
import { loadElk } from './elk-loader.js';
import { EventLog } from './event-log.js';
import { GuestPanel } from './guest-panel.js';
import { SequenceChart } from './msc.js';
import { Timeline } from './timeline.js';
import { WhatIfPanel } from './whatif-panel.js';

/** What the sequence chart's filter offers: message classes, then row kinds. */
const MSC_CATEGORIES: readonly (readonly [string, string])[] = [
  ['nmi', 'NMI'],
  ['ipi', 'IPI'],
  ['init', 'INIT'],
  ['sipi', 'SIPI'],
  ['smi', 'SMI'],
  ['other', 'other messages'],
  ['timer', 'timers'],
  ['console', 'console lines'],
  ['kernel', 'kernel events'],
  ['script', 'scripted actions'],
  ['fault', 'faults'],
  ['ioctl', 'vhost ioctls'],
  ['vsock', 'vsock packets, device states'],
];

/** The marks `n` and `p` step between. */
const FINDING_KINDS = new Set<MarkKind>(['violation', 'bug', 'fault', 'warn', 'noreturn']);

/** More panels than this would each be too small to read. */
const MAX_PANELS = 6;
const SPEEDS = [1, 4, 16, 64, 256, 1024];

/** Parses `0-3, 7` into CPU numbers below `count`. */
export function parseCpuList(text: string, count: number): number[] | null {
  const out = new Set<number>();
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = Math.min(a, b); c <= Math.max(a, b) && out.size <= 64; c++) if (c < count) out.add(c);
  }
  return [...out].sort((x, y) => x - y);
}

export class Viewer {
  readonly el: HTMLElement;
  pos = 0;
  private shown: number[] = [];
  private readonly panels = new Map<number, ChartPanel>();
  private shownGuests: string[] = [];
  private readonly guestPanels = new Map<string, GuestPanel>();
  /** Each guest actor kind's layout and drawing, shared by its panels. */
  private readonly guestCharts = new Map<GuestActor, { layout: Layout; drawing: ChartDrawing }>();
  private readonly guestSelect: HTMLSelectElement;
  private readonly panelsEl: HTMLElement;
  private readonly leftEl: HTMLElement;
  private readonly rightEl: HTMLElement;
  readonly msc: SequenceChart;
  readonly timeline: Timeline;
  readonly whatIf: WhatIfPanel;
  private readonly log: EventLog;
  private readonly where: HTMLElement;
  private readonly playBtn: HTMLButtonElement;
  private readonly cpuInput: HTMLInputElement;
  private readonly layoutNote: HTMLElement;
  private layout: Layout;
  private drawing: ChartDrawing;
  private stops: readonly RecordKind[] = DEFAULT_STOPS;
  private playing = false;
  private speed = 4;
  private hashTimer = 0;
  private readonly lists: HTMLElement[] = [];
  /** Record indices of the violations, points of no return, faults, BUGs and WARN splats, in order: what n and p step between. */
  private readonly findings: Int32Array;

  constructor(
    readonly model: TraceModel,
    private readonly data: ViewerData,
  ) {
    this.layout = { collapse: new Set(data.layout.collapse), geometry: data.layout.geometry };
    this.findings = Int32Array.from(new Set(model.marks.filter((m) => FINDING_KINDS.has(m.kind)).map((m) => m.at))).sort();
    this.drawing = new ChartDrawing(model.chart, this.layout);
    for (const g of data.guests ?? []) {
      const chart = model.guestChart(g.actor);
      if (!chart) continue;
      const layout = { collapse: new Set(g.layout.collapse), geometry: g.layout.geometry };
      this.guestCharts.set(g.actor, { layout, drawing: new ChartDrawing(chart, layout) });
    }
    const jump = (i: number) => this.go(i);
    this.timeline = new Timeline(model, jump);
    this.msc = new SequenceChart(model, jump);
    this.log = new EventLog(model, jump);
    this.whatIf = new WhatIfPanel(model, jump);
    this.where = h('span', { class: 'where' });
    this.layoutNote = h('span', { class: 'layout-note' });
    const button = (text: string, title: string, fn: () => void, cls = '') => {
      const b = h('button', { title, text, class: cls });
      b.addEventListener('click', fn);
      return b;
    };
    this.playBtn = button('play', 'play / pause (space)', () => this.togglePlay(), 'play');
    const speed = h('select', { title: 'records per second while playing' }, ...SPEEDS.map((v) => h('option', { value: v, selected: v === this.speed, text: `${v}/s` })));
    speed.addEventListener('change', () => (this.speed = Number(speed.value)));
    const details = h('input', { type: 'checkbox', title: 'also stop at memory writes and instructions' });
    details.addEventListener('change', () => {
      this.stops = details.checked ? [...DEFAULT_STOPS, 'mem', 'insn'] : DEFAULT_STOPS;
    });
    this.cpuInput = h('input', { class: 'cpu-input', type: 'text', title: 'CPUs to show, e.g. 1,2 or 0-3', spellcheck: false });
    this.cpuInput.addEventListener('change', () => {
      const list = parseCpuList(this.cpuInput.value, model.cpuCount);
      if (list) this.setShown(list);
      else this.cpuInput.value = this.shown.join(',');
    });
    const here = button('+ CPUs here', 'add the CPUs the current record involves', () => {
      const extra = new Set(this.shown);
      const cpu = model.cpuOf[this.pos] as number;
      if (cpu >= 0) extra.add(cpu);
      for (const d of model.deliveriesAt(this.pos)) if (typeof d.from === 'number') extra.add(d.from);
      this.setShown([...extra]);
    }, 'small');
    const guestIds = model.guests.filter((id) => this.guestCharts.has(id.actor));
    this.guestSelect = h(
      'select',
      { class: 'guest-select', title: 'show a guest-side actor: a vCPU, its VMM thread or a vhost-vsock device' },
      h('option', { value: '', text: '+ guest actor' }),
      ...guestIds.map((id) => h('option', { value: id.key, text: id.label })),
    );
    this.guestSelect.addEventListener('change', () => {
      const key = this.guestSelect.value;
      this.guestSelect.value = '';
      if (key) this.setGuests([...this.shownGuests, key]);
    });

    const h0 = model.header;
    const endLine = model.count > 0 && model.kind(model.count - 1) === 'end' ? model.record(model.count - 1) : null;
    const outcome = endLine && endLine.t === 'end' ? `${endLine.end} after ${endLine.steps} steps` : 'no end record';
    const verdict = data.violations.length === 0 ? h('span', { class: 'verdict ok', text: 'properties hold' }) : this.violationList(data.violations);
    const unknown = model.unknownPaths.length
      ? h('span', { class: 'verdict bad', title: model.unknownPaths.join('\n'), text: `${model.unknownPaths.length} state paths not in this chart` })
      : null;
    const noLeaves = model.hasLeaves ? null : h('span', { class: 'verdict bad no-leaves', title: NO_LEAVES, text: 'version 1 trace: no states shown' });
    this.panelsEl = h('div', { class: 'panels' });
    this.leftEl = h('div', { class: 'left' }, this.layoutNote, this.panelsEl);
    const svgButton = button('SVG', 'save the whole message sequence chart (every row the filter keeps) as an SVG file', () => this.saveMscSvg(), 'small msc-svg-export');
    const wide = button('⇔', 'message sequence and records at full width (again: back); or drag the divider', () => this.toggleWide(), 'small msc-wide');
    this.rightEl = h(
      'div',
      { class: 'right' },
      h('div', { class: 'pane-title' }, h('span', { text: 'message sequence' }), h('span', { class: 'spacer' }), this.mscFilter(), svgButton, wide),
      this.msc.el,
      this.log.el,
    );
    this.el = h(
      'div',
      { class: 'app' },
      h(
        'header',
        { class: 'top' },
        h('span', { class: 'brand', text: 'shootdown' }),
        h('span', { class: 'title', text: `${data.source}` }),
        h('span', { class: 'meta', text: `${h0.cpus} CPUs · ${h0.vendor} · kernel ${h0.preset} · seed ${h0.seed} · ${outcome}` }),
        h('span', { class: 'spacer' }),
        unknown,
        noLeaves,
        verdict,
      ),
      h(
        'div',
        { class: 'transport' },
        button('|◀', 'first record (Home)', () => this.go(0)),
        button('◀', 'previous stop (←)', () => this.step(-1)),
        this.playBtn,
        button('▶', 'next stop (→)', () => this.step(1)),
        button('▶|', 'last record (End)', () => this.go(model.count - 1)),
        button('◆◀', 'previous finding: violation, point of no return, fault, BUG or WARN (p)', () => this.finding(-1), 'small finding-prev'),
        button('▶◆', 'next finding: violation, point of no return, fault, BUG or WARN (n)', () => this.finding(1), 'small finding-next'),
        speed,
        h('label', { class: 'details', title: 'also stop at memory writes and instructions' }, details, 'mem/insn'),
        this.where,
        this.whatIf.button,
        this.whatIf.el,
        h('span', { class: 'spacer' }),
        h('label', { class: 'cpus' }, 'CPUs ', this.cpuInput),
        here,
        guestIds.length ? this.guestSelect : null,
      ),
      this.timeline.el,
      h(
        'main',
        { class: 'body' },
        this.leftEl,
        this.splitter(),
        this.rightEl,
      ),
    );
    window.addEventListener('keydown', (ev) => {
      if ((ev.target as Element).closest('input, select, textarea')) return;
      if (ev.key === 'ArrowRight') this.step(1);
      else if (ev.key === 'ArrowLeft') this.step(-1);
      else if (ev.key === ' ') this.togglePlay();
      else if (ev.key === 'Home') this.go(0);
      else if (ev.key === 'End') this.go(model.count - 1);
      else if (ev.key === 'n') this.finding(1);
      else if (ev.key === 'p') this.finding(-1);
      else if (ev.key === 'Escape') this.closeLists();
      else if (ev.key === '+' || ev.key === '=') this.timeline.zoomAtPosition(0.5);
      else if (ev.key === '-') this.timeline.zoomAtPosition(2);
      else if (ev.key === '0') this.timeline.resetZoom();
      else return;
      ev.preventDefault();
    });
    window.addEventListener('hashchange', () => this.fromHash());
  }

  /**
   * The red badge: how many properties failed (and how many violations), opening the list of
   * violations; each entry jumps to the record where its property's observer reported it.
   */
  private violationList(violations: readonly Violation[]): HTMLElement {
    const properties = new Set(violations.map((v) => v.property));
    const text =
      `${properties.size} propert${properties.size === 1 ? 'y' : 'ies'} violated` +
      (violations.length > properties.size ? ` (${violations.length} violations)` : '');
    const end = this.model.count - 1;
    const items = violations.map((v, k) => {
      const at = v.at !== undefined && v.at >= 0 && v.at <= end ? v.at : end;
      const item = h(
        'li',
        { class: 'violation-item', 'data-at': at, 'data-index': k },
        h('span', { class: 'v-property', text: v.property }),
        h('span', { class: 'v-message', text: v.message }),
        h('span', { class: 'v-line', text: `line ${at + 1}` }),
      );
      item.addEventListener('click', () => {
        this.closeLists();
        this.go(at);
      });
      // Where explore found this property's violation sealed (a `noreturn` record of the trace).
      const sealed = this.model.marks.find((m) => m.kind === 'noreturn' && m.property === v.property);
      if (sealed) {
        const link = h('button', { class: 'noreturn-link', 'data-at': sealed.at, title: sealed.text, text: `point of no return: line ${sealed.at + 1}` });
        link.addEventListener('click', (ev) => {
          ev.stopPropagation();
          this.closeLists();
          this.go(sealed.at);
        });
        item.append(link);
      }
      return item;
    });
    const list = h('ol', { class: 'violation-list', hidden: true }, ...items);
    const badge = h('button', { class: 'verdict bad', title: 'the violations, each with the record where it was found (n / p step between findings)', text: `${text} ▾` });
    badge.addEventListener('click', (ev) => {
      ev.stopPropagation();
      list.hidden = !list.hidden;
    });
    document.addEventListener('click', (ev) => {
      if (!(ev.target as Element).closest('.violations')) list.hidden = true;
    });
    this.lists.push(list);
    return h('span', { class: 'violations' }, badge, list);
  }

  /** The divider between the panels and the sequence chart: drag to resize, double-click for full width. */
  private splitter(): HTMLElement {
    const bar = h('div', { class: 'splitter', title: 'drag to resize the message sequence chart; double-click: full width' });
    bar.addEventListener('pointerdown', (ev) => {
      bar.setPointerCapture(ev.pointerId);
      const move = (e: PointerEvent) => this.setRightWidth(window.innerWidth - e.clientX);
      const up = () => {
        bar.removeEventListener('pointermove', move);
        bar.removeEventListener('pointerup', up);
      };
      bar.addEventListener('pointermove', move);
      bar.addEventListener('pointerup', up);
    });
    bar.addEventListener('dblclick', () => this.toggleWide());
    return bar;
  }

  /** The sequence chart's width in pixels, kept between a minimum and the window less the panels' minimum. */
  setRightWidth(px: number): void {
    this.rightEl.classList.remove('wide');
    this.leftEl.hidden = false;
    const w = Math.max(320, Math.min(window.innerWidth - 240, px));
    this.rightEl.style.width = `${Math.round(w)}px`;
  }

  toggleWide(): void {
    const wide = !this.rightEl.classList.contains('wide');
    this.rightEl.classList.toggle('wide', wide);
    this.leftEl.hidden = wide;
  }

  private saveMscSvg(): void {
    const url = URL.createObjectURL(new Blob([this.msc.exportSvg()], { type: 'image/svg+xml' }));
    const a = h('a', { href: url, download: `${this.model.header.scenario || 'trace'}-msc.svg` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  /** The sequence chart's filter: which message classes and row kinds to draw, and which CPUs' lifelines. */
  private mscFilter(): HTMLElement {
    const boxes = MSC_CATEGORIES.map(([category, label]) => {
      const box = h('input', { type: 'checkbox', checked: true, 'data-category': category });
      box.addEventListener('change', () => this.msc.setHidden(category, !box.checked));
      return h('label', { class: `msc-cat cat-${category}` }, box, label);
    });
    const lanes = h('input', { class: 'cpu-input msc-lanes-input', type: 'text', placeholder: 'as shown', spellcheck: false, title: 'lifelines to draw, e.g. 0,2 or 0-3 (empty: all CPUs of a small machine, the chosen ones of a big one)' });
    lanes.addEventListener('change', () => {
      const list = lanes.value.trim() === '' ? null : parseCpuList(lanes.value, this.model.cpuCount);
      if (lanes.value.trim() !== '' && (!list || list.length === 0)) {
        lanes.value = '';
        this.msc.setLaneFilter(null);
      } else this.msc.setLaneFilter(list);
      this.go(this.pos);
    });
    return h('details', { class: 'msc-filter' }, h('summary', { text: 'filter' }), h('div', { class: 'msc-filter-body' }, ...boxes, h('label', { class: 'msc-cat' }, 'lifelines ', lanes)));
  }

  private closeLists(): void {
    for (const l of this.lists) l.hidden = true;
  }

  /** The next (1) or previous (-1) violation, fault, BUG or WARN splat after the current record. */
  finding(dir: 1 | -1): void {
    const at = this.findings;
    if (at.length === 0) return;
    const k = upperBound(at, this.pos);
    // upperBound gives the first finding after pos; the previous one is before the one at pos.
    const next = dir === 1 ? at[k] : at[(at[k - 1] === this.pos ? k - 2 : k - 1)];
    if (next !== undefined) this.go(next);
  }

  /** The CPUs a trace is about: those with scripted actions, else those that send. */
  defaultCpus(): number[] {
    const picked = new Set<number>();
    for (const m of this.model.marks) if (m.kind === 'script' && m.cpu >= 0) picked.add(m.cpu);
    if (picked.size === 0) for (const d of this.model.deliveries) if (typeof d.from === 'number') picked.add(d.from);
    if (picked.size === 0) picked.add(0);
    return [...picked].sort((a, b) => a - b).slice(0, 4);
  }

  start(): void {
    if (!this.fromHash()) {
      this.setShown(this.defaultCpus(), false);
      this.go(0);
    }
  }

  private fromHash(): boolean {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    const cpus = params.get('cpus');
    const step = params.get('step');
    const actors = params.get('actors');
    if (cpus === null && step === null && actors === null) return false;
    const list = cpus !== null ? parseCpuList(cpus, this.model.cpuCount) : null;
    this.setShown(list && list.length ? list : this.shown.length ? this.shown : this.defaultCpus(), false);
    this.setGuests(actors ? actors.split(',') : [], false);
    const line = step !== null && /^\d+$/.test(step) ? Number(step) : 1;
    this.go(Math.min(this.model.count, Math.max(1, line)) - 1);
    return true;
  }

  setShown(cpus: number[], update = true): void {
    const list = [...new Set(cpus)].filter((c) => c >= 0 && c < this.model.cpuCount).sort((a, b) => a - b).slice(0, MAX_PANELS);
    this.shown = list;
    this.cpuInput.value = list.join(',');
    for (const [cpu, p] of this.panels) {
      if (!list.includes(cpu)) {
        p.el.remove();
        this.panels.delete(cpu);
      }
    }
    for (const cpu of list) {
      if (this.panels.has(cpu)) continue;
      const panel = new ChartPanel(cpu, {
        model: this.model,
        toggle: (n) => void this.toggle(n),
        remove: (c) => this.setShown(this.shown.filter((x) => x !== c)),
        overview: (p) => void this.overview(p),
      });
      panel.setDrawing(this.drawing);
      this.panels.set(cpu, panel);
    }
    this.placePanels();
    // The sequence chart shows every CPU of a small machine, the chosen ones of a big one.
    this.msc.setLanes(this.model.cpuCount <= 12 ? [...Array(this.model.cpuCount).keys()] : list);
    this.timeline.setShownCpus(list);
    if (update) this.go(this.pos);
  }

  /** Shows these guest-side actors (`vsock0`…) after the CPUs, as many as there is room for. */
  setGuests(keys: string[], update = true): void {
    const known = new Set(this.model.guests.filter((id) => this.guestCharts.has(id.actor)).map((id) => id.key));
    const list = [...new Set(keys)].filter((k) => known.has(k)).slice(0, Math.max(0, MAX_PANELS - this.shown.length));
    this.shownGuests = list;
    for (const [key, p] of this.guestPanels) {
      if (!list.includes(key)) {
        p.el.remove();
        this.guestPanels.delete(key);
      }
    }
    for (const key of list) {
      const id = parseGuestKey(key);
      const chart = id ? this.guestCharts.get(id.actor) : undefined;
      if (!id || !chart || this.guestPanels.has(key)) continue;
      const panel = new GuestPanel(id, { model: this.model, toggle: (actor, n) => void this.toggleGuest(actor, n), remove: (k) => this.setGuests(this.shownGuests.filter((x) => x !== k)) });
      panel.setDrawing(chart.drawing);
      this.guestPanels.set(key, panel);
    }
    this.placePanels();
    if (update) this.go(this.pos);
  }

  /** The CPUs' panels, then the guest actors'. */
  private placePanels(): void {
    if (this.shownGuests.length > MAX_PANELS - this.shown.length) {
      for (const key of this.shownGuests.slice(Math.max(0, MAX_PANELS - this.shown.length))) this.guestPanels.delete(key);
      this.shownGuests = this.shownGuests.slice(0, Math.max(0, MAX_PANELS - this.shown.length));
    }
    const els = [...this.shown.map((c) => (this.panels.get(c) as ChartPanel).el), ...this.shownGuests.map((k) => (this.guestPanels.get(k) as GuestPanel).el)];
    this.panelsEl.replaceChildren(...els);
    this.panelsEl.dataset.count = String(els.length);
  }

  /** Opens or closes a compound state of a guest actor kind's chart in its panels. */
  private async toggleGuest(actor: GuestActor, node: number): Promise<void> {
    const g = this.guestCharts.get(actor);
    const chart = this.model.guestChart(actor);
    if (!g || !chart) return;
    const collapse = new Set(g.layout.collapse);
    if (collapse.has(node)) collapse.delete(node);
    else collapse.add(node);
    this.layoutNote.textContent = 'laying out…';
    try {
      const elk = await loadElk();
      const laid = await elk.layout(elkGraph(chart, collapse));
      g.layout = { collapse, geometry: chartGeometry(chart, laid, collapse) };
      g.drawing = new ChartDrawing(chart, g.layout);
      for (const p of this.guestPanels.values()) if (p.id.actor === actor) p.setDrawing(g.drawing);
      this.layoutNote.textContent = '';
      this.go(this.pos);
    } catch (e) {
      this.layoutNote.textContent = `layout failed: ${(e as Error).message}`;
    }
  }

  /** Opens or closes a compound state in every panel: a new layout, with ELK loaded on first use. */
  private async toggle(node: number): Promise<void> {
    const collapse = new Set(this.layout.collapse);
    if (collapse.has(node)) collapse.delete(node);
    else collapse.add(node);
    this.layoutNote.textContent = 'laying out…';
    try {
      const elk = await loadElk();
      const laid = await elk.layout(elkGraph(this.model.chart, collapse));
      this.layout = { collapse, geometry: chartGeometry(this.model.chart, laid, collapse) };
      this.drawing = new ChartDrawing(this.model.chart, this.layout);
      for (const p of this.panels.values()) p.setDrawing(this.drawing);
      this.layoutNote.textContent = '';
      this.go(this.pos);
    } catch (e) {
      this.layoutNote.textContent = `layout failed: ${(e as Error).message}`;
    }
  }

  /**
   * A CPU panel's `fit`: the chart laid out again as an overview that fits that panel's views with
   * its text still legible (closed from some depth on, the way to every panel's active states open),
   * in every panel; then that panel's views show it (whole, if it fits).
   */
  private async overview(panel: ChartPanel): Promise<void> {
    this.layoutNote.textContent = 'laying out an overview…';
    try {
      const elk = await loadElk();
      const { width, height } = panel.viewBox();
      // Every panel draws the new layout: the way to each one's active states stays open.
      const keep = [...this.panels.values()].flatMap((p) => p.activeLeaves());
      const o = await overviewLayout(elk, this.model.chart, this.data.layout.collapse, keep, width, height);
      this.layout = { collapse: o.collapse, geometry: o.geometry };
      this.drawing = new ChartDrawing(this.model.chart, this.layout);
      for (const p of this.panels.values()) p.setDrawing(this.drawing);
      this.layoutNote.textContent = '';
      this.go(this.pos);
      panel.fitViews(o);
    } catch (e) {
      this.layoutNote.textContent = `layout failed: ${(e as Error).message}`;
    }
  }

  step(dir: 1 | -1): void {
    this.go(this.model.nextStop(this.pos, dir, this.stops));
  }

  go(i: number): void {
    const pos = Math.max(0, Math.min(this.model.count - 1, i));
    this.pos = pos;
    for (const p of this.panels.values()) p.show(pos);
    for (const p of this.guestPanels.values()) p.show(pos);
    this.timeline.setPosition(pos);
    this.msc.setPosition(pos);
    this.log.setPosition(pos);
    this.whatIf.setPosition(pos);
    // Steps of CPUs and of the guest side's actors (a vCPU scenario's run is mostly the latter).
    const steps = this.model.stops(['step', 'gstep']);
    const k = upperBound(steps, pos);
    this.where.textContent = `line ${pos + 1} / ${this.model.count} · step ${k} / ${steps.length} · t = ${formatNs(this.model.ns[pos] as number)} s`;
    // replaceState, not pushState: stepping must not flood the history; coalesced while playing.
    window.clearTimeout(this.hashTimer);
    this.hashTimer = window.setTimeout(() => {
      const hash = `#step=${pos + 1}&cpus=${this.shown.join(',')}${this.shownGuests.length ? `&actors=${this.shownGuests.join(',')}` : ''}`;
      if (location.hash !== hash) history.replaceState(null, '', hash);
    }, this.playing ? 250 : 0);
  }

  togglePlay(): void {
    this.playing = !this.playing;
    this.playBtn.textContent = this.playing ? 'pause' : 'play';
    if (!this.playing) return;
    let last = performance.now();
    let debt = 0;
    const tick = (now: number) => {
      if (!this.playing) return;
      debt += ((now - last) / 1000) * this.speed;
      last = now;
      let moves = Math.floor(debt);
      debt -= moves;
      let pos = this.pos;
      // At high speed, several stops per frame: draw only the last.
      while (moves-- > 0) {
        const next = this.model.nextStop(pos, 1, this.stops);
        if (next === pos) break;
        pos = next;
      }
      if (pos !== this.pos) this.go(pos);
      if (pos >= this.model.count - 1 || this.model.nextStop(pos, 1, this.stops) === pos) {
        this.togglePlay();
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
}
