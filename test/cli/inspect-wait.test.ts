/**
 * A whole inspector session: `run --inspect-wait` holds the run until a page (here a real
 * WebSocket client, `ws`) connects, and every client gets the run's events from the start — the
 * actor registrations first — whenever it connects: before the run, in its middle, or after it,
 * also once the history has outgrown its cap and a late client is fed by a re-run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { main } from '../../src/cli/main.js';
import { inspectPlan, startInspection, type InspectSession } from '../../src/cli/inspect.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenarioInSlices } from '../../src/sim/run.js';
import { Simulation } from '../../src/sim/simulation.js';
import { memoryIo } from './memory-io.js';
import { freePort } from './server-client.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-inspect-wait-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const turn = () => new Promise<void>((r) => setImmediate(r));
const tick = () => new Promise<void>((r) => setTimeout(r, 20));

type Client = { ws: WebSocket; messages: string[]; closed: Promise<number> };

function open(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code: number) => r(code)));
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('error', reject);
  });
}

/** Waits (polling; a hang is the test's timeout) until `client` has `count` messages. */
async function receive(client: Client, count: number): Promise<void> {
  while (client.messages.length < count) await tick();
}

type Event = { type: string; name?: string; sessionId: string; createdAt?: string; snapshot?: { value?: unknown } };

/** The events without their wall-clock stamp (`createdAt`), the one field a re-run cannot repeat. */
const untimed = (messages: string[]) =>
  messages.map((m) => {
    const e = JSON.parse(m) as Event;
    delete e.createdAt;
    return JSON.stringify(e);
  });

function scenario(id: string): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  return r.scenario;
}

/** Every CPU actor (and the host actor above them) registers before any event, and every actor before its own first event. */
function expectRegistrationsFirst(messages: string[], cpus: number): void {
  const events = messages.map((m) => JSON.parse(m) as Event);
  const leading = events.slice(0, events.findIndex((e) => e.type !== '@xstate.actor'));
  expect(leading.map((e) => e.name)).toEqual(expect.arrayContaining(Array.from({ length: cpus }, (_, i) => `cpu${i}`)));
  const registered = new Set<string>();
  for (const e of events) {
    if (e.type === '@xstate.actor') registered.add(e.sessionId);
    else expect(registered.has(e.sessionId)).toBe(true);
  }
}

async function session(id: string, historyBytes?: number): Promise<InspectSession> {
  const plan = inspectPlan({ inspect: true, 'inspect-port': '0', 'inspect-linger': '0' });
  if (!plan) throw new Error('no plan');
  return startInspection(plan, memoryIo().cli, { scenario: scenario(id), options: { seed: 1 } }, historyBytes === undefined ? {} : { historyBytes });
}

const ws = (s: InspectSession) => s.url.replace('http://', 'ws://');

describe('run --inspect-wait', () => {
  it('does not start the run before a client connects; then the client gets it from the actor registrations on', async () => {
    const t = memoryIo();
    const port = await freePort();
    const trace = path.join(dir, 'wait.jsonl');
    const running = main(['run', 'T1', '--inspect-wait', '--inspect-port', String(port), '--inspect-linger', '0', '--trace', trace], t.cli);
    while (!t.err().includes('inspection: waiting')) await tick();
    for (let i = 0; i < 100; i++) await turn();
    expect(t.err()).toContain(`inspection: open http://127.0.0.1:${port}/`);
    expect(t.err()).toContain('inspection: waiting for the inspector page (or a WebSocket client) to connect before starting the run (Ctrl-C to stop)\n');
    expect(t.out()).toBe('');
    expect(fs.existsSync(trace)).toBe(false);

    const client = await open(`ws://127.0.0.1:${port}/`);
    expect(await running).toBe(0);
    expect(await client.closed).toBe(1001);
    expect(t.out()).toContain('T1: ');
    expect(fs.existsSync(trace)).toBe(true);
    expect(client.messages.length).toBeGreaterThan(scenario('T1').machine.cpus);
    expectRegistrationsFirst(client.messages, scenario('T1').machine.cpus);
  }, 60_000);

  it('implies --inspect; --inspect-port and --inspect-linger go with either', async () => {
    expect(inspectPlan({ 'inspect-wait': true })).toMatchObject({ wait: true, port: 8080 });
    expect(inspectPlan({ inspect: true })).toMatchObject({ wait: false });
    const t = memoryIo();
    expect(await main(['run', 'T1', '--inspect-port', '9000'], t.cli)).toBe(2);
    expect(t.err()).toBe('shootdown: --inspect-port goes with --inspect or --inspect-wait\n');
  });
});

describe('every client gets the whole run', () => {
  it('a client that connects after the run gets the same events, in the same order, as one there from the start', async () => {
    // T14 makes more events (1,007) than the bridge used to keep (the last 1,000).
    const s = await session('T14');
    try {
      const first = await open(ws(s));
      await runScenarioInSlices(scenario('T14'), { seed: 1, inspect: s.inspect });
      const total = s.stats().events;
      expect(total).toBeGreaterThan(1000);
      await receive(first, total);
      const second = await open(ws(s));
      await receive(second, total);
      expect(second.messages).toEqual(first.messages);
      expectRegistrationsFirst(second.messages, scenario('T14').machine.cpus);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('a client that connects in the middle of the run gets it from the start, then the rest live', async () => {
    const s = await session('T14');
    try {
      const first = await open(ws(s));
      const sim = new Simulation(scenario('T14'), { seed: 1, inspect: s.inspect });
      sim.header();
      expect(sim.run(200)).toBeNull();
      const before = s.stats().events;
      expect(before).toBeGreaterThan(0);
      const middle = await open(ws(s));
      await receive(middle, before);
      expect(sim.run()).not.toBeNull();
      sim.stop();
      const total = s.stats().events;
      expect(total).toBeGreaterThan(before);
      await receive(first, total);
      await receive(middle, total);
      expect(middle.messages).toEqual(first.messages);
      expectRegistrationsFirst(middle.messages, scenario('T14').machine.cpus);
    } finally {
      await s.close();
    }
  }, 60_000);

  it("an actor's registration carries its initial state, not a later one", async () => {
    const registrations = (messages: string[]) => untimed(messages).filter((m) => (JSON.parse(m) as Event).type === '@xstate.actor');
    // A whole run...
    const whole = await session('T1');
    const seen = await open(ws(whole));
    await runScenarioInSlices(scenario('T1'), { seed: 1, inspect: whole.inspect });
    await receive(seen, whole.stats().events);
    await whole.close();
    // ...and one that never takes a step: its registrations can only show the initial states.
    const none = await session('T1');
    const initial = await open(ws(none));
    const sim = new Simulation(scenario('T1'), { seed: 1, inspect: none.inspect });
    sim.header();
    await none.close();
    await initial.closed;
    sim.stop();
    expect(registrations(initial.messages).length).toBeGreaterThan(scenario('T1').machine.cpus);
    expect(registrations(seen.messages)).toEqual(registrations(initial.messages));
    // The run did move the CPUs on from there.
    const cpu0 = (JSON.parse(registrations(seen.messages).find((m) => m.includes('"name":"cpu0"')) as string) as Event).sessionId;
    const last = seen.messages.map((m) => JSON.parse(m) as Event).filter((e) => e.type === '@xstate.snapshot' && e.sessionId === cpu0).pop();
    const first = JSON.parse(registrations(seen.messages).find((m) => m.includes('"name":"cpu0"')) as string) as Event;
    expect(last?.snapshot?.value).not.toEqual(first.snapshot?.value);
  }, 60_000);

  it('the history is capped: beyond the cap it is let go, and a late client gets a re-run of the same events', async () => {
    const cap = 50_000;
    const s = await session('T14', cap);
    try {
      const first = await open(ws(s));
      await runScenarioInSlices(scenario('T14'), { seed: 1, inspect: s.inspect });
      const stats = s.stats();
      await receive(first, stats.events);
      const sizes = first.messages.map((m) => m.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(10 * cap);
      expect(stats.overflowed).toBe(true);
      expect(stats.peakKeptBytes).toBeLessThanOrEqual(cap);
      expect(stats.keptBytes).toBe(0);
      expect(stats.reruns).toBe(0);

      const late = await open(ws(s));
      await receive(late, stats.events);
      expect(s.stats().reruns).toBe(1);
      expect(late.messages.length).toBe(first.messages.length);
      expect(untimed(late.messages)).toEqual(untimed(first.messages));
    } finally {
      await s.close();
    }
  }, 60_000);

  it('with the cap, a client in the middle of the run gets every event from a re-run, none twice', async () => {
    const s = await session('T14', 50_000);
    try {
      const first = await open(ws(s));
      const sim = new Simulation(scenario('T14'), { seed: 1, inspect: s.inspect });
      sim.header();
      while (!s.stats().overflowed) expect(sim.run(20)).toBeNull();
      const middle = await open(ws(s));
      await receive(middle, s.stats().events);
      expect(sim.run()).not.toBeNull();
      sim.stop();
      const total = s.stats().events;
      await receive(first, total);
      await receive(middle, total);
      expect(untimed(middle.messages)).toEqual(untimed(first.messages));
    } finally {
      await s.close();
    }
  }, 60_000);
});
