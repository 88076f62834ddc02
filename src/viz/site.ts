/**
 * The viewer as files: one HTML page with the chart, its first layout and the trace inline as JSON,
 * the page's bundle, and ELK for re-layouts. The same set is served on 127.0.0.1 by `shootdown
 * view` or written to a directory that opens from file:// (`--out`). Nothing is fetched from the
 * network: every file comes from this package or its dependencies.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import ELKModule from 'elkjs';
import { allObservers } from '../spec/index.js';
import type { TraceRecord } from '../trace/records.js';
import { findActorKind } from './actor-kinds.js';
import type { ChartModel } from './chart-model.js';
import { chartGeometry, elkGraph, type ElkLike } from './chart-layout.js';
import { GUEST_ACTORS, GUEST_CHART_KIND, traceModel, type GuestActor, type GuestCharts, type TraceModel, type Violation } from './trace-model.js';
import { DATA_ELEMENT_ID, TRACE_ELEMENT_ID, type ViewerData } from './viewer-data.js';

// elkjs is CommonJS: under NodeNext its default export arrives as the module object.
const ELK = ((ELKModule as unknown as { default?: unknown }).default ?? ELKModule) as new () => ElkLike;

export interface SiteInput {
  /** The trace as JSON lines. */
  trace: string;
  /** What the title bar says the trace is. */
  source: string;
  /** Properties that failed; computed from the trace when not given. */
  violations?: Violation[];
}

export interface SiteFile {
  type: string;
  body: string | Buffer;
}

export type Site = Map<string, SiteFile>;

export class SiteError extends Error {}

/** The package's root directory, found from this module in src/ (tests) or dist/src/ (built). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'shootdown') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the shootdown package root');
    dir = up;
  }
}

export function pageBundleDir(): string {
  return path.join(packageRoot(), 'dist', 'viewer');
}

function assetFiles(): [string, string, string][] {
  const require = createRequire(import.meta.url);
  const elkDir = path.dirname(require.resolve('elkjs/lib/elk-api.js'));
  const bundle = pageBundleDir();
  return [
    ['viewer.js', path.join(bundle, 'viewer.js'), 'text/javascript; charset=utf-8'],
    ['viewer.css', path.join(bundle, 'viewer.css'), 'text/css; charset=utf-8'],
    ['elk-api.js', path.join(elkDir, 'elk-api.js'), 'text/javascript; charset=utf-8'],
    ['elk-worker.min.js', path.join(elkDir, 'elk-worker.min.js'), 'text/javascript; charset=utf-8'],
    ['elk.bundled.js', path.join(elkDir, 'elk.bundled.js'), 'text/javascript; charset=utf-8'],
  ];
}

/** JSON that may sit inside a <script> element: `<` is escaped, so no `</script>` or `<!--` can occur. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%23212529'/%3E%3Cpath d='M4 4h8v2H6v1h6v5H4v-2h6V9H4z' fill='%23ffd43b'/%3E%3C/svg%3E";

export function pageHtml(data: ViewerData, trace: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shootdown · ${escapeHtml(data.source)}</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="viewer.css">
</head>
<body>
<div id="app"><p style="margin:20vh auto;text-align:center;font:13px system-ui,sans-serif;color:#6c757d">loading the viewer…</p></div>
<script type="application/json" id="${DATA_ELEMENT_ID}">${scriptJson(data)}</script>
<script type="application/json" id="${TRACE_ELEMENT_ID}">${scriptJson(trace)}</script>
<script src="viewer.js"></script>
</body>
</html>
`;
}

/**
 * Every property observer over the trace, as the simulator's outcome would report them, each with
 * the record at which its observer first reported it (`at`, a record index): the viewer jumps there.
 */
export function traceViolations(lines: readonly string[]): Violation[] {
  const observers = allObservers();
  const wants = observers.map((o) => new Set<string>(o.reads));
  const found = observers.map(() => new Map<string, number>());
  const key = (v: { property: string; message: string }) => `${v.property}\n${v.message}`;
  lines.forEach((line, at) => {
    const r = JSON.parse(line) as TraceRecord;
    observers.forEach((o, k) => {
      if (!wants[k]?.has(r.t)) return;
      o.observe(r);
      const seen = found[k] as Map<string, number>;
      for (const v of o.violations()) if (!seen.has(key(v))) seen.set(key(v), at);
    });
  });
  return observers.flatMap((o, k) => o.violations().map((v) => ({ ...v, at: found[k]?.get(key(v)) ?? lines.length - 1 })));
}

/** The violations a run reported, placed at the records where the trace's observers raise them. */
function placed(given: readonly Violation[], lines: readonly string[]): Violation[] {
  const fromTrace = traceViolations(lines);
  return given.map((v) => ({ ...v, at: v.at ?? fromTrace.find((t) => t.property === v.property && t.message === v.message)?.at ?? lines.length - 1 }));
}

/** The compound states no CPU of the trace ever entered: the first layout draws them closed. */
export function unvisitedCompounds(chart: ChartModel, model: TraceModel): number[] {
  const visited = new Set<number>();
  for (let cpu = 0; cpu < model.cpuCount; cpu++) for (const n of model.visited(cpu)) visited.add(n);
  return closedExcept(chart, visited);
}

function closedExcept(chart: ChartModel, visited: Set<number>): number[] {
  return chart.nodes.filter((n) => n.children.length > 0 && n.index !== 0 && !visited.has(n.index)).map((n) => n.index);
}

/** The charts of the guest-side actor kinds (vCPU, VMM, vhost-vsock) that a trace's gsteps are read with. */
export function guestCharts(): GuestCharts {
  const charts: { [A in GuestActor]?: ChartModel } = {};
  for (const actor of GUEST_ACTORS) charts[actor] = findActorKind(GUEST_CHART_KIND[actor])?.chart();
  return charts;
}

async function layoutOf(chart: ChartModel, collapse: number[]): Promise<ViewerData['layout']> {
  const collapseSet = new Set(collapse);
  const laid = await new ELK().layout(elkGraph(chart, collapseSet));
  return { collapse, geometry: chartGeometry(chart, laid, collapseSet) };
}

export async function buildSite(input: SiteInput): Promise<Site> {
  const kind = findActorKind('physical-cpu');
  if (!kind) throw new Error('no physical-cpu chart');
  const chart = kind.chart();
  const model = traceModel(chart, input.trace, [], guestCharts());
  if ('error' in model) throw new SiteError(model.error);
  const violations = input.violations ? placed(input.violations, model.lines) : traceViolations(model.lines);
  const guests: ViewerData['guests'] = [];
  // Only the kinds the trace has: a trace of physical CPUs alone carries no guest chart.
  for (const actor of GUEST_ACTORS) {
    const g = model.guestChart(actor);
    const ids = model.guests.filter((id) => id.actor === actor);
    if (!g || ids.length === 0) continue;
    const visited = new Set<number>();
    for (const id of ids) for (const n of model.guestVisited(id.key)) visited.add(n);
    guests.push({ actor, chart: g, layout: await layoutOf(g, closedExcept(g, visited)) });
  }
  const data: ViewerData = {
    source: input.source,
    chart,
    layout: await layoutOf(chart, unvisitedCompounds(chart, model)),
    violations,
    guests,
  };
  const site: Site = new Map();
  site.set('index.html', { type: 'text/html; charset=utf-8', body: pageHtml(data, input.trace) });
  for (const [name, file, type] of assetFiles()) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` to build the viewer page`);
    site.set(name, { type, body: fs.readFileSync(file) });
  }
  return site;
}

export function writeSite(dir: string, site: Site): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, file] of site) fs.writeFileSync(path.join(dir, name), file.body);
}

export interface RunningViewer {
  url: string;
  close(): Promise<void>;
}

// The page loads only its own files; the trace is data, and ELK's worker comes from the same origin.
const CSP = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";

/** Serves a site on 127.0.0.1 (`port` 0: any free port) until `close()`. */
export function serveSite(site: Site, port = 0): Promise<RunningViewer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const name = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = req.method === 'GET' || req.method === 'HEAD' ? site.get(name) : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': Buffer.byteLength(file.body),
      'cache-control': 'no-store',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Builds the site for a trace and serves it: what `shootdown view` does, minus the printing. */
export async function startViewer(input: SiteInput, port = 0): Promise<RunningViewer> {
  return serveSite(await buildSite(input), port);
}
