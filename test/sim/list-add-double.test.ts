/**
 * E0/E1 second register_nmi_handler(NMI_LOCAL, crash_nmi_callback, NMI_FLAG_FIRST, "crash") with list
 * debugging. list_add_rcu(&crash_na.list, &desc->head) has prev = the list head and next = the first entry;
 * lib/list_debug.c __list_add_valid() BUGs only on `new == prev || new == next`. So the double add is caught
 * only when "crash" is the first entry (new == next); behind smp_stop (also NMI_FLAG_FIRST, registered later by
 * the NMI fallback of native_stop_other_cpus) the add passes the check and corrupts the list. E1b+
 * (register-nmi-handler-refuses-double) refuses a second registration wherever the entry is.
 *
 * An oops in interrupt context inside the panic() an earlier oops started, on the CPU owning panic_cpu:
 * oops_end() (arch/x86/kernel/dumpstack.c) releases die_lock and panics, and panic() (kernel/panic.c) lets
 * its owner in again (old_cpu == this_cpu), so the same path oopses again: the model stops the loop there
 * (kernel event panic-recursion) instead of running it to the step budget.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import { KernelMemory } from '../../src/kernel/memory.js';
import { formatOutcome } from '../../src/cli/format.js';
import type { TraceRecord } from '../../src/trace/records.js';

const run = runRaw;

const consoleOf = (records: TraceRecord[], cpu: number) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'console' }> => r.t === 'console' && r.cpu === cpu).map((r) => r.text);
const kernelEvents = (records: TraceRecord[], what: string) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'kernel' }> => r.t === 'kernel' && r.what === what).map((r) => r.cpu);
const registrations = (records: TraceRecord[]) =>
  records
    .filter((r): r is Extract<TraceRecord, { t: 'mem' }> => r.t === 'mem' && r.name === 'nmi_handlers' && r.op === 'register_nmi_handler')
    .map((r) => [r.cpu, r.value]);

describe('__list_add_valid(): only a crash handler first on NMI_LOCAL is a double add it sees', () => {
  it('KernelMemory: a second add links the entry at the head again and marks the list corrupt', () => {
    const k = new KernelMemory(2);
    k.addNmiHandler('crash', 0);
    k.addNmiHandler('smp_stop', 1);
    expect(k.state.nmi_local).toEqual(['smp_stop', 'crash']);
    expect(k.state.nmi_list_corrupt).toBe(false);
    k.addNmiHandler('crash', 1);
    expect(k.state.nmi_local).toEqual(['crash', 'smp_stop']);
    expect(k.state.nmi_list_corrupt).toBe(true);
  });

  // Every CPU but 0 has IRQs off and holds CPU 0's REBOOT_VECTOR (its nmi-panic's smp_send_stop). The last
  // CPU's restart shootdown registers "crash": CPU 0, in NMI context, latches that NMI; the others halt in
  // crash_nmi_callback. CPU 0's NMI fallback at 1 s registers smp_stop ahead of "crash" (and stops the last
  // CPU); its panic-timeout restart at 2 s registers "crash" again, behind smp_stop.
  const behindStop = (cpus: number, kernel: Record<string, unknown>) => ({
    name: 'listadd',
    machine: { cpus, vendor: 'intel' },
    initial: { all: { vmx: 'root', if: false }, cpus: { '0': { if: true } } },
    kernel,
    options: { kdump: false, panicTimeout: 1, debugList: true, maxSteps: 20000 },
    script: [
      { cpu: 0, do: 'nmi-panic', at: 0 },
      { cpu: cpus - 1, do: 'emergency-restart', at: 5000 },
    ],
  });

  for (const preset of ['v5.10', 'v5.11']) {
    for (const cpus of [2, 3, 5]) {
      it(`${preset}, ${cpus} CPUs: "crash" behind smp_stop is added again without a BUG; the run resets`, () => {
        for (const seed of [1, 2]) {
          const { outcome, records } = run(behindStop(cpus, { preset }), seed);
          expect(registrations(records)).toEqual([
            [cpus - 1, 'crash'],
            [0, 'smp_stop'],
            [0, 'crash'],
          ]);
          expect(kernelEvents(records, 'list-corruption-bug')).toEqual([]);
          expect(consoleOf(records, 0).some((t) => t.startsWith('kernel BUG'))).toBe(false);
          expect(outcome.violations.filter((v) => v.property === 'no-kernel-bug')).toEqual([]);
          expect(outcome.end).toBe('reset');
        }
      });
    }
  }

  it('E1b (register-nmi-handler-refuses-double on v5.11), 3 CPUs: the second registration is refused behind smp_stop too', () => {
    const { records } = run(behindStop(3, { preset: 'v5.11', fix: ['register-nmi-handler-refuses-double'] }));
    expect(registrations(records)).toEqual([
      [2, 'crash'],
      [0, 'smp_stop'],
    ]);
    expect(kernelEvents(records, 'shootdown-refused')).toEqual([0]);
  });
});

describe('"crash" first on the list: the BUG, with new == next, and the oops loop it starts in interrupt context', () => {
  // R1 in NMI or IRQ context: crash_smp_send_stop() registers "crash" (first: nothing else is registered),
  // the panic-timeout restart registers it again.
  const r1 = (cpus: number, preset: string, how: Record<string, unknown>) => ({
    name: 'r1-irq',
    machine: { cpus, vendor: 'intel' },
    initial: { all: { vmx: 'root' } },
    kernel: { preset },
    options: { kdump: false, panicTimeout: 1, debugList: true, crashKexecPostNotifiers: true, maxSteps: 20000 },
    script: [{ cpu: 1, at: 0, ...how }],
  });
  const HOW: [string, Record<string, unknown>][] = [
    ['nmi-panic', { do: 'nmi-panic' }],
    ['panic in IRQ context', { do: 'panic', context: 'irq' }],
  ];

  for (const [label, how] of HOW) {
    for (const cpus of [2, 4]) {
      it(`v5.11, ${cpus} CPUs, ${label}: BUG, nested panic, BUG again, then the run stops the loop (panic-recursion)`, () => {
        const { outcome, records } = run(r1(cpus, 'v5.11', how));
        const lines = consoleOf(records, 1);
        const adds = lines.filter((t) => t.startsWith('list_add double add'));
        expect(adds).toHaveLength(2);
        for (const line of adds) {
          const m = /new=([0-9a-f]+), prev=([0-9a-f]+), next=([0-9a-f]+)\./.exec(line);
          expect(m).not.toBeNull();
          expect(m?.[3]).toBe(m?.[1]);
          expect(m?.[2]).not.toBe(m?.[1]);
        }
        expect(lines.filter((t) => t === 'Kernel panic - not syncing: Fatal exception in interrupt')).toHaveLength(1);
        expect(kernelEvents(records, 'panic-recursion')).toEqual([1]);
        expect(outcome.end).toBe('hang');
        expect(outcome.cpus[1]?.state).toMatch(/\.die\.recursion$/);
        expect(formatOutcome(outcome)).toContain('PANIC LOOP: CPU1');
      });
    }
  }

  it('v5.10, 3 CPUs, nmi-panic: the nested panic\'s restart skips the shootdown (CR4.VMXE is 0 now) and resets', () => {
    const { outcome, records } = run(r1(3, 'v5.10', { do: 'nmi-panic' }));
    expect(kernelEvents(records, 'list-corruption-bug')).toEqual([1]);
    expect(kernelEvents(records, 'panic-recursion')).toEqual([]);
    expect(outcome.end).toBe('reset');
  });

  it('v5.11, 3 CPUs, panic in task context: die() kills the task, no nested panic', () => {
    const { records } = run(r1(3, 'v5.11', { do: 'panic', context: 'task' }));
    expect(kernelEvents(records, 'list-corruption-bug')).toEqual([1]);
    expect(kernelEvents(records, 'panic-recursion')).toEqual([]);
  });
});
