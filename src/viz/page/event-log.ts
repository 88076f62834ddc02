/// <reference lib="dom" />
/**
 * Every record of the trace as a line of text, in a virtualised list: only the rows in view exist
 * in the DOM, each parsed from its JSON line when it scrolls in. Click a row to go there.
 */
import { type RecordKind, type TraceModel, describeRecord, formatNs, upperBound } from '../trace-model.js';
import { h, perFrame } from './dom.js';

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
  private readonly schedule = perFrame(() => this.render());

  constructor(
    private readonly model: TraceModel,
    private readonly jump: (i: number) => void,
  ) {
    this.body = h('div', { class: 'log-body' });
    this.spacer = h('div', { class: 'log-spacer' });
    this.scroller = h('div', { class: 'log-scroll' }, this.spacer, this.body);
    const details = h('input', { type: 'checkbox' });
    details.addEventListener('change', () => this.filter(details.checked));
    this.el = h(
      'div',
      { class: 'log' },
      h('div', { class: 'log-head' }, h('span', { text: 'records' }), h('span', { class: 'spacer' }), h('label', {}, details, 'memory, instructions, choices')),
      this.scroller,
    );
    this.scroller.addEventListener('scroll', this.schedule);
    new ResizeObserver(this.schedule).observe(this.scroller);
    this.body.addEventListener('click', (ev) => {
      const row = (ev.target as Element).closest('[data-at]');
      if (row) this.jump(Number(row.getAttribute('data-at')));
    });
    this.filter(false);
  }

  private filter(details: boolean): void {
    const hidden = new Set<RecordKind>(details ? [] : DETAIL_KINDS);
    const rows: number[] = [];
    for (let i = 0; i < this.model.count; i++) if (!hidden.has(this.model.kind(i))) rows.push(i);
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
      const cpu = 'cpu' in rec ? `CPU${rec.cpu}` : rec.t === 'send' ? (rec.from === 'platform' ? 'platform' : `CPU${rec.from}`) : '';
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
