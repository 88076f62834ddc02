/// <reference lib="dom" />
/**
 * The "what if…" panel: at the nearest decision at or before the current record (a `choice`
 * record: which item the scheduler ran, or how long a delivery took), the choices that were
 * enabled, the one the run took marked. Taking another asks the server (`shootdown view`) to run
 * the branch — the same picks up to there, that choice, then the run's own seeded chooser — and
 * opens it at its own address. A page opened from files (`view --out`) has no server: the panel
 * says so.
 */
import { upperBound, type TraceModel } from '../trace-model.js';
import { h } from './dom.js';

interface Option {
  option: number;
  key?: string;
  text: string;
}

interface Choices {
  decision: number;
  kind: 'next' | 'latency';
  n: number;
  taken: number;
  ns: number;
  options: Option[];
}

/** The header's branch point, when this trace is itself a branch. */
interface BranchPoint {
  from: string;
  decision: number;
  option: number;
}

export const NEEDS_SERVER = 'Branching needs the viewer’s server: run `shootdown view <scenario or trace>` and open the address it prints.';

export class WhatIfPanel {
  readonly button: HTMLButtonElement;
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly title: HTMLElement;
  private choiceAt: Int32Array | null = null;
  /** The decision shown (or being fetched); -1 for none. */
  private shownDecision = -2;
  private pos = 0;
  private request = 0;
  private timer = 0;
  private readonly served = location.protocol === 'http:' || location.protocol === 'https:';

  constructor(
    private readonly model: TraceModel,
    private readonly go: (record: number) => void,
  ) {
    this.button = h('button', { class: 'small whatif-button', title: 'what if…: the choices enabled at the nearest decision before this record; take another to branch the run', text: 'what if…' });
    this.title = h('div', { class: 'whatif-title' });
    this.body = h('div', { class: 'whatif-body' });
    const close = h('button', { class: 'small whatif-close', title: 'close (Esc)', text: '×' });
    close.addEventListener('click', () => this.toggle(false));
    const origin = this.branchOrigin();
    this.el = h(
      'div',
      { class: 'whatif-panel', hidden: true, role: 'dialog', 'aria-label': 'what if' },
      h('div', { class: 'whatif-head' }, this.title, h('span', { class: 'spacer' }), close),
      origin ? h('div', { class: 'whatif-origin', text: `This run is a what-if branch of ${origin.from}: option ${origin.option} at decision ${origin.decision}.` }) : null,
      this.body,
      this.served ? h('div', { class: 'whatif-foot' }, h('a', { href: 'trace.jsonl', download: '', class: 'whatif-trace', text: 'this trace (.jsonl)' }), ' — `shootdown run --replay FILE` reproduces it (`shootdown run SCENARIO.json --replay FILE` for a scenario file)') : null,
    );
    if (!this.served) this.el.classList.add('disabled');
    this.button.addEventListener('click', () => this.toggle(!this.open));
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !this.el.hidden) this.toggle(false);
    });
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  toggle(open: boolean): void {
    this.el.hidden = !open;
    this.button.classList.toggle('active', open);
    if (open) {
      this.shownDecision = -2;
      this.setPosition(this.pos);
    }
  }

  /** Follows the viewer's position; fetches only when the panel is open and the decision changes. */
  setPosition(pos: number): void {
    this.pos = pos;
    if (this.el.hidden) return;
    const at = this.choiceRecords();
    const k = upperBound(at, pos) - 1;
    const line = k >= 0 ? (at[k] as number) : -1;
    const decision = line >= 0 ? this.decisionOf(line) : -1;
    if (decision === this.shownDecision) return;
    this.shownDecision = decision;
    if (decision < 0) {
      this.title.textContent = 'what if…';
      this.body.replaceChildren(h('p', { class: 'whatif-note', text: at.length === 0 ? 'This run made no choice: every step had one thing to do.' : 'No choice was made before this record: step forward to the first one.' }));
      return;
    }
    this.title.replaceChildren(`what if… at decision ${decision} `, this.jump(line));
    if (!this.served) {
      this.body.replaceChildren(h('p', { class: 'whatif-note', text: NEEDS_SERVER }));
      return;
    }
    // While playing or scrubbing, ask only once the position rests on a decision.
    window.clearTimeout(this.timer);
    this.body.replaceChildren(h('p', { class: 'whatif-note', text: 'asking the simulator…' }));
    this.timer = window.setTimeout(() => void this.load(decision, line), 120);
  }

  private jump(line: number): HTMLElement {
    const a = h('a', { href: `#step=${line + 1}`, class: 'whatif-line', text: `(line ${line + 1})` });
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      this.go(line);
    });
    return a;
  }

  private async load(decision: number, line: number): Promise<void> {
    const ticket = ++this.request;
    this.body.replaceChildren(h('p', { class: 'whatif-note', text: 'asking the simulator…' }));
    let c: Choices;
    try {
      c = (await this.call(`choices?decision=${decision}`)) as Choices;
    } catch (e) {
      if (ticket === this.request) this.body.replaceChildren(h('p', { class: 'whatif-note error', text: (e as Error).message }));
      return;
    }
    if (ticket !== this.request) return;
    const what = c.kind === 'next' ? `${c.n} things could happen next` : `the delivery could take ${c.n} different times (a sample is listed)`;
    const items = c.options.map((o) => {
      const taken = o.option === c.taken;
      const li = h(
        'li',
        { class: `whatif-option${taken ? ' taken' : ''}`, 'data-option': o.option },
        h('span', { class: 'whatif-text', text: o.text }),
        taken ? h('span', { class: 'whatif-taken', text: 'taken' }) : null,
      );
      if (!taken) {
        const b = h('button', { class: 'small whatif-take', title: 'run the rest of the run from here with this choice, and open it', text: 'take' });
        b.addEventListener('click', () => void this.branch(c.decision, o.option, line, li));
        li.append(b);
      }
      return li;
    });
    this.body.replaceChildren(h('p', { class: 'whatif-note', text: `${what}; the run took the marked one.` }), h('ol', { class: 'whatif-options' }, ...items));
  }

  private async branch(decision: number, option: number, line: number, li: HTMLElement): Promise<void> {
    for (const b of this.body.querySelectorAll('button')) (b as HTMLButtonElement).disabled = true;
    li.append(h('span', { class: 'whatif-status', text: 'running the branch…' }));
    try {
      const r = (await this.call('branch', { decision, option })) as { url: string; id: string };
      const url = new URL(r.url, location.href);
      // The same view (CPUs, actors) at the decision, where the branch leaves the run.
      const rest = location.hash.replace(/^#/, '').split('&').filter((p) => p !== '' && !p.startsWith('step='));
      url.hash = [`step=${line + 1}`, ...rest].join('&');
      li.append(h('a', { class: 'whatif-link', href: url.href, text: `branch ${r.id}` }));
      location.assign(url.href);
    } catch (e) {
      li.append(h('span', { class: 'whatif-status error', text: (e as Error).message }));
      for (const b of this.body.querySelectorAll('button')) (b as HTMLButtonElement).disabled = false;
    }
  }

  /** A what-if path of this page's server, relative to the page; errors carry the server's words. */
  private async call(path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    } catch {
      throw new Error(`the viewer's server does not answer (${NEEDS_SERVER})`);
    }
    const text = await res.text();
    if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) throw new Error(res.status === 404 ? NEEDS_SERVER : `the server answered ${res.status}: ${text.slice(0, 200)}`);
    const v = JSON.parse(text) as { error?: string };
    if (!res.ok) throw new Error(v.error ?? `the server answered ${res.status}`);
    return v;
  }

  private choiceRecords(): Int32Array {
    if (!this.choiceAt) {
      const at: number[] = [];
      for (let i = 0; i < this.model.count; i++) if (this.model.kind(i) === 'choice') at.push(i);
      this.choiceAt = Int32Array.from(at);
    }
    return this.choiceAt;
  }

  private decisionOf(line: number): number {
    const r = this.model.record(line) as { t: string; i?: number };
    return r.t === 'choice' && typeof r.i === 'number' ? r.i : -1;
  }

  private branchOrigin(): BranchPoint | null {
    const r = this.model.count > 0 ? (this.model.record(0) as { t: string; branch?: BranchPoint }) : null;
    const b = r?.t === 'header' ? r.branch : undefined;
    return b && typeof b.from === 'string' && typeof b.decision === 'number' && typeof b.option === 'number' ? b : null;
  }
}
