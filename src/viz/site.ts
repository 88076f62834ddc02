/**
 * The viewer as files: one HTML page with the chart, its first layout and the trace inline as JSON,
 * the page's bundle, and ELK for re-layouts. The same set is served on 127.0.0.1 by `shootdown
 * view` or written to a directory that opens from file:// (`--out`). Nothing is fetched from the
 * network: every file comes from this package or its dependencies.
 */
import * as fs from 'node:fs';
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
import { answer, baseHeaders, listen, localServer, LOOPBACK, refusal, requestPath } from './local-server.js';
import { DATA_ELEMENT_ID, TRACE_ELEMENT_ID, type ViewerData } from './viewer-data.js';
import { WhatIf } from './branch-server.js';
import type { Site, SiteFile, SiteInput } from './site-types.js';

// elkjs is CommonJS: under NodeNext its default export arrives as the module object.
const ELK = ((ELKModule as unknown as { default?: unknown }).default ?? ELKModule) as new () => ElkLike;

export type { Site, SiteFile, SiteInput };

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

/** The names a site writes: its page and the assets `assetFiles` lists. */
export const SITE_FILES = ['index.html', 'viewer.js', 'viewer.css', 'elk-api.js', 'elk-worker.min.js', 'elk.bundled.js'];

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
  // Named as `export-trace` names it: which trace (a file's name, or the run it comes from), then the line.
  if ('error' in model) throw new SiteError(`${input.source}: ${model.error}`);
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

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Whether `dir` may receive a site: absent, or an empty directory (any directory with `force`),
 * itself no symbolic link, and no name the site writes taken by anything but a regular file.
 */
export function checkOutDir(dir: string, force: boolean, names: Iterable<string> = SITE_FILES): void {
  outDirErrors(dir, () => checkDir(dir, force, names));
}

/** The file system's errors on `--out` as bad input: the message names the directory and the cause. */
function outDirErrors<T>(dir: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof SiteError || typeof code !== 'string') throw e;
    throw new SiteError(`--out ${dir}: cannot write the viewer there (${(e as Error).message})`);
  }
}

function checkDir(dir: string, force: boolean, names: Iterable<string>): void {
  const st = lstatOrNull(dir);
  if (!st) return;
  if (st.isSymbolicLink()) throw new SiteError(`--out ${dir}: is a symbolic link; give the directory itself (${fs.realpathSync.native(dir)}) if that is where the viewer goes`);
  if (!st.isDirectory()) throw new SiteError(`--out ${dir}: exists and is not a directory`);
  const entries = fs.readdirSync(dir);
  if (entries.length > 0 && !force) {
    throw new SiteError(`--out ${dir}: the directory is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}); give --force to write the viewer's files into it`);
  }
  for (const name of names) {
    const entry = lstatOrNull(path.join(dir, name));
    if (entry && !entry.isFile()) throw new SiteError(`--out ${dir}: ${name} is ${entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; shootdown writes only files of its own there`);
  }
}

/**
 * Writes the site into `dir` (see `checkOutDir`): each file first to a new temporary name in
 * `dir` (O_EXCL, so never through a link planted there), then renamed over its own name, which
 * replaces a directory entry rather than following it. On an error nothing of the site is left:
 * the temporaries are removed, and so is `dir` when this call created it.
 */
/**
 * Called with each temporary file as it is created (`open` true) and once it is renamed or removed
 * (`open` false): the command line registers them for removal on SIGINT/SIGTERM (`track` in
 * src/cli/output-file.ts), so an interrupted write leaves nothing behind.
 */
export type TempFileHook = (temp: string, open: boolean) => void;

export function writeSite(dir: string, site: Site, force = false, onTemp: TempFileHook = () => {}): void {
  outDirErrors(dir, () => writeInto(dir, site, force, onTemp));
}

function writeInto(dir: string, site: Site, force: boolean, onTemp: TempFileHook): void {
  checkDir(dir, force, site.keys());
  let created: string | undefined;
  if (!lstatOrNull(dir)) {
    // The parents may be made as needed; the directory itself is made here and then looked at, so a
    // link planted at its name between the check and the mkdir is refused, not written through.
    // The first directory made here (a parent or the directory itself) goes again if writing fails.
    const parent = fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
    try {
      fs.mkdirSync(dir);
      created = parent ?? dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = lstatOrNull(dir);
    if (!st || !st.isDirectory()) throw new SiteError(`--out ${dir}: not a directory (a link or file appeared at that name)`);
  }
  const temps = new Map<string, string>();
  try {
    for (const [name, file] of site) {
      const temp = path.join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
      const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0), 0o644);
      temps.set(name, temp);
      onTemp(temp, true);
      try {
        fs.writeFileSync(fd, file.body);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const [name, temp] of temps) {
      fs.renameSync(temp, path.join(dir, name));
      temps.delete(name);
      onTemp(temp, false);
    }
  } catch (e) {
    for (const temp of temps.values()) {
      fs.rmSync(temp, { force: true });
      onTemp(temp, false);
    }
    if (created !== undefined) fs.rmSync(created, { recursive: true, force: true });
    throw e;
  }
}

export interface RunningViewer {
  url: string;
  /** The address and port listened on; `wanted` when that port was in use and the next free one is used. */
  host: string;
  port: number;
  wanted?: number;
  close(): Promise<void>;
}

/** The viewer's default port: fixed, so a saved link works on the next run too. */
export const VIEWER_PORT = 7357;

// The page loads only its own files; the trace is data, and ELK's worker comes from the same origin.
const CSP =
  "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export interface ServeOptions {
  /** Where to listen: 127.0.0.1 unless given. */
  host?: string;
  /** How many ports from `port` on to try while they are in use (1: only `port`). */
  tries?: number;
  /** What-if branches of the site's trace (choices, branch, the branches' pages); none when not given. */
  whatIf?: WhatIf;
}

/**
 * Serves a site on `host` (127.0.0.1) and `port` (0: any free port) until `close()`. Only GET and
 * HEAD of the site's own files (and, with `whatIf`, its what-if paths), only for a `Host` naming
 * this server and no foreign `Origin`.
 */
export async function serveSite(site: Site, port = 0, options: ServeOptions = {}): Promise<RunningViewer> {
  const host = options.host ?? LOOPBACK;
  let actual = port;
  let bound: string[] = [host];
  const local = localServer((req, res) => {
    const refused = refusal(req, bound, actual);
    if (refused) return answer(res, refused.status, refused.message);
    const target = requestPath(req.url);
    const branched = target === null ? false : (options.whatIf?.handle(req, res, target) ?? false);
    if (branched === true) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'only GET and HEAD are served here', { allow: 'GET, HEAD' });
    if (target === null) return answer(res, 400, 'bad request target');
    const file = branched || site.get(target === '/' ? 'index.html' : target.slice(1));
    if (!file) return answer(res, 404, 'not found');
    res.writeHead(200, { ...baseHeaders(CSP), 'content-type': file.type, 'content-length': Buffer.byteLength(file.body) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  const listening = await listen(local.server, host, port, options.tries ?? 1);
  actual = listening.port;
  bound = listening.names;
  return {
    url: listening.url,
    host,
    port: actual,
    ...(listening.wanted !== undefined ? { wanted: listening.wanted } : {}),
    close: () => local.close(),
  };
}

/** Builds the site for a trace and serves it: what `shootdown view` does, minus the printing. */
export async function startViewer(input: SiteInput, port = 0, options: ServeOptions = {}): Promise<RunningViewer> {
  const site = await buildSite(input);
  return serveSite(site, port, { ...options, whatIf: options.whatIf ?? new WhatIf(input, site, buildSite) });
}
