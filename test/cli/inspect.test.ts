/**
 * `--inspect`: XState's inspection API sees every CPU actor of a run, and the events reach a
 * WebSocket client of the bridge server (what the page embedding the hosted inspector UI listens on).
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { InspectionEvent } from 'xstate';
import { main, type CliIo } from '../../src/cli/main.js';
import { TraceFileWriter } from '../../src/trace/file.js';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord } from '../../src/trace/records.js';
import { freePort } from './server-client.js';

describe('inspection', () => {
  it('a run with an inspector uses real actors: every CPU is an actor in one system, and the trace is the same', () => {
    const r = loadBuiltin('T5');
    if (!r?.ok) throw new Error('T5');
    const events: InspectionEvent[] = [];
    const inspected = runScenario(r.scenario, { seed: 1, keepTrace: true, inspect: (e) => events.push(e) });
    const plain = runScenario(r.scenario, { seed: 1, keepTrace: true });
    const actors = new Set(events.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as unknown as { id: string }).id));
    for (const id of ['cpu0', 'cpu1', 'cpu2', 'cpu3']) expect(actors.has(id)).toBe(true);
    expect(new Set(events.map((e) => e.rootId)).size).toBe(1);
    expect(events.some((e) => e.type === '@xstate.event' && (e.event as { type: string }).type === 'sched.nmi')).toBe(true);
    expect(inspected.trace.map(formatRecord)).toEqual(plain.trace.map(formatRecord));
  });

  it('shootdown run --inspect relays the events to a client of the bridge server', async () => {
    const port = await freePort();
    const received: string[] = [];
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      readFile: () => {
        throw new Error('no files');
      },
      fs: { open: (f) => new TraceFileWriter(f) },
    };
    const running = main(['run', 'T1', '--inspect', '--inspect-port', String(port), '--inspect-linger', '1.5', '--json'], io);
    // The bridge server is up once the CLI says where to look; then listen like the UI page does.
    for (let i = 0; i < 100 && !err.join('').includes('inspection: open'); i++) await new Promise((r) => setTimeout(r, 20));
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    client.on('message', (m: Buffer) => received.push(m.toString()));
    expect(await running).toBe(0);
    client.close();
    expect(err.join('')).toContain(`inspection: open http://127.0.0.1:${port}/`);
    expect(received.length).toBeGreaterThan(0);
    const events = received.map((m) => JSON.parse(m) as { type: string; sessionId: string; event?: { type: string } });
    expect(events.some((e) => e.type === '@xstate.event' && e.event?.type.startsWith('sched.'))).toBe(true);
    // Several CPU actors, one system.
    expect(new Set(events.map((e) => e.sessionId)).size).toBeGreaterThan(1);
  });
});
