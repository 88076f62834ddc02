/**
 * `shootdown run --inspect`'s bridge server as its page, another site, a DNS-rebinding page and a
 * client that talks back meet it: real HTTP and a real WebSocket client (`ws`). It listens on
 * loopback, checks Host and Origin on the page and on the upgrade, relays nothing a client sends,
 * and its flags are checked before the run. `--inspect-linger 0` is run as a process: it must exit.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { main } from '../../src/cli/main.js';
import { INSPECT_PORT, inspectPlan, startInspection } from '../../src/cli/inspect.js';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { memoryIo } from './memory-io.js';
import { connects, freePort, occupy, raw, request } from './server-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-inspect-server-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tick = () => new Promise((r) => setTimeout(r, 20));

/** The bridge of a run of T1, kept open until the test closes it. */
async function bridge() {
  const t = memoryIo();
  const plan = inspectPlan({ inspect: true, 'inspect-port': '0' });
  if (!plan) throw new Error('no plan');
  const r = loadBuiltin('T1');
  if (!r?.ok) throw new Error('T1');
  const session = await startInspection(plan, t.cli, { scenario: r.scenario, options: { seed: 1 } });
  runScenario(r.scenario, { seed: 1, inspect: session.inspect });
  return { t, session, url: session.url, port: Number(new URL(session.url).port) };
}

type Opened = { ws: WebSocket; messages: string[]; closed: Promise<number> };

function open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const messages: string[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code: number) => r(code)));
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

describe('the inspection bridge', () => {
  let b: Awaited<ReturnType<typeof bridge>>;
  beforeAll(async () => {
    b = await bridge();
  }, 60_000);
  afterAll(() => b.session.close());

  it('listens on 127.0.0.1 only, and says so', async () => {
    expect(b.url).toBe(`http://127.0.0.1:${b.port}/`);
    expect(b.t.err()).toContain('inspection: listening on 127.0.0.1 only: nothing outside this machine can connect (--inspect-host ADDR to change)\n');
    expect(await connects(b.port, '127.0.0.1')).toBe(true);
    expect(await connects(b.port, '127.0.0.2')).toBe(false);
  });

  it('serves its page to its own name, with a CSP that allows only the hosted inspector frame', async () => {
    const page = await request(b.port, '/', { host: `127.0.0.1:${b.port}` });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['content-security-policy']).toContain('frame-src https://stately.ai;');
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    expect(page.body).toContain('<iframe id="inspector" src="https://stately.ai/inspect">');
    expect((await request(b.port, '/bridge.js', { host: `localhost:${b.port}` })).headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('refuses the page under another name (421) and to another origin (403)', async () => {
    expect((await request(b.port, '/', { host: `rebound.evil.example:${b.port}` })).status).toBe(421);
    expect((await request(b.port, '/bridge.js', { host: `127.0.0.1:${b.port}`, origin: 'http://evil.example' })).status).toBe(403);
  });

  it('survives a malformed request target and an odd method', async () => {
    expect((await raw(b.port, `GET /%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nConnection: close\r\n\r\n`)).status).toBe(400);
    expect((await raw(b.port, `PUT / HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)).status).toBe(405);
    expect((await request(b.port, '/', { host: `127.0.0.1:${b.port}` })).status).toBe(200);
  });

  it('refuses a WebSocket from another origin (403) or under another name (421)', async () => {
    await expect(open(`ws://127.0.0.1:${b.port}/`, { origin: 'http://evil.example' })).rejects.toThrow('refused 403');
    await expect(open(`ws://127.0.0.1:${b.port}/`, { headers: { host: `rebound.evil.example:${b.port}` } })).rejects.toThrow('refused 421');
  });

  const handshake = (extra: string) => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${extra}\r\n`;
  const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

  it.each([
    ['no key', 400, 'Sec-WebSocket-Version: 13\r\n'],
    ['a key that is not 16 bytes', 400, 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n'],
    ['another protocol version', 426, `Sec-WebSocket-Version: 8\r\n${KEY}`],
  ])('a WebSocket handshake with %s → %i', async (_what, status, extra) => {
    expect((await raw(b.port, handshake(extra))).status).toBe(status);
  });

  it.each([
    ['an unmasked ping', 1002, [0x89, 0x00]],
    ['a ping claiming 2^63 bytes', 1002, [0x89, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]],
    ['a binary frame claiming 2^63 bytes', 1003, [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]],
  ])('%s after the handshake: closed with %i, nothing buffered', async (_what, code, bytes) => {
    const r = await raw(b.port, Buffer.concat([Buffer.from(handshake(`Sec-WebSocket-Version: 13\r\n${KEY}`), 'latin1'), Buffer.from(bytes)]));
    expect(r.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(r.text).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    const close = Buffer.from(r.text.slice(r.text.indexOf('\r\n\r\n') + 4), 'latin1');
    expect([...close]).toEqual([0x88, 0x02, code >> 8, code & 0xff]);
  });

  it('pushes the run to its own page, and relays nothing a client sends', async () => {
    const page = await open(`ws://127.0.0.1:${b.port}/`, { origin: `http://127.0.0.1:${b.port}` });
    const intruder = await open(`ws://localhost:${b.port}/`);
    const injected = JSON.stringify({ type: '@xstate.event', sessionId: 'x', event: { type: 'injected' }, _version: '0.7.2' });
    intruder.ws.send(injected);
    // A client that sends data is closed with 1003 ("unsupported data").
    expect(await intruder.closed).toBe(1003);
    // The page got the run's events (kept for pages that open after the run), never the injected one.
    for (let i = 0; i < 500 && page.messages.length === 0; i++) await tick();
    const events = page.messages.map((m) => JSON.parse(m) as { type: string; sessionId: string; event?: { type: string } });
    expect(events.some((e) => e.type === '@xstate.event' && e.event?.type.startsWith('sched.'))).toBe(true);
    expect(new Set(events.map((e) => e.sessionId)).size).toBeGreaterThan(1);
    // A ping still gets its pong: the page's socket is alive after the intruder was thrown out.
    const pong = new Promise<string>((r) => page.ws.once('pong', (d: Buffer) => r(d.toString())));
    page.ws.ping('alive');
    expect(await pong).toBe('alive');
    expect(page.messages).not.toContain(injected);
    page.ws.close();
    expect(await page.closed).toBe(1000);
  });
});

describe('--inspect flags are checked before the run', () => {
  it.each([['abc'], ['-1'], ['1e3'], ['NaN'], [''], ['Infinity'], ['86401'], ['0x10']])('--inspect-linger %j → exit 2, nothing run or written', async (bad) => {
    const t = memoryIo();
    const trace = path.join(dir, `linger-${bad || 'empty'}.jsonl`);
    expect(await main(['run', 'T1', '--inspect', '--inspect-port', String(await freePort()), `--inspect-linger=${bad}`, '--trace', trace], t.cli)).toBe(2);
    expect(t.err()).toBe(`shootdown: --inspect-linger: expected seconds from 0 to 86400 (0: exit right after the run), got ${JSON.stringify(bad)}\n`);
    expect(t.out()).toBe('');
    expect(fs.existsSync(trace)).toBe(false);
  });

  it.each([
    [['--inspect-linger', '5'], /^shootdown: --inspect-linger goes with --inspect or --inspect-wait\n$/],
    [['--inspect', '--inspect-port', '70000'], /^shootdown: --inspect-port: expected an integer from 0 to 65535, got '70000'\n$/],
    [['--inspect', '--inspect-host', 'a;b'], /^shootdown: --inspect-host: expected an IP address or a host name, got "a;b"\n$/],
  ])('%j → exit 2', async (flags, message) => {
    const t = memoryIo();
    expect(await main(['run', 'T1', ...flags], t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.out()).toBe('');
  });
});

describe('a port in use', () => {
  it('an explicit --inspect-port: exit 2 naming it, before the run', async () => {
    const busy = await freePort();
    const held = await occupy(busy);
    try {
      const t = memoryIo();
      const trace = path.join(dir, 'busy.jsonl');
      expect(await main(['run', 'T1', '--inspect', '--inspect-port', String(busy), '--inspect-linger', '0', '--trace', trace], t.cli)).toBe(2);
      expect(t.err()).toBe(`shootdown: --inspect-port ${busy}: the port is in use on 127.0.0.1 (give another, or 0 for any free port)\n`);
      expect(t.out()).toBe('');
      expect(fs.readdirSync(dir).filter((f) => f.startsWith('busy'))).toEqual([]);
    } finally {
      await held.release();
    }
  });

  it(`the default ${INSPECT_PORT}: the next free port, said plainly`, async () => {
    const held = await occupy(INSPECT_PORT);
    try {
      const t = memoryIo();
      expect(await main(['run', 'T1', '--inspect', '--inspect-linger', '0', '--json'], t.cli)).toBe(0);
      const port = Number(/inspection: open http:\/\/127\.0\.0\.1:(\d+)\//.exec(t.err())?.[1]);
      expect(port).toBeGreaterThan(INSPECT_PORT);
      expect(t.err()).toContain(`inspection: port ${INSPECT_PORT} is in use, so the bridge listens on port ${port}\n`);
      // linger 0: closed when the run returns.
      expect(await connects(port, '127.0.0.1')).toBe(false);
    } finally {
      await held.release();
    }
  });
});

describe('--inspect-linger 0 as a process', () => {
  // The CLI as a user runs it, compiled from this checkout (not a possibly stale dist/).
  const out = path.join(root, 'node_modules', '.cache', `shootdown-inspect-test-${process.pid}`);
  beforeAll(() => {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'pipe' });
  }, 120_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('exits right after the run, with the outcome printed', async () => {
    const port = String(await freePort());
    const child = spawn(process.execPath, [path.join(out, 'src/cli/main.js'), 'run', 'T1', '--inspect', '--inspect-port', port, '--inspect-linger', '0', '--json'], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hang shows as this test's timeout; nothing here measures how fast it exits.
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(stderr).toContain(`inspection: open http://127.0.0.1:${port}/`);
    expect(stderr).not.toContain('serving for');
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { scenario: { id: string } }).scenario.id).toBe('T1');
  }, 60_000);

  it('--inspect-wait: Ctrl-C while it waits for a page ends it, with nothing run', async () => {
    const port = String(await freePort());
    const child = spawn(process.execPath, [path.join(out, 'src/cli/main.js'), 'run', 'T1', '--inspect-wait', '--inspect-port', port, '--json'], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const waiting = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('inspection: waiting')) resolve();
      }),
    );
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    await waiting;
    child.kill('SIGINT');
    const { code, signal } = await exited;
    expect(signal === 'SIGINT' || code === 130).toBe(true);
    expect(stdout).toBe('');
    expect(stderr).not.toContain('inspection: connected');
  }, 60_000);
});
