/// <reference lib="dom" />
/**
 * The viewer's controls around its panels (viewer.ts): the title bar, the violations badge and its list, the
 * sequence chart's filter, the divider, the SVG download, the CPU list parser, the default CPUs, the findings
 * n and p step between, and the keyboard bindings. Each is a function of what it drives; the viewer places them.
 */
import { NO_LEAVES, type MarkKind, type TraceModel, type Violation } from '../trace-model.js';
import { h } from './dom.js';
import type { SequenceChart } from './msc.js';
import type { Timeline } from './timeline.js';

/** The marks `n` and `p` step between. */
const FINDING_KINDS = new Set<MarkKind>(['violation', 'bug', 'fault', 'warn', 'noreturn']);

/** Record indices of the violations, points of no return, faults, BUGs and WARN splats, in order. */
export function findingsOf(model: TraceModel): Int32Array {
  return Int32Array.from(new Set(model.marks.filter((m) => FINDING_KINDS.has(m.kind)).map((m) => m.at))).sort();
}

/** The CPUs a trace is about: those with scripted actions, else those that send. */
export function defaultCpus(model: TraceModel): number[] {
  const picked = new Set<number>();
  for (const m of model.marks) if (m.kind === 'script' && m.cpu >= 0) picked.add(m.cpu);
  if (picked.size === 0) for (const d of model.deliveries) if (typeof d.from === 'number') picked.add(d.from);
  if (picked.size === 0) picked.add(0);
  return [...picked].sort((a, b) => a - b).slice(0, 4);
}

/** The title bar: the trace, its machine and outcome, and what is wrong with it (`verdict`: the properties). */
export function titleBar(model: TraceModel, source: string, verdict: HTMLElement): HTMLElement {
  const h0 = model.header;
  const endLine = model.count > 0 && model.kind(model.count - 1) === 'end' ? model.record(model.count - 1) : null;
  const outcome = endLine && endLine.t === 'end' ? `${endLine.end} after ${endLine.steps} steps` : 'no end record';
  const unknown = model.unknownPaths.length
    ? h('span', { class: 'verdict bad', title: model.unknownPaths.join('\n'), text: `${model.unknownPaths.length} state paths not in this chart` })
    : null;
  const noLeaves = model.hasLeaves ? null : h('span', { class: 'verdict bad no-leaves', title: NO_LEAVES, text: 'version 1 trace: no states shown' });
  return h(
    'header',
    { class: 'top' },
    h('span', { class: 'brand', text: 'shootdown' }),
    h('span', { class: 'title', text: `${source}` }),
    h('span', { class: 'meta', text: `${h0.cpus} CPUs · ${h0.vendor} · kernel ${h0.preset} · seed ${h0.seed} · ${outcome}` }),
    h('span', { class: 'spacer' }),
    unknown,
    noLeaves,
    verdict,
  );
}

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

/**
 * The red badge: how many properties failed (and how many violations), opening the list of
 * violations; each entry jumps to the record where its property's observer reported it.
 */
export function violationBadge(model: TraceModel, violations: readonly Violation[], go: (i: number) => void, closeLists: () => void, lists: HTMLElement[]): HTMLElement {
  const properties = new Set(violations.map((v) => v.property));
  const text =
    `${properties.size} propert${properties.size === 1 ? 'y' : 'ies'} violated` +
    (violations.length > properties.size ? ` (${violations.length} violations)` : '');
  const end = model.count - 1;
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
      closeLists();
      go(at);
    });
    // Where explore found this property's violation sealed (a `noreturn` record of the trace).
    const sealed = model.marks.find((m) => m.kind === 'noreturn' && m.property === v.property);
    if (sealed) {
      const link = h('button', { class: 'noreturn-link', 'data-at': sealed.at, title: sealed.text, text: `point of no return: line ${sealed.at + 1}` });
      link.addEventListener('click', (ev) => {
        ev.stopPropagation();
        closeLists();
        go(sealed.at);
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
  lists.push(list);
  return h('span', { class: 'violations' }, badge, list);
}

/** The divider between the panels and the sequence chart: drag to resize, double-click for full width. */
export function splitter(setRightWidth: (px: number) => void, toggleWide: () => void): HTMLElement {
  const bar = h('div', { class: 'splitter', title: 'drag to resize the message sequence chart; double-click: full width' });
  bar.addEventListener('pointerdown', (ev) => {
    bar.setPointerCapture(ev.pointerId);
    const move = (e: PointerEvent) => setRightWidth(window.innerWidth - e.clientX);
    const up = () => {
      bar.removeEventListener('pointermove', move);
      bar.removeEventListener('pointerup', up);
    };
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', up);
  });
  bar.addEventListener('dblclick', toggleWide);
  return bar;
}

/** Saves an SVG text as a download named `name`. */
export function downloadSvg(svg: string, name: string): void {
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The sequence chart's filter: which message classes and row kinds to draw, and which CPUs' lifelines. */
export function mscFilter(msc: SequenceChart, cpuCount: number, redraw: () => void): HTMLElement {
  const boxes = MSC_CATEGORIES.map(([category, label]) => {
    const box = h('input', { type: 'checkbox', checked: true, 'data-category': category });
    box.addEventListener('change', () => msc.setHidden(category, !box.checked));
    return h('label', { class: `msc-cat cat-${category}` }, box, label);
  });
  const lanes = h('input', { class: 'cpu-input msc-lanes-input', type: 'text', placeholder: 'as shown', spellcheck: false, title: 'lifelines to draw, e.g. 0,2 or 0-3 (empty: all CPUs of a small machine, the chosen ones of a big one)' });
  lanes.addEventListener('change', () => {
    const list = lanes.value.trim() === '' ? null : parseCpuList(lanes.value, cpuCount);
    if (lanes.value.trim() !== '' && (!list || list.length === 0)) {
      lanes.value = '';
      msc.setLaneFilter(null);
    } else msc.setLaneFilter(list);
    redraw();
  });
  return h('details', { class: 'msc-filter' }, h('summary', { text: 'filter' }), h('div', { class: 'msc-filter-body' }, ...boxes, h('label', { class: 'msc-cat' }, 'lifelines ', lanes)));
}

/** What the keys drive. */
export interface KeyTarget {
  readonly timeline: Timeline;
  step(dir: 1 | -1): void;
  go(i: number): void;
  togglePlay(): void;
  finding(dir: 1 | -1): void;
  closeLists(): void;
}

/** The viewer's keys (not while typing in a field): ← → stops, space play, Home/End, n/p findings, +/−/0 zoom. */
export function bindKeys(v: KeyTarget, count: number): void {
  window.addEventListener('keydown', (ev) => {
    if ((ev.target as Element).closest('input, select, textarea')) return;
    if (ev.key === 'ArrowRight') v.step(1);
    else if (ev.key === 'ArrowLeft') v.step(-1);
    else if (ev.key === ' ') v.togglePlay();
    else if (ev.key === 'Home') v.go(0);
    else if (ev.key === 'End') v.go(count - 1);
    else if (ev.key === 'n') v.finding(1);
    else if (ev.key === 'p') v.finding(-1);
    else if (ev.key === 'Escape') v.closeLists();
    else if (ev.key === '+' || ev.key === '=') v.timeline.zoomAtPosition(0.5);
    else if (ev.key === '-') v.timeline.zoomAtPosition(2);
    else if (ev.key === '0') v.timeline.resetZoom();
    else return;
    ev.preventDefault();
  });
}
