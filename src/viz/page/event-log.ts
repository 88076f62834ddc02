/// <reference lib="dom" />
/**
 * Every record of the trace as a line of text, in a virtualised list: only the rows in view exist
 * in the DOM, each parsed from its JSON line when it scrolls in. Click a row to go there. The search
 * box filters the list to the records whose line (CPU, kind, text) contains what is typed, over the
 * whole trace, memory writes and instructions included; Enter goes to the next match, Shift+Enter
 * to the previous.
 */
import { type RecordKind, type TraceModel, describeRecord, formatNs, upperBound } from '../trace-model.js';
import { h, perFrame } from './dom.js';
import type { TraceRecord } from '../../trace/records.js';

const ROW_H = 19;
/** Noisy kinds, hidden unless asked for. */
export const DETAIL_KINDS: readonly RecordKind[] = ['mem', 'insn', 'choice'];

export class EventLog {
  readonly el: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private rows = new Int32Array(0);
  private pos = 0;
  private details = false;
  private query = '';
  /** Each record's searchable line, lower-cased, built on the first search. */
  private haystack: string[] | null = null;
  private readonly search: HTMLInputElement;
  private readonly count: HTMLElement;
  private searchTimer = 0;
  private readonly schedule = perFrame(() => this.render());

  constructor(
    private readonly model: TraceModel,
    private readonly jump: (i: number) => void,
  ) {
    this.body = h('div', { class: 'log-body' });
    this.spacer = h('div', { class: 'log-spacer' });
    this.scroller = h('div', { class: 'log-scroll' }, this.spacer, this.body);
    const details = h('input', { type: 'checkbox' });
    details.addEventListener('change', () => {
      this.details = details.checked;
      this.filter();
    });
    this.search = h('input', { class: 'log-search', type: 'search', placeholder: 'search records (Enter: next)', spellcheck: false, title: 'filter the records by CPU, kind or text; Enter: next match, Shift+Enter: previous' });
    this.count = h('span', { class: 'log-count' });
    this.search.addEventListener('input', () => {
      window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(() => this.setQuery(this.search.value), 120);
    });
    this.search.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter') return;
      ev.preventDefault();
      window.clearTimeout(this.searchTimer);
      this.setQuery(this.search.value);
      this.nextMatch(ev.shiftKey ? -1 : 1);
    });
    this.el = h(
      'div',
      { class: 'log' },
      h('div', { class: 'log-head' }, h('span', { text: 'records' }), this.search, this.count, h('span', { class: 'spacer' }), h('label', {}, details, 'memory, instructions, choices')),
      this.scroller,
    );
    this.scroller.addEventListener('scroll', this.schedule);
    new ResizeObserver(this.schedule).observe(this.scroller);
    this.body.addEventListener('click', (ev) => {
      const row = (ev.target as Element).closest('[data-at]');
      if (row) this.jump(Number(row.getAttribute('data-at')));
    });
    this.filter();
  }

  /** The searchable line of record i: what its row shows, with its kind. */
  private line(i: number): string {
    const rec = this.model.record(i);
    return `${i + 1} ${rowCpu(rec)} ${rec.t} ${describeRecord(rec)}`.toLowerCase();
  }

  setQuery(text: string): void {
    const q = text.trim().toLowerCase();
    if (q === this.query) return;
    this.query = q;
    this.filter();
  }

  /** Goes to the next (1) or previous (-1) record that matches the search, wrapping around. */
  nextMatch(dir: 1 | -1): void {
    if (this.query === '' || this.rows.length === 0) return;
    const k = upperBound(this.rows, this.pos);
    const at = dir === 1 ? (this.rows[k] ?? this.rows[0]) : (this.rows[this.rows[k - 1] === this.pos ? k - 2 : k - 1] ?? this.rows[this.rows.length - 1]);
    if (at !== undefined) this.jump(at);
  }

  private filter(): void {
    const rows: number[] = [];
    if (this.query !== '') {
      // A search looks at every record, the noisy kinds too.
      this.haystack ??= Array.from({ length: this.model.count }, (_, i) => this.line(i));
      for (let i = 0; i < this.model.count; i++) if ((this.haystack[i] as string).includes(this.query)) rows.push(i);
      this.count.textContent = `${rows.length.toLocaleString('en')} match${rows.length === 1 ? '' : 'es'}`;
    } else {
      const hidden = new Set<RecordKind>(this.details ? [] : DETAIL_KINDS);
      for (let i = 0; i < this.model.count; i++) if (!hidden.has(this.model.kind(i))) rows.push(i);
      this.count.textContent = '';
    }
    this.rows = Int32Array.from(rows);
    this.spacer.style.height = `${this.rows.length * ROW_H}px`;
    this.setPosition(this.pos);
  }

  setPosition(i: number): void {
    this.pos = i;
    const row = Math.max(0, upperBound(this.rows, i) - 1);
    const y = row * ROW_H;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 200;
    if (y < top || y > top + height - ROW_H * 2) this.scroller.scrollTop = Math.max(0, y - height / 3);
    this.schedule();
  }

  private render(): void {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 200;
    const first = Math.max(0, Math.floor(top / ROW_H) - 3);
    const last = Math.min(this.rows.length - 1, Math.ceil((top + height) / ROW_H) + 3);
    const current = Math.max(0, upperBound(this.rows, this.pos) - 1);
    const out: HTMLElement[] = [];
    for (let r = first; r <= last; r++) {
      const i = this.rows[r] as number;
      const rec = this.model.record(i);
      const cpu = rowCpu(rec);
      const ns = 'ns' in rec ? formatNs(rec.ns) : '';
      out.push(
        h(
          'div',
          { class: `log-row kind-${rec.t}${r === current ? ' current' : ''}${i > this.pos ? ' future' : ''}`, style: `top:${r * ROW_H}px`, 'data-at': i },
          h('span', { class: 'c-line', text: String(i + 1) }),
          h('span', { class: 'c-time', text: ns }),
          h('span', { class: 'c-cpu', text: cpu }),
          h('span', { class: 'c-text', text: describeRecord(rec) }),
        ),
      );
    }
    this.body.replaceChildren(...out);
  }
}

/** The actor column of a record's row. */
function rowCpu(rec: TraceRecord): string {
  return 'cpu' in rec ? `CPU${rec.cpu}` : rec.t === 'send' ? (rec.from === 'platform' ? 'platform' : `CPU${rec.from}`) : '';
}
