/**
 * `shootdown run --inspect`: the run's CPU actors (real XState actors, so XState's inspection API
 * sees them) report to Stately's inspector. Each inspection event is turned into the form its UI
 * reads (that of @statelyai/inspect, see `Converter`); this module's bridge serves a page that
 * embeds Stately's hosted inspector UI and pushes those events to it over a WebSocket. The UI is hosted, so this needs internet on
 * the user's side; shootdown's own viewer does not.
 *
 * The bridge is this process's own server (not @statelyai/inspect's, which listens on every
 * interface and relays whatever any client sends to every other): it listens on 127.0.0.1 unless
 * --inspect-host says otherwise, checks Host and Origin like the viewer, and its WebSocket only
 * sends.
 *
 * Every page (or WebSocket client) gets the whole run from its start, whenever it connects: the
 * actor registrations (`@xstate.actor`, which the inspector needs to draw a machine) first, then
 * every event in order. `--inspect-wait` holds the run until the first one connects. Memory stays
 * bounded this way: the bridge keeps the run's events, serialized, up to HISTORY_BYTES (64 MiB;
 * the largest built-in scenario makes 1.5 MB), and streams them to a page as its socket drains
 * (at most QUEUE_HIGH queued per page). A run that makes more lets its history go; a page that
 * connects later, or falls behind, gets a re-run instead: the simulator is deterministic, so the
 * same scenario, seed and replayed choices make the same events (actor ids are numbered per stream
 * for that, and only `createdAt`, the wall clock, differs). At most MAX_RERUNS re-runs go at once,
 * each a few steps at a time as its page reads; further pages wait their turn.
 */
import type { InspectionEvent } from 'xstate';
import type { Scenario } from '../scenarios/types.js';
import { Simulation, type SimulationOptions } from '../sim/simulation.js';
import type { CliIo } from './io.js';
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
import { boundedJson, Converter } from './inspect-events.js';
import { BRIDGE_HTML, BRIDGE_JS, bridgeCsp } from './inspect-page.js';

export { boundedJson };

export const INSPECT_PORT = 8080;
const DEFAULT_LINGER_S = 60;
/** Longer than a day is not a linger; and setTimeout holds at most 2^31 - 1 ms. */
const MAX_LINGER_S = 86_400;
/** How many ports from the default on the bridge tries while they are in use. */
const DEFAULT_PORT_TRIES = 20;
/**
 * The run's events kept for pages that connect late, at most this many characters of JSON (about
 * bytes: the events are ASCII). Every built-in scenario fits 40 times over (the largest, T14, makes 1.5 MB); a run beyond it
 * lets its history go, and a page that connects later gets a re-run of the simulation instead.
 */
const HISTORY_BYTES = 64 * 1024 * 1024;
/** At most this many re-runs at once (each is a simulation); further pages wait their turn. */
const MAX_RERUNS = 2;
/** A re-run goes this many steps between looks at its page's socket. */
const RERUN_SLICE = 64;
/** A page's socket queue above which no more is written to it until it drains. */
const QUEUE_HIGH = 1024 * 1024;

export interface InspectFlags {
  inspect?: boolean;
  'inspect-port'?: string;
  'inspect-host'?: string;
  'inspect-linger'?: string;
  'inspect-wait'?: boolean;
}

export interface InspectPlan {
  port: number;
  /** Whether --inspect-port named the port (then a port in use is an error, not a move to the next). */
  portGiven: boolean;
  host: string;
  lingerMs: number;
  /** --inspect-wait: the run starts when the first page or client connects. */
  wait: boolean;
}

/** The --inspect flags checked before the run: null without --inspect; InputError on a bad value. */
export function inspectPlan(values: InspectFlags): InspectPlan | null {
  const given = (['inspect-port', 'inspect-host', 'inspect-linger'] as const).filter((f) => values[f] !== undefined);
  if (!values.inspect && !values['inspect-wait']) {
    if (given.length > 0) throw new InputError(`--${given[0]} goes with --inspect or --inspect-wait`);
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
  return { port, portGiven: values['inspect-port'] !== undefined, host, lingerMs: Math.round(seconds * 1000), wait: values['inspect-wait'] === true };
}

export interface InspectSession {
  inspect: (event: InspectionEvent) => void;
  url: string;
  /** Resolves when the first page or client has connected (--inspect-wait waits for it). */
  firstClient: Promise<void>;
  /** How much the bridge holds, for tests of its bounds. */
  stats(): InspectStats;
  /** Serve for the planned linger (saying so), then close. */
  linger(io: Pick<CliIo, 'stderr'>): Promise<void>;
  /** Close the page's sockets and the server now. */
  close(): Promise<void>;
}

/** The run being inspected, as a re-run needs it: the simulator is deterministic, so the same scenario and options give the same events. */
export interface InspectedRun {
  scenario: Scenario;
  options: Omit<SimulationOptions, 'inspect'>;
}

/** Internal limits (tests make them small). */
export interface InspectLimits {
  /** Bytes of history kept for pages that connect late; beyond it they get a re-run. */
  historyBytes?: number;
}

export interface InspectStats {
  /** Inspection events the run has produced so far. */
  events: number;
  /** Bytes of history held now, and the most ever held. */
  keptBytes: number;
  peakKeptBytes: number;
  /** Whether the history outgrew its cap and was let go (late pages get a re-run). */
  overflowed: boolean;
  /** Re-runs started for pages, so far. */
  reruns: number;
}

interface Viewer {
  push: PushClient;
  sent: number;
  /** Being fed by a re-run (then the live events are not sent to it), or waiting for one. */
  rerun: 'none' | 'waiting' | 'running';
}

/** Starts the bridge (saying where on stderr) and returns the run's inspector. */
export async function startInspection(plan: InspectPlan, io: Pick<CliIo, 'stderr'>, run: InspectedRun, limits: InspectLimits = {}): Promise<InspectSession> {
  const { host } = plan;
  const cap = limits.historyBytes ?? HISTORY_BYTES;
  const viewers = new Set<Viewer>();
  /** Every event of the run so far, while they fit in `cap`; null once they did not. */
  let history: string[] | null = [];
  let keptBytes = 0;
  let peakKeptBytes = 0;
  let events = 0;
  let reruns = 0;
  let running = 0;
  let closed = false;
  let port = plan.port;
  let bound: string[] = [host];
  let connected: () => void = () => {};
  const firstClient = new Promise<void>((resolve) => (connected = resolve));

  /** Sends `viewer` what it has not had yet, from the history, as far as its queue allows. */
  const pump = (viewer: Viewer): void => {
    if (!viewer.push.isOpen || viewer.rerun !== 'none' || viewer.sent >= events) return;
    if (history === null) return rerunFor(viewer);
    while (viewer.sent < history.length && viewer.push.queued < QUEUE_HIGH) viewer.push.send(history[viewer.sent++] as string);
  };

  /** The history is gone: `viewer` gets the rest from a re-run of the run, from where it is. */
  const rerunFor = (viewer: Viewer): void => {
    viewer.rerun = 'waiting';
    startReruns();
  };
  const startReruns = (): void => {
    for (const viewer of viewers) {
      if (running >= MAX_RERUNS) return;
      if (viewer.rerun !== 'waiting') continue;
      viewer.rerun = 'running';
      running += 1;
      reruns += 1;
      void rerun(viewer).finally(() => {
        running -= 1;
        startReruns();
      });
    }
  };
  /** Runs the simulation again, a few steps at a time, sending `viewer` its events from `viewer.sent` on while it reads them. */
  const rerun = async (viewer: Viewer): Promise<void> => {
    const from = viewer.sent;
    let index = 0;
    const batch: string[] = [];
    const converter = new Converter((m) => {
      if (index++ >= from) batch.push(m);
    });
    const gone = () => closed || !viewer.push.isOpen;
    let sim: Simulation | null = null;
    try {
      sim = new Simulation(run.scenario, { ...run.options, inspect: (e) => converter.next(e) });
      sim.header();
      let end = null;
      do {
        end = sim.run(RERUN_SLICE);
        if (end !== null) converter.flush();
        for (const m of batch.splice(0)) {
          viewer.push.send(m);
          viewer.sent += 1;
        }
        if (viewer.push.queued >= QUEUE_HIGH) await viewer.push.drained();
        else await new Promise<void>((resolve) => setImmediate(resolve));
      } while (end === null && !gone());
    } catch {
      // The run itself ended the same way (a replay that diverged): the page has what it had.
    } finally {
      sim?.stop();
    }
  };

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
    const viewer: Viewer = { push: client, sent: 0, rerun: 'none' };
    viewers.add(viewer);
    client.onClose(() => viewers.delete(viewer));
    client.onDrain(() => pump(viewer));
    pump(viewer);
    connected();
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

  // A live event goes to every viewer that has had all the others; the rest catch up from the
  // history (or a re-run) as their sockets drain.
  const live = new Converter((message) => {
    if (closed) return;
    events += 1;
    if (history !== null) {
      history.push(message);
      keptBytes += message.length;
      if (keptBytes > cap) {
        history = null;
        keptBytes = 0;
      }
      peakKeptBytes = Math.max(peakKeptBytes, keptBytes);
    }
    for (const viewer of viewers) {
      if (viewer.rerun !== 'none') continue;
      if (viewer.sent === events - 1 && viewer.push.queued < QUEUE_HIGH) {
        viewer.push.send(message);
        viewer.sent += 1;
      } else if (history === null) rerunFor(viewer);
    }
  });
  const close = async () => {
    if (closed) return;
    live.flush();
    closed = true;
    // A viewer still catching up from the history gets the rest before the close frame.
    for (const viewer of viewers) {
      if (history !== null && viewer.rerun === 'none') while (viewer.push.isOpen && viewer.sent < history.length) viewer.push.send(history[viewer.sent++] as string, true);
      viewer.push.close();
    }
    await local.close();
  };
  return {
    inspect: (e) => live.next(e),
    url,
    firstClient,
    stats: () => ({ events, keptBytes, peakKeptBytes, overflowed: history === null, reruns }),
    linger: async (out) => {
      live.flush();
      if (plan.lingerMs > 0) {
        out.stderr(`inspection: serving for ${plan.lingerMs / 1000} s more (--inspect-linger)\n`);
        await new Promise((resolve) => setTimeout(resolve, plan.lingerMs));
      }
      await close();
    },
    close,
  };
}
