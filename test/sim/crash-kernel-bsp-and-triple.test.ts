/**
 * Two rules of the end of a run:
 * - the crash kernel, booted on a CPU other than the real BSP (CPU 0), never sends that CPU INIT
 *   (INIT to the BSP resets the machine: disable_cpu_apicid=, later check_for_kdump_kernel() in
 *   arch/x86/kernel/cpu/topology.c); it starts every other CPU;
 * - BOOT_TRIPLE (empty IDT, int3) puts the resetting CPU into shutdown, from which, inside an NMI
 *   handler, only RESET restarts it (SDM; docs/model.md §3): an INIT-delivered reset leaves it there.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

const run = runRaw;

const sends = (records: TraceRecord[], mode: string) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'send' }> => r.t === 'send' && r.mode === mode);

describe('the crash kernel starts every CPU but itself and the real BSP', () => {
  it.each([
    [3, 1, 'intel', 'mainline'],
    [4, 2, 'intel', 'v5.10'],
    [5, 4, 'amd', 'v6.6'],
  ])('%i CPUs, kdump on CPU %i (%s, %s): INIT to every CPU but 0 and itself', (cpus, crash, vendor, preset) => {
    for (const seed of [1, 2]) {
      const { records, outcome } = run(
        {
          name: 'kdump-aps',
          machine: { cpus, vendor },
          kernel: { preset },
          options: { kdump: true, kdumpBringsUpAps: true, kvmLoaded: false },
          script: [{ cpu: crash, do: 'panic', at: 0 }],
        },
        seed,
      );
      const inits = sends(records, 'init').filter((s) => s.from === crash);
      const expected = Array.from({ length: cpus }, (_, c) => c).filter((c) => c !== 0 && c !== crash);
      expect(inits.map((s) => s.dest)).toEqual(expected.map((c) => `cpu${c}`));
      expect(outcome.end).toBe('kexec');
    }
  });

  it('kdump on CPU 0 (the BSP) starts all the others', () => {
    const { records } = run({ name: 'kdump-bsp', machine: { cpus: 4 }, options: { kdump: true, kdumpBringsUpAps: true, kvmLoaded: false }, script: [{ cpu: 0, do: 'panic', at: 0 }] });
    expect(sends(records, 'init').filter((s) => s.from === 0).map((s) => s.dest)).toEqual(['cpu1', 'cpu2', 'cpu3']);
  });
});

describe('BOOT_TRIPLE: shutdown inside an NMI handler is left only by RESET', () => {
  const scenario = (context: string, initOnly: boolean, cpus: number) => ({
    name: 'triple',
    machine: { cpus },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { panicTimeout: -1, reset: { method: 'triple', initOnly } },
    script: [{ cpu: 1, do: 'emergency-restart', context, at: 0 }],
  });
  const initOf = (records: TraceRecord[], cpu: number) =>
    records.find((r): r is Extract<TraceRecord, { t: 'deliver' }> => r.t === 'deliver' && r.cpu === cpu && r.mode === 'init');

  it.each([2, 3, 5])('%i CPUs: from NMI context with an INIT-delivered reset, the initiator keeps its INIT pending and the machine hangs', (cpus) => {
    const { outcome, records } = run(scenario('nmi', true, cpus));
    expect(initOf(records, 1)?.status).toBe('pending');
    expect(outcome.end).toBe('hang');
    expect(outcome.cpus[1]?.activity).toBe('shutdown');
    expect(outcome.violations.map((v) => v.property)).toContain('reboot-completes');
  });

  it.each([
    ['task', true],
    ['task', false],
    ['nmi', false],
  ] as const)('from %s context (initOnly %s) the reset completes', (context, initOnly) => {
    const { outcome } = run(scenario(context, initOnly, 3));
    expect(outcome.end).toBe('reset');
  });

  it('another reset method from NMI context with an INIT-delivered reset restarts the initiator', () => {
    const raw = { ...scenario('nmi', true, 3), options: { panicTimeout: -1, reset: { method: 'acpi', initOnly: true } } };
    const { outcome, records } = run(raw);
    expect(initOf(records, 1)?.status).toBe('delivered');
    expect(outcome.end).toBe('reset');
  });
});
