/**
 * `shootdown run --inspect`: the run's CPU actors (real XState actors, so XState's inspection API
 * sees them) report to Stately's inspector. @statelyai/inspect turns each inspection event into
 * the form its UI reads; this module's bridge serves a page that embeds Stately's hosted inspector
 * UI and pushes those events to it over a WebSocket. The UI is hosted, so this needs internet on
 * the user's side; shootdown's own viewer does not.
 *
 * The bridge is this process's own server (not @statelyai/inspect's, which listens on every
 * interface and relays whatever any client sends to every other): it listens on 127.0.0.1 unless
 * --inspect-host says otherwise, checks Host and Origin like the viewer, and its WebSocket only
 * sends.
 */
import type { InspectionEvent } from 'xstate';
import type { CliIo } from './main.js';
import { acceptPush, type PushClient } from './push-socket.js';
import { InputError, parseInteger } from './scenario-args.js';
import {
  answer,
  baseHeaders,
  bindingNote,
  exposureWarning,
  listen,
  listenError,
  localServer,
  LOOPBACK,
  refusal,
  requestPath,
  validHost,
} from '../viz/local-server.js';

export const INSPECT_PORT = 8080;
const DEFAULT_LINGER_S = 60;
/** Longer than a day is not a linger; and setTimeout holds at most 2^31 - 1 ms. */
const MAX_LINGER_S = 86_400;
/** How many ports from the default on the bridge tries while they are in use. */
const DEFAULT_PORT_TRIES = 20;
/** What a page opened after the run still receives: the latest events, this many and this many bytes at most. */
const KEPT_EVENTS = 1000;
const KEPT_BYTES = 32 * 1024 * 1024;
/** How deep an event's snapshot is copied (deeper objects become "[Object]", as @statelyai/inspect does). */
const DEPTH_LIMIT = 10;

export interface InspectFlags {
  inspect?: boolean;
  'inspect-port'?: string;
  'inspect-host'?: string;
  'inspect-linger'?: string;
}

export interface InspectPlan {
  port: number;
  /** Whether --inspect-port named the port (then a port in use is an error, not a move to the next). */
  portGiven: boolean;
  host: string;
  lingerMs: number;
}

/** The --inspect flags checked before the run: null without --inspect; InputError on a bad value. */
export function inspectPlan(values: InspectFlags): InspectPlan | null {
  const given = (['inspect-port', 'inspect-host', 'inspect-linger'] as const).filter((f) => values[f] !== undefined);
  if (!values.inspect) {
    if (given.length > 0) throw new InputError(`--${given[0]} goes with --inspect`);
    return null;
  }
  const port = parseInteger('inspect-port', values['inspect-port'], 0, 65535, INSPECT_PORT);
  const host = values['inspect-host'] ?? LOOPBACK;
  if (!validHost(host)) throw new InputError(`--inspect-host: expected an IP address or a host name, got ${JSON.stringify(host)}`);
  const linger = values['inspect-linger'];
  if (linger !== undefined && (!/^\d{1,6}(\.\d{1,3})?$/.test(linger) || Number(linger) > MAX_LINGER_S)) {
    throw new InputError(`--inspect-linger: expected seconds from 0 to ${MAX_LINGER_S} (0: exit right after the run), got ${JSON.stringify(linger)}`);
  }
  const seconds = linger === undefined ? DEFAULT_LINGER_S : Number(linger);
  return { port, portGiven: values['inspect-port'] !== undefined, host, lingerMs: Math.round(seconds * 1000) };
}

export interface InspectSession {
  inspect: (event: InspectionEvent) => void;
  url: string;
  /** Serve for the planned linger (saying so), then close. */
  linger(io: Pick<CliIo, 'stderr'>): Promise<void>;
  /** Close the page's sockets and the server now. */
  close(): Promise<void>;
}

/** `value` as JSON with cycles cut and depth bounded, the way @statelyai/inspect's WebSocket adapter sends it. */
export function boundedJson(value: unknown): string {
  const seen = new Set<object>();
  const copy = (v: unknown, depth: number): unknown => {
    if (typeof v === 'function') return { type: (v as { name?: string }).name ?? '' };
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    const withJson = v as { toJSON?: () => unknown };
    if (typeof withJson.toJSON === 'function') return copy(withJson.toJSON(), depth);
    if (seen.has(v)) return '[Circular]';
    if (depth >= DEPTH_LIMIT) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.add(v);
    const out = Array.isArray(v) ? v.map((x) => copy(x, depth + 1)) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x, depth + 1)]));
    seen.delete(v);
    return out;
  };
  return JSON.stringify(copy(value, 0)) ?? 'null';
}

const STATELY_UI = 'https://stately.ai/inspect';

const BRIDGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shootdown · Stately inspector</title>
<style>html, body { height: 100%; margin: 0; } iframe { width: 100%; height: 100%; border: none; display: block; }</style>
</head>
<body>
<iframe id="inspector" src="${STATELY_UI}"></iframe>
<script src="bridge.js"></script>
</body>
</html>
`;

// Events wait until the embedded UI says it listens; only messages from that frame count.
const BRIDGE_JS = `'use strict';
const frame = document.getElementById('inspector');
const waiting = [];
let connected = false;
window.addEventListener('message', (e) => {
  if (e.source !== frame.contentWindow || !e.data || e.data.type !== '@statelyai.connected') return;
  connected = true;
  for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, '*');
});
const socket = new WebSocket('ws://' + location.host + '/');
socket.onmessage = (m) => {
  const event = JSON.parse(m.data);
  if (connected) frame.contentWindow.postMessage(event, '*');
  else waiting.push(event);
};
`;

function bridgeCsp(host: string): string {
  return `default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; frame-src https://stately.ai; connect-src 'self' ws://${host}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;
}

/** Starts the bridge (saying where on stderr) and returns the run's inspector. */
export async function startInspection(plan: InspectPlan, io: Pick<CliIo, 'stderr'>): Promise<InspectSession> {
  const { host } = plan;
  const clients = new Set<PushClient>();
  const kept: string[] = [];
  let keptBytes = 0;
  let closed = false;
  let port = plan.port;
  let bound: string[] = [host];

  const local = localServer((req, res) => {
    const refused = refusal(req, bound, port);
    if (refused) return answer(res, refused.status, refused.message);
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'only GET and HEAD are served here', { allow: 'GET, HEAD' });
    const target = requestPath(req.url);
    if (target === null) return answer(res, 400, 'bad request target');
    const body = target === '/' ? BRIDGE_HTML : target === '/bridge.js' ? BRIDGE_JS : null;
    if (body === null) return answer(res, 404, 'not found');
    res.writeHead(200, {
      ...baseHeaders(bridgeCsp(req.headers.host ?? '')),
      'content-type': target === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  local.server.on('upgrade', (req, socket, head: Buffer) => {
    const refused = refusal(req, bound, port) ?? (requestPath(req.url) === '/' ? null : { status: 404, message: 'not found' });
    if (refused || closed) {
      const status = refused ? `${refused.status} ${refused.status === 421 ? 'Misdirected Request' : refused.status === 403 ? 'Forbidden' : 'Not Found'}` : '503 Service Unavailable';
      socket.on('error', () => socket.destroy());
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
      return;
    }
    const client = acceptPush(req, socket, head);
    if (!client) return;
    clients.add(client);
    socket.on('close', () => clients.delete(client));
    for (const message of kept) client.send(message);
  });

  let url: string;
  try {
    const listening = await listen(local.server, host, plan.port, plan.portGiven ? 1 : DEFAULT_PORT_TRIES);
    port = listening.port;
    bound = listening.names;
    url = listening.url;
    if (listening.wanted !== undefined) io.stderr(`inspection: port ${listening.wanted} is in use, so the bridge listens on port ${port}\n`);
  } catch (e) {
    const words = listenError(e, '--inspect-port', plan.port, '--inspect-host', host);
    if (words === null) throw e;
    throw new InputError(
      !plan.portGiven && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `inspection: ports ${plan.port} to ${plan.port + DEFAULT_PORT_TRIES - 1} are all in use: give --inspect-port N (0 for any free port)` : words,
    );
  }
  const warning = exposureWarning(host, port, '--inspect-host');
  if (warning) io.stderr(warning);
  io.stderr(`inspection: open ${url} (it embeds Stately's hosted inspector, which needs internet)\ninspection: ${bindingNote(host, '--inspect-host')}\n`);

  const { createInspector } = await import('@statelyai/inspect');
  const inspector = createInspector({
    send: (event) => {
      if (closed) return;
      const message = boundedJson(event);
      kept.push(message);
      keptBytes += message.length;
      while (kept.length > KEPT_EVENTS || (keptBytes > KEPT_BYTES && kept.length > 1)) keptBytes -= (kept.shift() as string).length;
      for (const client of clients) client.send(message);
    },
  });
  const observer = inspector.inspect as unknown as { next?: (e: InspectionEvent) => void } | ((e: InspectionEvent) => void);
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const client of clients) client.close();
    await local.close();
  };
  return {
    inspect: (e) => (typeof observer === 'function' ? observer(e) : observer.next?.(e)),
    url,
    linger: async (out) => {
      if (plan.lingerMs > 0) {
        out.stderr(`inspection: serving for ${plan.lingerMs / 1000} s more (--inspect-linger)\n`);
        await new Promise((resolve) => setTimeout(resolve, plan.lingerMs));
      }
      await close();
    },
    close,
  };
}
