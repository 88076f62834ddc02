/**
 * reboot-completes counts a restart from when it starts. A script step in interrupt or NMI context
 * only sends its CPU a device IRQ or a watchdog NMI: the restart starts when the handler begins it,
 * which it may never do (IRQ held in the IRR with IF=0; NMI held by GIF=0). Through `main()`: `run`
 * and `explore` (whose runs write no step or delivery records) agree.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reboot-completes-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], files: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo(files);
  const code = await main(args, t.cli);
  return { code, out: t.out(), err: t.err() };
}

/** The reboot-completes messages of `run` (seeds 1–3) and of `explore`, for one scenario. */
async function verdicts(scenario: Record<string, unknown>): Promise<{ run: string[][]; explore: string[] }> {
  const files = { 's.json': JSON.stringify(scenario) };
  const run: string[][] = [];
  for (const seed of ['1', '2', '3']) {
    const r = await cli(['run', 's.json', '--seed', seed, '--json'], files);
    expect(r.code, r.err).toBe(0);
    const o = (JSON.parse(r.out) as { outcome: { violations: { property: string; message: string }[] } }).outcome;
    run.push(o.violations.filter((v) => v.property === 'reboot-completes').map((v) => v.message));
  }
  const e = await cli(['explore', 's.json', '--json', '--no-pnr', '--out', tmp], files);
  expect([0, 1], e.err).toContain(e.code);
  const doc = JSON.parse(e.out) as { complete: boolean; violations: { property: string; message: string }[] };
  expect(doc.complete).toBe(true);
  return { run, explore: doc.violations.filter((v) => v.property === 'reboot-completes').map((v) => v.message) };
}

describe('reboot-completes: a restart in interrupt context counts once its handler begins it', () => {
  it('a panic in IRQ context on a CPU with IRQs off never starts: no violation (the IRQ stays in the IRR)', async () => {
    const { run, explore } = await verdicts({
      name: 'irq-never',
      machine: { cpus: 2 },
      initial: { cpus: { '1': { if: false } } },
      options: { kdump: true },
      script: [{ cpu: 1, do: 'panic', context: 'irq', at: 0 }],
    });
    expect(run).toEqual([[], [], []]);
    expect(explore).toEqual([]);
  });

  it.each([
    [{ do: 'nmi-panic' }],
    [{ do: 'panic', context: 'nmi' }],
    [{ do: 'emergency-restart', context: 'nmi' }],
    [{ do: 'emergency-restart', context: 'irq' }],
  ])('%j on a CPU that never takes its interrupt (GIF=0, IF=0) starts nothing', async (step) => {
    const { run, explore } = await verdicts({
      name: 'held',
      machine: { cpus: 2, vendor: 'amd' },
      initial: { cpus: { '1': { svme: true, gif: false, if: false } } },
      options: { kdump: true },
      script: [{ cpu: 1, at: 0, ...step }],
    });
    expect(run).toEqual([[], [], []]);
    expect(explore).toEqual([]);
  });

  it('an emergency restart in IRQ context that starts and hangs is named; a panic whose NMI GIF=0 holds is not', async () => {
    // CPU 1's GIF=0 holds CPU 0's shootdown NMI and then the INIT of the INIT-only reset: the machine hangs.
    const { run, explore } = await verdicts({
      name: 'irq-hang',
      machine: { cpus: 2, vendor: 'amd' },
      initial: { all: { svme: true }, cpus: { '1': { gif: false } } },
      options: { kdump: true, reset: { method: 'acpi', initOnly: true } },
      script: [
        { cpu: 0, do: 'emergency-restart', context: 'irq', at: 0 },
        { cpu: 1, do: 'panic', context: 'nmi', at: 0 },
      ],
    });
    const message = "'emergency-restart' on CPU 0 never reset the machine: nothing can move any more";
    expect(run).toEqual([[message], [message], [message]]);
    expect(explore).toEqual([message]);
  });

  it('a panic in NMI context that starts (its header line) and hangs is named', async () => {
    // panic_timeout -1: the panic restarts at once; CPU 0's GIF=0 holds the INIT of the INIT-only reset.
    const { run, explore } = await verdicts({
      name: 'nmi-hang',
      machine: { cpus: 2, vendor: 'amd' },
      initial: { all: { svme: true }, cpus: { '0': { gif: false } } },
      options: { panicTimeout: -1, reset: { method: 'acpi', initOnly: true } },
      script: [{ cpu: 1, do: 'panic', context: 'nmi', at: 0 }],
    });
    const message = "'panic' on CPU 1 never reset the machine: nothing can move any more";
    expect(run).toEqual([[message], [message], [message]]);
    expect(explore).toEqual([message]);
  });
});
