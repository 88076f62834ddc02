/**
 * What-if branches on `shootdown view`'s server, through real HTTP: the choices at a decision, a
 * branch that takes another one and is served at its own address, the branch's trace replaying
 * through `shootdown run --replay`, and every bad request refused with the reason.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { viewCommand, VIEW_TRACE_LIMIT } from '../../src/cli/viz-commands.js';
import { BRANCHES_KEPT, BRANCHES_KEPT_BYTES, WhatIf, type WhatIfBounds } from '../../src/viz/branch-server.js';
import { buildSite, serveSite, type RunningViewer } from '../../src/viz/site.js';
import { readTrace } from '../../src/trace/file.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { memoryIo } from '../cli/memory-io.js';
import { request, type Answer } from '../cli/server-client.js';
import { builtin, traceText } from './helpers.js';

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'shootdown-whatif-'));
const servers: RunningViewer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `shootdown view ARGS --port 0`, as the CLI runs it; the server it started. */
async function view(...args: string[]): Promise<RunningViewer> {
  let viewer: RunningViewer | undefined;
  const io = memoryIo();
  expect(await viewCommand([...args, '--port', '0'], io.cli, { onServer: (v) => (viewer = v) }), io.err()).toBe(0);
  servers.push(viewer as RunningViewer);
  return viewer as RunningViewer;
}

function post(port: number, path: string, body: string, headers: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: Object.fromEntries(Object.entries({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json', ...headers }).filter(([, v]) => v !== undefined)) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve({ status: 0, headers: {}, body: '' }) : reject(e)));
    req.end(body);
  });
}

const get = (port: number, path: string, headers: http.OutgoingHttpHeaders = {}) => request(port, path, { host: `127.0.0.1:${port}`, ...headers });

interface Choices {
  decision: number;
  kind: string;
  n: number;
  taken: number;
  options: { option: number; text: string }[];
}

const t5 = traceText(builtin('T5'));
const t5Read = readTrace(t5);
if (!t5Read.ok) throw new Error(t5Read.error);
const { picks, records } = t5Read.trace;
/** A decision of the scheduler between CPUs stepping. */
const K = picks.findIndex((p) => p.kind === 'next');
const other = ((picks[K]?.pick as number) + 1) % (picks[K]?.n as number);
const choiceLine = records.findIndex((l) => l.startsWith(`{"t":"choice","i":${K},`));

describe('view T5: choices and branches', () => {
  let v: RunningViewer;
  beforeAll(async () => {
    v = await view('T5');
  }, 60_000);

  it('GET choices?decision=K lists the enabled choices, the one taken marked', async () => {
    const r = await get(v.port, `/choices?decision=${K}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const c = JSON.parse(r.body) as Choices;
    expect(c).toMatchObject({ decision: K, kind: 'next', n: picks[K]?.n, taken: picks[K]?.pick });
    expect(c.options).toHaveLength(c.n);
    const taken = c.options[c.taken]?.text ?? '';
    expect(c.options.filter((o) => o.option !== c.taken).every((o) => o.text !== taken)).toBe(true);
    for (const o of c.options) expect(o.text).toMatch(/^CPU\d+ steps|lands on|fires on|script\[/);
  });

  it('a request another site makes (Sec-Fetch-Site: cross-site, as for an <img>) runs nothing: 403', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const r = await get(v.port, `/choices?decision=${K}`, { 'sec-fetch-site': site });
      expect(r.status).toBe(403);
    }
    expect((await get(v.port, `/choices?decision=${K}`, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });

  it('POST branch runs the other choice and serves it at its own address; its trace replays through run --replay', async () => {
    const r = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }));
    expect(r.status, r.body).toBe(201);
    const b = JSON.parse(r.body) as { id: string; url: string; from: string };
    expect(b.url).toBe(`/t/${b.id}/`);
    expect(b.from).toBe('T5');
    const page = await get(v.port, b.url);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('what if: decision');
    expect((await get(v.port, `${b.url}viewer.js`)).status).toBe(200);
    expect((await get(v.port, `/t/${b.id}`)).status).toBe(308);
    const trace = await get(v.port, `${b.url}trace.jsonl`);
    expect(trace.status).toBe(200);
    const lines = trace.body.trimEnd().split('\n');
    expect(JSON.parse(lines[0] as string).branch).toEqual({ from: 'T5', decision: K, option: other });
    // The same run up to the decision, another one from there.
    expect(lines.slice(1, choiceLine)).toEqual(records.slice(1, choiceLine));
    expect(JSON.parse(lines[choiceLine] as string)).toMatchObject({ t: 'choice', i: K, pick: other });
    expect(lines.slice(choiceLine + 1)).not.toEqual(records.slice(choiceLine + 1));

    const file = nodePath.join(dir, 'branch.jsonl');
    fs.writeFileSync(file, trace.body);
    const io = memoryIo();
    expect(await main(['run', '--replay', file], io.cli), io.err()).toBe(0);
    expect(io.err()).toContain(`replay: reproduced all ${lines.length} trace lines`);
    // The replay writes the same trace, the branch point in its header included.
    const again2 = nodePath.join(dir, 'replayed.jsonl');
    expect(await main(['run', '--replay', file, '--trace', again2], memoryIo().cli)).toBe(0);
    expect(fs.readFileSync(again2, 'utf8')).toBe(trace.body);

    // A branch of the branch, from its own page's address.
    const again = await post(v.port, `${b.url}branch`, JSON.stringify({ decision: 0, option: 0 }));
    expect(again.status, again.body).toBe(201);
    const bb = JSON.parse(again.body) as { url: string; from: string };
    expect(bb.from).toBe(b.id);
    const c = await get(v.port, `${b.url}choices?decision=${K}`);
    expect(JSON.parse(c.body)).toMatchObject({ decision: K, taken: other });
  });

  it.each([
    ['an unknown decision', `/choices?decision=${picks.length}`, /decision \d+: out of range \(the trace has \d+ decisions\)/],
    ['a decision that is no number', '/choices?decision=1e3', /decision: expected a non-negative integer/],
    ['no decision', '/choices', /decision: missing/],
    ['an unknown branch', '/t/b999/choices?decision=0', /no branch|no longer kept/],
  ])('GET with %s → JSON 4xx naming it', async (_what, path, message) => {
    const r = await get(v.port, path);
    expect([400, 404]).toContain(r.status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect((JSON.parse(r.body) as { error: string }).error).toMatch(message);
  });

  it.each([
    ['an option out of range', JSON.stringify({ decision: K, option: picks[K]?.n }), 400, /option \d+: out of range \(decision \d+ has \d+ choices/],
    ['an unknown decision', JSON.stringify({ decision: picks.length, option: 0 }), 400, /decision \d+: out of range/],
    ['a negative option', JSON.stringify({ decision: K, option: -1 }), 400, /option: expected a non-negative integer/],
    ['a field too many', JSON.stringify({ decision: K, option: 0, seed: 3 }), 400, /unknown field "seed"/],
    ['no JSON', 'decision=1&option=0', 400, /not JSON/],
    ['a list', '[1,2]', 400, /expected \{"decision"/],
  ])('POST branch with %s → refused, saying why', async (_what, body, status, message) => {
    const r = await post(v.port, '/branch', body);
    expect(r.status).toBe(status);
    expect((JSON.parse(r.body) as { error: string }).error).toMatch(message);
  });

  it('POST branch with a body over the bound → 413, nothing run', async () => {
    const big = JSON.stringify({ decision: K, option: 0, pad: 'x'.repeat(64 * 1024) });
    const r = await post(v.port, '/branch', big);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error).toMatch(/at most 1024/);
    // Sent in chunks without a length: stopped as it goes over.
    const chunked = await post(v.port, '/branch', big, { 'transfer-encoding': 'chunked' });
    expect([0, 413]).toContain(chunked.status);
  });

  it('POST branch without Origin, from another origin, to another Host or not as JSON is refused as the other paths are', async () => {
    const noOrigin = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }), { origin: undefined });
    expect(noOrigin.status).toBe(403);
    const foreign = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }), { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('not answered');
    const rebound = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }), { host: `evil.example:${v.port}` });
    expect(rebound.status).toBe(421);
    const form = await post(v.port, '/branch', 'decision=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect((await get(v.port, `/choices?decision=${K}`, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(v.port, '/branch')).status).toBe(405);
  });
});

describe('what can branch', () => {
  it('a trace file served by view branches from its header (scenario, kernel, seed)', async () => {
    const file = nodePath.join(dir, 't5.jsonl');
    fs.writeFileSync(file, t5);
    const v = await view(file);
    const c = await get(v.port, `/choices?decision=${K}`);
    expect(c.status, c.body).toBe(200);
    expect(JSON.parse(c.body)).toMatchObject({ decision: K, taken: picks[K]?.pick });
    expect((await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }))).status).toBe(201);
  });

  it('a trace of a scenario file, served as a trace, says why it cannot branch; the scenario file itself can', async () => {
    const scenarioFile = nodePath.join(dir, 'mine.json');
    fs.writeFileSync(scenarioFile, JSON.stringify(findBuiltin('T5')?.raw));
    const io = memoryIo();
    const traced = nodePath.join(dir, 'mine.jsonl');
    expect(await main(['run', scenarioFile, '--trace', traced], io.cli), io.err()).toBe(0);
    // The header names the scenario by its file's name: no built-in, and the server reads no file on a trace's word.
    expect(JSON.parse(fs.readFileSync(traced, 'utf8').split('\n')[0] as string)).toMatchObject({ scenario: 'mine' });
    const fromTrace = await view(traced);
    const r = await get(fromTrace.port, `/choices?decision=${K}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatch(/branching needs the run's scenario: .*recorded on a scenario file .*view the scenario file itself/);
    expect((await post(fromTrace.port, '/branch', JSON.stringify({ decision: K, option: other }))).status).toBe(400);
    const fromScenario = await view(scenarioFile);
    expect((await get(fromScenario.port, `/choices?decision=${K}`)).status).toBe(200);
    // A file named like a built-in: its trace is not branched as the built-in (its digest says so).
    const sub = nodePath.join(dir, 'named-like-builtin');
    fs.mkdirSync(sub, { recursive: true });
    const likeT5 = nodePath.join(sub, 'T5.json');
    fs.writeFileSync(likeT5, JSON.stringify({ ...(findBuiltin('T5')?.raw as Record<string, unknown>), name: 'not the built-in', script: [{ cpu: 0, do: 'panic', at: 0, message: 'mine' }] }));
    const likeTrace = nodePath.join(sub, 't5.jsonl');
    expect(await main(['run', likeT5, '--trace', likeTrace], memoryIo().cli)).toBe(0);
    const fromLike = await view(likeTrace);
    const refused = await get(fromLike.port, `/choices?decision=0`);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error).toMatch(/recorded on a scenario file \("T5", header\.scenarioDigest\), not on the built-in of that name/);
  });

  it(`keeps at most the given number of branches; an older one's address says it is gone`, async () => {
    const site = await buildSite({ trace: t5, source: 'T5' });
    const v = await serveSite(site, 0, { whatIf: new WhatIf({ trace: t5, source: 'T5' }, site, buildSite, { branches: 2, bytes: BRANCHES_KEPT_BYTES, traceChars: VIEW_TRACE_LIMIT.chars }) });
    servers.push(v);
    const urls: string[] = [];
    for (let k = 0; k < 3; k++) {
      const r = await post(v.port, '/branch', JSON.stringify({ decision: k, option: 0 }));
      expect(r.status, r.body).toBe(201);
      urls.push((JSON.parse(r.body) as { url: string }).url);
    }
    const gone = await get(v.port, urls[0] as string);
    expect(gone.status).toBe(404);
    expect(JSON.parse(gone.body).error).toMatch(/no longer kept: this server keeps the last 2 branches/);
    for (const u of urls.slice(1)) expect((await get(v.port, u)).status).toBe(200);
  }, 60_000);
});

describe("the server's memory is bounded whatever the client asks", () => {
  it("a branch whose trace passes the viewer's limit is stopped and refused (422, saying why); the server answers on", async () => {
    const file = nodePath.join(dir, 't5-limit.jsonl');
    fs.writeFileSync(file, t5);
    const v = await view(file);
    // Less than the lines the branch shares with the trace before its decision (its header is longer still).
    const limit = records.slice(0, choiceLine).reduce((a, l) => a + l.length + 1, 0);
    expect(limit).toBeLessThan(t5.length);
    const was = VIEW_TRACE_LIMIT.chars;
    VIEW_TRACE_LIMIT.chars = limit;
    try {
      const r = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }));
      expect(r.status, r.body).toBe(422);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect((JSON.parse(r.body) as { error: string }).error).toBe(
        `branch: decision ${K} → option ${other} writes a trace longer than ${limit} characters, the most a what-if branch may write, so it was stopped and is not kept (the machine has 4 CPUs)`,
      );
      expect((await get(v.port, `/choices?decision=${K}`)).status).toBe(200);
    } finally {
      VIEW_TRACE_LIMIT.chars = was;
    }
    // Nothing was kept of it: the next branch is the server's first.
    const ok = await post(v.port, '/branch', JSON.stringify({ decision: K, option: other }));
    expect(ok.status, ok.body).toBe(201);
    expect(JSON.parse(ok.body)).toMatchObject({ id: 'b1' });
  }, 60_000);

  it('the kept branches are bounded by bytes too: the oldest go first, the newest stays', async () => {
    const site = await buildSite({ trace: t5, source: 'T5' });
    const bounds: WhatIfBounds = { branches: BRANCHES_KEPT, bytes: BRANCHES_KEPT_BYTES, traceChars: VIEW_TRACE_LIMIT.chars };
    const v = await serveSite(site, 0, { whatIf: new WhatIf({ trace: t5, source: 'T5' }, site, buildSite, bounds) });
    servers.push(v);
    const branch = async (decision: number): Promise<string> => {
      const r = await post(v.port, '/branch', JSON.stringify({ decision, option: 0 }));
      expect(r.status, r.body).toBe(201);
      return (JSON.parse(r.body) as { url: string }).url;
    };
    /** What a kept branch holds, as served: its trace and its page. */
    const bytes = async (url: string): Promise<number> => Buffer.byteLength((await get(v.port, `${url}trace.jsonl`)).body) + Buffer.byteLength((await get(v.port, url)).body);
    const urls = [await branch(0), await branch(1)];
    const sizes = await Promise.all(urls.map(bytes));
    // Room for the second and one more like the first (the same branch again: the same bytes).
    bounds.bytes = (sizes[1] as number) + (sizes[0] as number);
    urls.push(await branch(0));
    expect(await bytes(urls[2] as string)).toBe(sizes[0]);
    const gone = await get(v.port, urls[0] as string);
    expect(gone.status).toBe(404);
    expect(JSON.parse(gone.body).error).toBe(`branch b1 is no longer kept: this server keeps the last ${BRANCHES_KEPT} branches, at most ${bounds.bytes} bytes of their traces and pages`);
    for (const kept of urls.slice(1)) expect((await get(v.port, kept)).status).toBe(200);
    // Less room than any branch takes: only the newest is kept.
    bounds.bytes = 1;
    const last = await branch(1);
    expect((await get(v.port, last)).status).toBe(200);
    for (const old of urls.slice(1)) expect((await get(v.port, old)).status).toBe(404);
  }, 120_000);
});
