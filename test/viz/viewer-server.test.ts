/**
 * `shootdown view`'s server as a browser, a DNS-rebinding page, another site and a broken client
 * meet it: real requests on a real socket. It listens on loopback only, answers only to its own
 * name and origin, survives any request line, and labels what it serves.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viewCommand } from '../../src/cli/viz-commands.js';
import { buildSite, serveSite, VIEWER_PORT, type RunningViewer, type Site } from '../../src/viz/site.js';
import { memoryIo } from '../cli/memory-io.js';
import { connects, freePort, occupy, raw, request } from '../cli/server-client.js';
import { builtin, traceText } from './helpers.js';

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'shootdown-viewer-server-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function traceFile(): string {
  const file = nodePath.join(dir, 't5.jsonl');
  if (!fs.existsSync(file)) fs.writeFileSync(file, traceText(builtin('T5')));
  return file;
}

let site: Site;
let viewer: RunningViewer;
let port: number;

beforeAll(async () => {
  site = await buildSite({ trace: traceText(builtin('T5')), source: 'T5' });
  viewer = await serveSite(site);
  port = viewer.port;
}, 60_000);
afterAll(() => viewer.close());

const host = () => `127.0.0.1:${port}`;

describe('the viewer answers only to its own name (DNS rebinding)', () => {
  it.each([['127.0.0.1'], ['localhost'], ['[::1]']])('Host %s:<port> → 200', async (name) => {
    expect((await request(port, '/', { host: `${name}:${port}` })).status).toBe(200);
  });

  it.each([['evil.example:PORT'], ['evil.example'], ['127.0.0.1:1'], ['localhost'], ['127.0.0.1.evil.example:PORT']])('Host %j → 421', async (forged) => {
    const r = await request(port, '/', { host: forged.replace('PORT', String(port)) });
    expect(r.status).toBe(421);
    expect(r.body).not.toContain('<script');
  });

  it('no Host at all (HTTP/1.0) → 421', async () => {
    expect((await raw(port, 'GET / HTTP/1.0\r\n\r\n')).status).toBe(421);
  });

  it.each([
    ['its own, then another', 'HOST', 'evil.example'],
    ['another, then its own', 'evil.example', 'HOST'],
  ])('two Host headers (%s) → 400: a proxy in front could route on either', async (_what, a, b) => {
    const r = await raw(port, `GET / HTTP/1.1\r\nHost: ${a.replace('HOST', host())}\r\nHost: ${b.replace('HOST', host())}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(400);
  });

  it('two Origin headers → 400', async () => {
    const r = await raw(port, `GET / HTTP/1.1\r\nHost: ${host()}\r\nOrigin: http://${host()}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(400);
  });
});

describe('the viewer answers no other site (Origin)', () => {
  it.each([['http://evil.example'], ['null'], ['https://127.0.0.1:PORT'], ['http://127.0.0.1:1'], ['http://localhost.evil.example:PORT']])('Origin %s → 403', async (origin) => {
    const r = await request(port, '/index.html', { host: host(), origin: origin.replace('PORT', String(port)) });
    expect(r.status).toBe(403);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('its own origin → 200', async () => {
    expect((await request(port, '/viewer.js', { host: host(), origin: `http://127.0.0.1:${port}` })).status).toBe(200);
    expect((await request(port, '/viewer.js', { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
  });
});

describe('the viewer survives any request', () => {
  it.each([
    ['a malformed escape', 400, `GET /%E0%A4%A HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['an escape that is not UTF-8', 400, `GET /%FF HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['an absolute-form target', 400, `GET http://evil.example/ HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['a scheme-relative target', 400, `GET //evil.example/index.html HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['a path out of the site', 404, `GET /../package.json HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['an escaped path out of the site', 404, `GET /..%2fpackage.json HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['POST', 405, `POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`],
    ['DELETE', 405, `DELETE /index.html HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['OPTIONS *', 405, `OPTIONS * HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['a method no parser knows', 400, `BREW / HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
    ['a request line of garbage', 400, `\u0000\u0001 nothing\r\n\r\n`],
    ['a 20 kB URL', 431, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n`],
  ])('%s → %i, and the next request is served', async (_what, status, text) => {
    const r = await raw(port, text.replace('HOST', host()));
    expect(r.status).toBe(status);
    expect((await request(port, '/', { host: host() })).status).toBe(200);
  });

  it('HEAD: the headers without the body', async () => {
    const r = await raw(port, `HEAD /viewer.css HTTP/1.1\r\nHost: ${host()}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(r.text.endsWith('\r\n\r\n')).toBe(true);
  });
});

describe('what the viewer serves is labelled', () => {
  it.each([
    ['/', 'text/html; charset=utf-8'],
    ['/viewer.js', 'text/javascript; charset=utf-8'],
    ['/viewer.css', 'text/css; charset=utf-8'],
    ['/nope', 'text/plain; charset=utf-8'],
  ])('%s: its type, nosniff, a CSP that keeps it to its own files, no CORS', async (path, type) => {
    const r = await request(port, path, { host: host() });
    expect(r.headers['content-type']).toBe(type);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    const csp = r.headers['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    if (path === '/') for (const d of ["script-src 'self'", "worker-src 'self'"]) expect(csp).toContain(d);
    expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });
});

describe('where the viewer listens', () => {
  it('127.0.0.1 only: another loopback address of the machine is refused', async () => {
    expect(await connects(port, '127.0.0.1')).toBe(true);
    expect(await connects(port, '127.0.0.2')).toBe(false);
  });

  it('--host 0.0.0.0 warns, serves beyond 127.0.0.1, and still refuses a DNS name that is not this machine', async () => {
    const t = memoryIo();
    let served: RunningViewer | null = null;
    expect(await viewCommand([traceFile(), '--port', '0', '--host', '0.0.0.0'], t.cli, { onServer: (s) => (served = s) })).toBe(0);
    const s = served as unknown as RunningViewer;
    try {
      expect(t.err()).toMatch(/^warning: --host 0\.0\.0\.0 is not a loopback address: anyone who can reach this machine on port \d+ can read/);
      expect(t.out()).toContain('listening on 0.0.0.0');
      expect(await connects(s.port, '127.0.0.2')).toBe(true);
      expect((await request(s.port, '/', { host: `127.0.0.2:${s.port}` }, 'GET', '127.0.0.2')).status).toBe(200);
      expect((await request(s.port, '/', { host: `evil.example:${s.port}` }, 'GET', '127.0.0.2')).status).toBe(421);
    } finally {
      await s.close();
    }
  });

  it('a host given by name: the URL keeps the name, and requests under it are answered', async () => {
    const named = await serveSite(site, 0, { host: 'localhost' });
    try {
      expect(named.url).toBe(`http://localhost:${named.port}/`);
      expect((await request(named.port, '/', { host: `localhost:${named.port}` }, 'GET', 'localhost')).status).toBe(200);
      expect((await request(named.port, '/', { host: `evil.example:${named.port}` }, 'GET', 'localhost')).status).toBe(421);
    } finally {
      await named.close();
    }
  });

  it.each([['a b'], ['evil.example/x'], ['']])('--host %j → exit 2', async (bad) => {
    const t = memoryIo();
    expect(await viewCommand(['T5', '--host', bad], t.cli)).toBe(2);
    expect(t.err()).toMatch(/^shootdown: --host: expected an IP address or a host name/);
  });

  it('the console line says it is loopback only', async () => {
    const t = memoryIo();
    let served: RunningViewer | null = null;
    expect(await viewCommand([traceFile(), '--port', '0'], t.cli, { onServer: (s) => (served = s) })).toBe(0);
    await (served as unknown as RunningViewer).close();
    expect(t.out()).toMatch(/\nlistening on 127\.0\.0\.1 only: nothing outside this machine can connect \(--host ADDR to change\)\. Ctrl-C stops it\.\n$/);
    expect(t.err()).toBe('');
  });
});

describe('the viewer port', () => {
  it(`without --port: ${VIEWER_PORT}, and when that is taken the next free one, said plainly`, async () => {
    const held = await occupy(VIEWER_PORT);
    const t = memoryIo();
    let served: RunningViewer | null = null;
    try {
      expect(await viewCommand([traceFile()], t.cli, { onServer: (s) => (served = s) })).toBe(0);
      const s = served as unknown as RunningViewer;
      expect(s.port).toBeGreaterThan(VIEWER_PORT);
      expect(t.out()).toContain(`http://127.0.0.1:${s.port}/`);
      expect(t.out()).toContain(`port ${VIEWER_PORT} is in use, so this one serves on port ${s.port}`);
    } finally {
      await (served as RunningViewer | null)?.close();
      await held.release();
    }
  });

  it('an explicit --port in use: exit 2 naming it, no crash', async () => {
    const busy = await freePort();
    const held = await occupy(busy);
    try {
      const t = memoryIo();
      expect(await viewCommand([traceFile(), '--port', String(busy)], t.cli)).toBe(2);
      expect(t.err()).toBe(`shootdown: --port ${busy}: the port is in use on 127.0.0.1 (give another, or 0 for any free port)\n`);
    } finally {
      await held.release();
    }
  });
});
