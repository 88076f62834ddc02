/**
 * What-if branches on the viewer's server (`shootdown view`, not a static `--out` site). Each trace
 * it serves (the one it was started with, and each branch at /t/<id>/) answers
 *
 *   GET  choices?decision=K   the choices enabled at decision K, described, and the one taken
 *   POST branch {decision, option}   runs the branch and answers where its viewer is
 *   GET  trace.jsonl          the trace itself (what `shootdown run --replay` takes)
 *
 * relative to its page, so the same page works at / and at /t/<id>/. A branch replays the picks
 * before K, takes the option, and lets the run's seeded chooser make the rest (src/sim/branch.ts).
 * Bounded: a branch's trace at most BRANCH_TRACE_CHARS (`view` gives the lower of it and what it
 * takes of a run; a branch past it is stopped and refused), at most BRANCHES_KEPT branches kept and at most BRANCHES_KEPT_BYTES of
 * their traces and pages together (the oldest are dropped first; the newest is always kept), MAX_BODY
 * bytes of request, one run at a time with at most MAX_WAITING waiting. So the server's memory stays
 * bounded whatever its clients ask. Errors are JSON `{error}` with a 4xx status.
 */
import type * as http from 'node:http';
import { findBuiltin } from '../scenarios/builtin.js';
import { validateScenario } from '../scenarios/validate.js';
import { validationContext } from '../sim/catalog.js';
import { BranchError, choicesAt, runBranch, type BranchBase } from '../sim/branch.js';
import type { Pick } from '../sim/chooser.js';
import { readTrace } from '../trace/file.js';
import type { BranchPoint } from '../trace/records.js';
import { findPreset } from '../kernel/variants.js';
import { baseHeaders } from './local-server.js';
import { boundedLines } from './bounded-lines.js';
import type { Site, SiteFile, SiteInput } from './site-types.js';

/**
 * The longest trace a what-if branch may write, in characters. Building a trace's page takes about
 * 13 times the trace at its peak (`view --out` of the 50 MiB trace of T5 on 8192 CPUs: 664 MB resident),
 * on top of what the server keeps: a branch of the 256 MiB `view` takes of a run would need over 3 GB, more
 * than V8's default heap on most machines. 64 MiB takes the branches of T5 on 8192 CPUs.
 */
export const BRANCH_TRACE_CHARS = 64 * 1024 * 1024;

export const BRANCHES_KEPT = 32;
/**
 * What the kept branches may hold together: the bytes of their traces and pages as served. A branch
 * of a large machine writes tens of megabytes (T5 on 8192 CPUs: 441,332 records, 50 MiB, and a 60 MiB
 * page); 32 of them ran the process out of memory. 512 MiB: four of those, all 32 of the usual ones.
 */
export const BRANCHES_KEPT_BYTES = 512 * 1024 * 1024;
/** A branch request is `{"decision":K,"option":N}`: a few dozen bytes. */
export const MAX_BODY = 1024;
const MAX_WAITING = 4;

const JSON_CSP = "default-src 'none'; frame-ancestors 'none'";

interface Served {
  id: string;
  trace: string;
  picks: Pick[];
  /** The page, with this trace in it (the assets are the root site's). */
  page: SiteFile;
  /** What a branch of it writes as `branch.from`. */
  name: string;
  source: string;
  /** The bytes of its trace and page, as served (what BRANCHES_KEPT_BYTES counts). */
  bytes: number;
}

/** The bounds of one server's branches (the defaults above); `view` and tests give their own, read at each branch. */
export interface WhatIfBounds {
  /** How many branches are kept. */
  branches: number;
  /** How many bytes of traces and pages the kept branches may have together. */
  bytes: number;
  /** The longest trace a branch may write, in characters. */
  traceChars: number;
}

/** The defaults, each branch's trace held to at most `limit.chars` too (read when the branch runs). */
export function whatIfBounds(limit: { chars: number } = { chars: BRANCH_TRACE_CHARS }): WhatIfBounds {
  return {
    branches: BRANCHES_KEPT,
    bytes: BRANCHES_KEPT_BYTES,
    get traceChars() {
      return Math.min(BRANCH_TRACE_CHARS, limit.chars);
    },
  };
}

/** A size in words: MiB when it is a whole number of them. */
function sized(n: number, unit: string): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} ${unit}`;
}

/**
 * The run a trace file can be branched from: its header names a built-in scenario, the machine's
 * CPU count, the kernel and the seed. Null (with the reason) when it names a scenario file.
 */
export function branchBaseOfTrace(trace: string): { base: BranchBase } | { why: string } {
  const r = readTrace(trace);
  if (!r.ok) return { why: `the trace cannot be replayed: ${r.error}` };
  const t = r.trace;
  const builtin = t.scenarioDigest === undefined ? findBuiltin(t.scenario) : undefined;
  if (t.scenarioDigest !== undefined) return { why: `the trace was recorded on a scenario file (${JSON.stringify(t.scenario.slice(0, 80))}, header.scenarioDigest), not on the built-in of that name: view the scenario file itself to branch its runs` };
  if (!builtin) return { why: `the trace's scenario ${JSON.stringify(t.scenario.slice(0, 80))} is not a built-in one: view the scenario file itself to branch its runs` };
  const raw = { ...builtin.raw, machine: { ...(builtin.raw.machine as object), cpus: t.cpus } };
  const v = validateScenario(raw, builtin.id, validationContext);
  if (!v.ok) return { why: `the trace's machine does not fit scenario ${builtin.id}` };
  const presetSwitches = findPreset(t.preset)?.switches ?? [];
  const kernel = {
    preset: t.preset,
    fix: t.switches.filter((s) => !presetSwitches.some((p) => p === s)),
    noFix: presetSwitches.filter((s) => !t.switches.includes(s)),
  };
  return { base: { scenario: { ...v.scenario, kernel }, seed: t.seed, mode: t.mode } };
}

type Build = (input: SiteInput) => Promise<Site>;

export class WhatIf {
  private readonly root: Served | null;
  private readonly base: BranchBase | null;
  private readonly why: string;
  private readonly branches = new Map<string, Served>();
  private next = 1;
  /** The bytes of the kept branches (Served.bytes summed). */
  private keptBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /**
   * `input` is what the root page shows (with `base`, the run it comes from; without, that is
   * found from the trace's header when it names a built-in scenario), `site` its files, `build`
   * makes a branch's page; `bounds` are read each time a branch is made.
   */
  constructor(
    input: SiteInput,
    private readonly site: Site,
    private readonly build: Build,
    private readonly bounds: WhatIfBounds = whatIfBounds(),
  ) {
    const found = input.base ? { base: input.base } : branchBaseOfTrace(input.trace);
    this.base = 'base' in found ? found.base : null;
    this.why = 'why' in found ? found.why : '';
    const r = readTrace(input.trace);
    const page = site.get('index.html');
    this.root = r.ok && page ? { id: '', trace: input.trace, picks: r.trace.picks, page, name: this.base?.scenario.id ?? r.trace.scenario, source: input.source, bytes: 0 } : null;
  }

  /**
   * Answers a request for a what-if path (true); for a branch's page or one of its files, gives the
   * file to serve as the site serves its own; false when `target` is none of them.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, target: string): boolean | SiteFile {
    let served = this.root;
    let rest = target;
    const m = /^\/t\/([^/]*)(\/.*)?$/.exec(target);
    if (m) {
      const id = m[1] ?? '';
      const b = this.branches.get(id);
      if (!b) {
        json(res, 404, { error: /^b\d{1,9}$/.test(id) && Number(id.slice(1)) < this.next ? `branch ${id} is no longer kept: this server keeps the last ${this.bounds.branches} branches, at most ${sized(this.bounds.bytes, 'bytes')} of their traces and pages` : `no branch ${JSON.stringify(id.slice(0, 40))} here` });
        return true;
      }
      if (m[2] === undefined) {
        res.writeHead(308, { ...baseHeaders(JSON_CSP), location: `/t/${id}/`, 'content-length': 0 });
        res.end();
        return true;
      }
      served = b;
      rest = m[2];
    }
    if (rest === '/choices' || rest === '/branch' || rest === '/trace.jsonl') {
      if (!served) {
        json(res, 400, { error: 'this trace cannot be read back, so it cannot branch' });
        return true;
      }
      this.route(req, res, served, rest);
      return true;
    }
    if (!m || !served) return false;
    // A branch's page; its assets are the root's (the page names them relative to itself).
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    return rest === '/' || rest === '/index.html' ? served.page : (this.site.get(rest.slice(1)) ?? false);
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, served: Served, rest: string): void {
    if (rest === '/trace.jsonl') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET here' }, { allow: 'GET, HEAD' });
      const name = served.id ? `${served.name.replace(/[^\w.-]/g, '_')}-${served.id}.jsonl` : 'trace.jsonl';
      res.writeHead(200, {
        ...baseHeaders(JSON_CSP),
        'content-type': 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="${name}"`,
        'content-length': Buffer.byteLength(served.trace),
      });
      res.end(req.method === 'HEAD' ? undefined : served.trace);
      return;
    }
    if (!this.base) return json(res, 400, { error: `branching needs the run's scenario: ${this.why}` });
    const base = this.base;
    // Each request runs the simulation: a page on another site (an <img> needs no Origin header) must
    // not be able to keep the queue busy. Browsers say where a request comes from in Sec-Fetch-Site.
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return json(res, 403, { error: `${rest.slice(1)}: only from this server's own pages (Sec-Fetch-Site: ${String(site)})` });
    if (rest === '/choices') {
      if (req.method !== 'GET') return json(res, 405, { error: 'choices: only GET' }, { allow: 'GET' });
      const text = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('decision');
      const decision = index(text, served.picks.length, 'decision', `the trace has ${served.picks.length} decisions`);
      if (typeof decision === 'string') return json(res, 400, { error: decision });
      this.serially(res, async () => {
        const c = await choicesAt(base, served.picks, decision);
        return { status: 200, body: { ...c, branch: served.id || null } };
      });
      return;
    }
    // POST branch: only from this server's own pages (a browser's fetch sends Origin, which the
    // server's common check has compared with its own name), and only JSON.
    if (req.method !== 'POST') return json(res, 405, { error: 'branch: only POST' }, { allow: 'POST' });
    if (req.headers.origin === undefined) return json(res, 403, { error: 'branch: only this server\'s own pages may ask for a branch (no Origin)' });
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'branch: expected a JSON body (content-type application/json)' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) {
      json(res, 413, { error: `branch: the body is ${declared} bytes; at most ${MAX_BODY}` }, { connection: 'close' });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY && !over) {
        over = true;
        json(res, 413, { error: `branch: the body is over ${MAX_BODY} bytes` }, { connection: 'close' });
        req.destroy();
      } else if (!over) chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) return;
      const point = branchRequest(Buffer.concat(chunks).toString('utf8'), served);
      if (typeof point === 'string') return json(res, 400, { error: point });
      this.serially(res, async () => {
        const from = served.id || served.name;
        // Bounded as `view` bounds the run of a scenario: past the limit the lines are let go and the run is stopped.
        const max = this.bounds.traceChars;
        const kept = boundedLines(max);
        const { lines, onRecord } = kept;
        const tooLarge = () =>
          new BranchError(
            `branch: decision ${point.decision} → option ${point.option} writes a trace longer than ${sized(max, 'characters')}, the most a what-if branch may write, so it was stopped and is not kept (the machine has ${base.scenario.machine.cpus} CPUs)`,
            422,
          );
        const result = await runBranch(base, served.picks, { from, ...point }, onRecord, () => (kept.over() ? Promise.reject(tooLarge()) : null));
        if (kept.over()) throw tooLarge();
        const trace = lines.join('\n') + '\n';
        const read = readTrace(trace);
        if (!read.ok) throw new Error(`the branch's own trace does not read back: ${read.error}`);
        const id = `b${this.next++}`;
        const source = `${this.root?.source ?? from} · what if: decision ${point.decision} → option ${point.option} (${id})`;
        const page = (await this.build({ trace, source, violations: result.outcome.violations })).get('index.html');
        if (!page) throw new Error('no page built');
        const bytes = Buffer.byteLength(trace) + (typeof page.body === 'string' ? Buffer.byteLength(page.body) : page.body.length);
        this.branches.set(id, { id, trace, picks: read.trace.picks, page, name: served.name, source, bytes });
        this.keptBytes += bytes;
        // The oldest go first, by count and by bytes; the newest stays (its trace is within the limit above).
        while (this.branches.size > 1 && (this.branches.size > this.bounds.branches || this.keptBytes > this.bounds.bytes)) {
          const [oldest, b] = this.branches.entries().next().value as [string, Served];
          this.branches.delete(oldest);
          this.keptBytes -= b.bytes;
        }
        return { status: 201, body: { id, url: `/t/${id}/`, from, decision: point.decision, option: point.option, records: lines.length } };
      });
    });
  }

  /** One simulation at a time: they share the process's two cores with everything else. */
  private serially(res: http.ServerResponse, task: () => Promise<{ status: number; body: unknown }>): void {
    if (this.waiting >= MAX_WAITING) return json(res, 503, { error: 'busy: other what-if runs are waiting; try again' }, { 'retry-after': '1' });
    this.waiting += 1;
    const run = this.queue.then(async () => {
      try {
        const { status, body } = await task();
        json(res, status, body);
      } catch (e) {
        if (e instanceof BranchError) json(res, e.status, { error: e.message });
        else json(res, 500, { error: 'internal error' });
      } finally {
        this.waiting -= 1;
      }
    });
    this.queue = run;
  }
}

/** A decision or option index from text: digits only, below `count`; else the words for the error. */
function index(text: string | null | undefined, count: number, name: string, range: string): number | string {
  if (text === null || text === undefined) return `${name}: missing (?${name}=K)`;
  if (!/^\d{1,9}$/.test(text)) return `${name}: expected a non-negative integer, got ${JSON.stringify(text.slice(0, 20))}`;
  const k = Number(text);
  if (k >= count) return `${name} ${k}: out of range (${range})`;
  return k;
}

function branchRequest(body: string, served: Served): Omit<BranchPoint, 'from'> | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'branch: the body is not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'branch: expected {"decision": K, "option": N}';
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => k !== 'decision' && k !== 'option');
  if (extra !== undefined) return `branch: unknown field ${JSON.stringify(extra.slice(0, 40))} (expected decision and option)`;
  const d = o.decision;
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) return `branch: decision: expected a non-negative integer, got ${JSON.stringify(d) ?? 'nothing'}`;
  if (d >= served.picks.length) return `branch: decision ${d}: out of range (the trace has ${served.picks.length} decisions)`;
  const n = served.picks[d]?.n ?? 0;
  const p = o.option;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) return `branch: option: expected a non-negative integer, got ${JSON.stringify(p) ?? 'nothing'}`;
  if (p >= n) return `branch: option ${p}: out of range (decision ${d} has ${n} choices, 0 to ${n - 1})`;
  return { decision: d, option: p };
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { ...baseHeaders(JSON_CSP), ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
