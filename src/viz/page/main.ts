/// <reference lib="dom" />
/**
 * The page's entry: read the chart and the trace that the site put in the page as JSON, index the
 * trace a slice at a time (a 100,000-step trace is ~250,000 records; the page stays responsive and
 * shows progress), then start the viewer at the position in the URL.
 */
import { TraceModelBuilder } from '../trace-model.js';
import { DATA_ELEMENT_ID, TRACE_ELEMENT_ID, type ViewerData } from '../viewer-data.js';
import { h } from './dom.js';
import { Viewer } from './viewer.js';
import './viewer.css';

const SLICE_MS = 12;

declare global {
  interface Window {
    /** The running viewer, for the browser tests and for a curious console. */
    shootdownViewer?: Viewer;
    shootdownReady?: Promise<Viewer>;
  }
}

function fail(root: HTMLElement, message: string): never {
  root.replaceChildren(h('div', { class: 'load-error', text: `The viewer could not load this trace: ${message}` }));
  throw new Error(message);
}

async function boot(): Promise<Viewer> {
  const root = document.getElementById('app') as HTMLElement;
  const dataEl = document.getElementById(DATA_ELEMENT_ID);
  const traceEl = document.getElementById(TRACE_ELEMENT_ID);
  if (!dataEl || !traceEl) fail(root, 'the page has no trace in it');
  const data = JSON.parse(dataEl.textContent ?? '{}') as ViewerData;
  const text = JSON.parse(traceEl.textContent ?? '""') as string;
  const bar = h('div', { class: 'progress-bar' });
  const label = h('div', { class: 'progress-label', text: 'reading the trace…' });
  root.replaceChildren(h('div', { class: 'loading' }, label, h('div', { class: 'progress' }, bar)));
  const builder = new TraceModelBuilder(data.chart, Object.fromEntries((data.guests ?? []).map((g) => [g.actor, g.chart])));
  let start = 0;
  let lines = 0;
  while (start < text.length) {
    const until = performance.now() + SLICE_MS;
    while (start < text.length && performance.now() < until) {
      // Check the clock every few hundred lines, not every line.
      for (let k = 0; k < 256 && start < text.length; k++) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        if (end > start) {
          const err = builder.addLine(text.slice(start, end));
          if (err) fail(root, err);
          lines += 1;
        }
        start = end + 1;
      }
    }
    bar.style.width = `${((100 * start) / text.length).toFixed(1)}%`;
    label.textContent = `reading the trace… ${lines.toLocaleString('en')} records`;
    await new Promise((r) => setTimeout(r, 0));
  }
  const model = builder.finish(data.violations);
  if (model.count === 0) fail(root, 'the trace is empty');
  const viewer = new Viewer(model, data);
  root.replaceChildren(viewer.el);
  viewer.start();
  window.shootdownViewer = viewer;
  document.title = `shootdown · ${data.source}`;
  return viewer;
}

window.shootdownReady = boot();
