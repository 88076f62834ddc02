/**
 * Fuzz: the two servers a user starts on a workstation, `shootdown view --port` and
 * `shootdown run --inspect`, each a real process. Raw HTTP requests with hostile request lines,
 * escapes, methods and headers: the server answers each one with a status (or closes the
 * connection on bytes that are not HTTP), keeps serving, and gives nothing with a Host or Origin
 * that is not its own (what a DNS-rebinding page or a cross-site <img> would send).
 */
import fc from 'fast-check';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';
import { freePort } from '../cli/server-client.js';

const CLI = path.resolve('dist/src/cli/main.js');

interface Server {
  proc: ChildProcess;
  port: number;
  output: () => string;
}

/** Starts the CLI and waits until it names a loopback URL on its port. */
async function start(args: (port: number) => string[]): Promise<Server> {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, ...args(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  for (let i = 0; i < 300 && !new RegExp(`https?://(127\\.0\\.0\\.1|localhost):${port}`).test(text); i++) {
    if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port, output: () => text };
}

/** Sends raw bytes and reads until the server closes or a whole response head has arrived. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      socket.destroy();
      resolve(got);
    };
    socket.setTimeout(5_000, done);
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) setTimeout(done, 20);
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request, 'latin1');
  });
}

const statusOf = (response: string): number | null => {
  const m = /^HTTP\/1\.[01] (\d{3}) /.exec(response);
  return m ? Number(m[1]) : null;
};

type HostChoice = 'own' | 'localhost' | 'evil' | 'other-port' | 'missing' | 'empty' | 'twice';
type OriginChoice = 'none' | 'own' | 'evil' | 'null';

const targetArb = fc.oneof(
  fc.constantFrom('/', '/index.html', '/%E0%A4%A', '/%', '/%zz', '/%00', '/..%2f..%2fetc%2fpasswd', '/../../etc/passwd', '//etc/passwd', '*', 'http://evil.example/', '/?q=%ff%fe'),
  fc.array(fc.constantFrom('a', '%', 'E0', '%A4', '..', '/', '%2e', '\\', ';', '?', '#', 'x'.repeat(300)), { maxLength: 30 }).map((parts) => `/${parts.join('')}`),
  fc.integer({ min: 1_000, max: 40_000 }).map((n) => `/${'a'.repeat(n)}`),
);

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'get', 'BREW', ''),
  target: targetArb,
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', ''),
  host: fc.constantFrom<HostChoice>('own', 'localhost', 'evil', 'other-port', 'missing', 'empty', 'twice'),
  origin: fc.constantFrom<OriginChoice>('none', 'own', 'evil', 'null'),
  junk: fc.array(fc.constantFrom('X-A: b', 'Content-Length: 5', 'Content-Length: -1', 'Transfer-Encoding: chunked', ': nokey', 'Bad Header', 'Upgrade: websocket', 'Connection: Upgrade'), { maxLength: 3 }),
});

type Request = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function render(r: Request, port: number): string {
  const lines = [`${r.method} ${r.target} ${r.version}`.trim()];
  const host = { own: `127.0.0.1:${port}`, localhost: `localhost:${port}`, evil: 'evil.example', 'other-port': `127.0.0.1:${port + 1}`, empty: '', missing: null, twice: `127.0.0.1:${port}` }[r.host];
  if (host !== null) lines.push(`Host: ${host}`);
  if (r.host === 'twice') lines.push('Host: evil.example');
  const origin = { none: null, own: `http://127.0.0.1:${port}`, evil: 'http://evil.example', null: 'null' }[r.origin];
  if (origin !== null) lines.push(`Origin: ${origin}`);
  lines.push(...r.junk);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** What a server owes every request: a status or a closed connection, nothing for a foreign Host or Origin, and still serving. */
async function fuzzServer(server: () => Server, goodPath: string): Promise<void> {
  await fc.assert(
    fc.asyncProperty(requestArb, async (r) => {
      const { port } = server();
      const raw = render(r, port);
      const response = await exchange(port, raw);
      const status = statusOf(response);
      const what = `request ${JSON.stringify(raw.slice(0, 300))}\nresponse ${JSON.stringify(response.slice(0, 300))}`;
      if (response !== '') expect(status, what).not.toBeNull();
      const ownHost = r.host === 'own' || r.host === 'localhost';
      if (!ownHost || r.origin === 'evil' || r.origin === 'null') expect(status === null || status >= 400, what).toBe(true);
      // Still serving: a plain request from the page itself gets the page.
      const check = await exchange(port, `GET ${goodPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      expect(statusOf(check), `${what}\nthen the server stopped answering: ${server().output().slice(-2000)}`).toBe(200);
    }),
    // A server that died fails every later case: report the first failing request as it was, unshrunk.
    { ...fuzzParams(40), endOnFailure: true },
  );
}

describe('fuzz: HTTP requests to the servers', () => {
  let view: Server;
  let inspect: Server;
  beforeAll(async () => {
    view = await start((port) => ['view', 'T1', '--port', String(port)]);
    inspect = await start((port) => ['run', 'T1', '--json', '--inspect', '--inspect-port', String(port), '--inspect-linger', '600']);
  }, 60_000);
  afterAll(() => {
    view?.proc.kill('SIGTERM');
    inspect?.proc.kill('SIGTERM');
  });

  it('shootdown view: every request gets a status, a foreign Host or Origin gets nothing, the server keeps serving', () => fuzzServer(() => view, '/'), fuzzTimeout(180_000));

  it('shootdown run --inspect: the same for the inspection server', () => fuzzServer(() => inspect, '/'), fuzzTimeout(180_000));
});
