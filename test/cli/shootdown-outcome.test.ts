/**
 * What the outcome says of each NMI shootdown, as a user reads it through `main()`: whether its NMI
 * went out (`sent`) and who acked it (`acked`), in JSON and in the text summary, checked against the
 * timeline the same run prints.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';

interface Shootdown {
  initiator: number;
  sent: boolean;
  endedBy: string;
  acked: number[];
}
interface Entry {
  cpu: number | null;
  text: string;
  record: Record<string, unknown>;
}

async function run(args: string[], files: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo(files);
  const code = await main(args, t.cli);
  return { code, out: t.out(), err: t.err() };
}

async function runJson(args: string[], files: Record<string, string>): Promise<{ shootdowns: Shootdown[]; timeline: Entry[] }> {
  const r = await run([...args, '--json', '--timeline'], files);
  expect(r.code, r.err).toBe(0);
  const doc = JSON.parse(r.out) as { outcome: { shootdowns: Shootdown[] }; timeline: Entry[] };
  return { shootdowns: doc.outcome.shootdowns, timeline: doc.timeline };
}

// R2 on 3 CPUs: CPU 0's emergency restart and CPU 1's panic (kdump) both shoot down. CPU 0's NMI to
// CPU 2 collapses into CPU 1's, still on its way there (the interconnect writes that drop between the
// send and 'shootdown-sent').
const r2x3 = {
  name: 'r2x3',
  machine: { cpus: 3 },
  initial: { all: { vmx: 'root', loadedVmcs: 1 } },
  options: { kdump: true, kdumpBringsUpAps: false },
  script: [
    { cpu: 0, do: 'emergency-restart', at: 0 },
    { cpu: 1, do: 'panic', at: 0 },
  ],
};
const files = { 'r2x3.json': JSON.stringify(r2x3) };

describe('two shootdowns at once (R2, 3 CPUs)', () => {
  it('a shootdown whose NMI the timeline shows going out is sent, in JSON and in text', async () => {
    for (const seed of ['1', '2', '3']) {
      const { shootdowns, timeline } = await runJson(['run', 'r2x3.json', '--seed', seed], files);
      // The initiators the timeline shows sending an NMI to all but themselves.
      const senders = timeline.filter((e) => e.record.t === 'send' && e.record.mode === 'nmi' && e.record.dest === 'all-but-self').map((e) => e.record.from);
      const collapsed = timeline.some((e) => e.record.t === 'deliver' && e.record.status === 'dropped' && String(e.record.reason).startsWith('collapsed'));
      expect(collapsed, `seed ${seed}: the case under test`).toBe(true);
      expect(shootdowns.map((s) => s.initiator).sort()).toEqual([0, 1]);
      expect(senders.sort()).toEqual([0, 1]);
      for (const s of shootdowns) expect(s, `seed ${seed}`).toMatchObject({ sent: true });
      const text = (await run(['run', 'r2x3.json', '--seed', seed], files)).out;
      expect(text).not.toContain('no NMI sent');
      expect(text).toMatch(/NMI shootdown by CPU0: all acked after [\d.]+ ms; acked by /);
    }
  });

  it('acks are credited only to a shootdown whose NMI reached the acking CPU: never the initiator, only its targets', async () => {
    for (const seed of ['1', '2', '3']) {
      const { shootdowns, timeline } = await runJson(['run', 'r2x3.json', '--seed', seed], files);
      // Which NMI messages each CPU got (delivered, latched, or merged into another), and whose they were.
      const from = new Map<unknown, unknown>();
      for (const e of timeline) if (e.record.t === 'send') from.set(e.record.msg, e.record.from);
      const reached = (cpu: number, initiator: number) =>
        timeline.some((e) => e.record.t === 'deliver' && e.record.cpu === cpu && e.record.mode === 'nmi' && from.get(e.record.msg) === initiator);
      for (const s of shootdowns) {
        expect(s.acked, `seed ${seed}: CPU ${s.initiator}'s shootdown`).not.toContain(s.initiator);
        for (const c of s.acked) expect(reached(c, s.initiator), `seed ${seed}: CPU ${c} for CPU ${s.initiator}`).toBe(true);
      }
      // CPU 1 halts in CPU 0's NMI after acking it: CPU 0's wait ended with every other CPU's ack.
      const cpu0 = shootdowns.find((s) => s.initiator === 0);
      expect([...(cpu0?.acked ?? [])].sort()).toEqual([1, 2]);
      expect(cpu0?.endedBy).toBe('acked');
    }
  });

});
