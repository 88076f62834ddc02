/// <reference lib="dom" />
/**
 * The viewer: transport controls, the timeline, one chart panel per chosen CPU, the sequence chart
 * and the record list, all following one position (a record index). The position and the chosen
 * CPUs live in the URL (`#step=<line>&cpus=1,2`), so a link shows the same moment. Guest-side
 * actors (vCPUs, VMM threads, vhost-vsock devices) can be added beside the CPUs, each with its own
 * chart (`&actors=vcpu0,vsock0`).
 */
import { elkGraph, chartGeometry, overviewLayout } from '../chart-layout.js';
import { DEFAULT_STOPS, type GuestActor, type RecordKind, type TraceModel, formatNs, parseGuestKey, upperBound } from '../trace-model.js';
import type { ViewerData } from '../viewer-data.js';
import { ChartDrawing, ChartPanel, type Layout } from './chart-panel.js';
import { h } from './dom.js';
import { loadElk } from './elk-loader.js';
import { EventLog } from './event-log.js';
import { GuestPanel } from './guest-panel.js';
import { SequenceChart } from './msc.js';
import { Timeline } from './timeline.js';
import { WhatIfPanel } from './whatif-panel.js';
import { bindKeys, defaultCpus, downloadSvg, findingsOf, mscFilter, parseCpuList, splitter, titleBar, violationBadge } from './viewer-controls.js';

export { parseCpuList };

/** More panels than this would each be too small to read. */
const MAX_PANELS = 6;
const SPEEDS = [1, 4, 16, 64, 256, 1024];

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
    this.findings = findingsOf(model);
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

    const verdict = data.violations.length === 0 ? h('span', { class: 'verdict ok', text: 'properties hold' }) : violationBadge(model, data.violations, (i) => this.go(i), () => this.closeLists(), this.lists);
    this.panelsEl = h('div', { class: 'panels' });
    this.leftEl = h('div', { class: 'left' }, this.layoutNote, this.panelsEl);
    const svgButton = button('SVG', 'save the whole message sequence chart (every row the filter keeps) as an SVG file', () => downloadSvg(this.msc.exportSvg(), `${model.header.scenario || 'trace'}-msc.svg`), 'small msc-svg-export');
    const wide = button('⇔', 'message sequence and records at full width (again: back); or drag the divider', () => this.toggleWide(), 'small msc-wide');
    this.rightEl = h(
      'div',
      { class: 'right' },
      h('div', { class: 'pane-title' }, h('span', { text: 'message sequence' }), h('span', { class: 'spacer' }), mscFilter(this.msc, model.cpuCount, () => this.go(this.pos)), svgButton, wide),
      this.msc.el,
      this.log.el,
    );
    this.el = h(
      'div',
      { class: 'app' },
      titleBar(model, data.source, verdict),
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
        splitter((px) => this.setRightWidth(px), () => this.toggleWide()),
        this.rightEl,
      ),
    );
    bindKeys(this, model.count);
    window.addEventListener('hashchange', () => this.fromHash());
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

  closeLists(): void {
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

  defaultCpus(): number[] {
    return defaultCpus(this.model);
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
