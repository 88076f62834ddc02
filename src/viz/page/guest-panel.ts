/// <reference lib="dom" />
/**
 * A guest-side actor's panel (a vCPU, its VMM thread, a vhost-vsock device): its chart has no
 * parallel state, so one view with its one active leaf lit, and the transition its gstep took bold.
 */
import { nodeAtPath, type ChartNode } from '../chart-model.js';
import { NO_LEAVES, type GuestActor, type GuestId, type TraceModel } from '../trace-model.js';
import { ChartView, panelHead, pathText, type ChartDrawing } from './chart-panel.js';
import { h } from './dom.js';

export interface GuestPanelHost {
  model: TraceModel;
  toggle(actor: GuestActor, node: number): void;
  remove(key: string): void;
}

export class GuestPanel {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private readonly paths: HTMLElement;
  private readonly view: ChartView;
  private drawing: ChartDrawing | null = null;
  private follow = true;
  private placed = false;

  constructor(
    readonly id: GuestId,
    private readonly host: GuestPanelHost,
  ) {
    this.status = h('span', { class: 'panel-status' });
    this.paths = h('div', { class: 'panel-paths' });
    this.view = new ChartView(`g-${id.key}`, (n) => host.toggle(id.actor, n));
    this.el = h(
      'section',
      { class: 'panel guest-panel', 'data-actor': id.key },
      panelHead(id.label, this.status, {
        views: () => [this.view],
        plural: false,
        follow: (on) => (this.follow = on),
        remove: () => host.remove(id.key),
      }),
      this.paths,
      h('div', { class: 'chart-box', 'data-count': 1 }, this.view.el),
    );
  }

  setDrawing(drawing: ChartDrawing): void {
    this.drawing = drawing;
    this.view.setDrawing(drawing);
  }

  /** Lights the state of this actor after record `i`. */
  show(i: number): void {
    const model = this.host.model;
    const drawing = this.drawing;
    const at = model.guestAt(this.id.key, i);
    if (!model.hasLeaves) this.status.textContent = NO_LEAVES;
    if (!drawing || !at) return;
    const chart = drawing.chart;
    const node = chart.nodes[at.leaf] as ChartNode;
    const next = new Map<number, string>();
    const v = drawing.visibleOf[at.leaf] as number;
    if (v >= 0) next.set(v, 'lit');
    for (let a = node.parent; a >= 0; a = (chart.nodes[a] as ChartNode).parent) {
      const va = drawing.visibleOf[a] as number;
      if (va >= 0 && va !== v && !next.has(va)) next.set(va, 'lit-path');
    }
    // The transition this record took, if it was this actor's gstep.
    let taken: string | null = null;
    if (model.kind(i) === 'gstep') {
      const r = model.record(i);
      if (r.t === 'gstep' && r.actor === this.id.actor && r.vcpu === this.id.index) {
        const from = nodeAtPath(chart, r.from);
        const to = nodeAtPath(chart, r.to);
        if (from && to) taken = `${drawing.visibleOf[from.index]}>${drawing.visibleOf[to.index]}`;
      }
    }
    this.paths.replaceChildren(
      h('div', { class: 'path-line on-top', title: node.description ?? '' }, h('span', { class: 'region', text: 'state' }), pathText(node.path)),
    );
    this.status.textContent = at.since > 0 ? `since line ${at.since + 1}` : 'initial state';
    this.view.setCaption(chart.kind, true);
    this.view.light(next, taken);
    const moved = this.view.target !== v;
    this.view.target = v;
    if (!this.placed) {
      this.placed = true;
      requestAnimationFrame(() => this.view.focus(false));
    } else if (this.view.takeRelaid() || (this.follow && moved)) this.view.focus(true);
  }
}
