/**
 * INIT, NMI and SMI reaching a CPU that has left the old kernel: the crash kernel's boot CPU, an AP it
 * started, and a CPU waiting for SIPI. The arrival rules of src/hw/interrupts.ts decide as they do in
 * the old kernel: a CPU out of VMX root with GIF=1 and not in SMM takes INIT (SDM Vol. 3C "Restrictions
 * on VMX Operation"; KVM's kvm_apic_accept_events() resets a vCPU on INIT in any mp_state, wait-for-SIPI
 * included) and waits for SIPI; nothing that arrives is "not accepted in this state".
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Deliver = Extract<TraceRecord, { t: 'deliver' }>;
type Final = Extract<TraceRecord, { t: 'final' }>;

function run(raw: Record<string, unknown>, seed: number, kernel?: string) {
  const withKernel = kernel ? { ...raw, kernel: { preset: kernel } } : raw;
  const v = validateScenario(withKernel, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const records: TraceRecord[] = [];
  const { outcome } = runScenario(v.scenario, { seed, onRecord: (r) => records.push(r) });
  const delivers = records.filter((r): r is Deliver => r.t === 'deliver');
  const finals = records.filter((r): r is Final => r.t === 'final');
  return { outcome, records, delivers, finals };
}

/** CPU 1 panics into kdump while CPU 0 emergency-restarts: each times out on the other, CPU 0 resets by INIT after CPU 1 kexecs. */
const raced = (kdumpBringsUpAps: boolean) => ({
  name: 'kexec-init',
  machine: { cpus: 2 },
  initial: { all: { vmx: 'root', loadedVmcs: 1 } },
  options: { kdump: true, kdumpBringsUpAps, reset: { method: 'acpi', initOnly: true } },
  script: [
    { cpu: 1, do: 'panic', context: 'nmi', at: 10 },
    { cpu: 0, do: 'emergency-restart', context: 'nmi', at: 10 },
  ],
});

describe('INIT reaches a CPU running the crash kernel', () => {
  it.each([
    ['mainline', 1],
    ['v6.2', 2],
  ])('%s seed %i: the platform reset delivered as INIT takes the crash kernel CPU to wait-for-SIPI (the dump is lost)', (kernel, seed) => {
    const { outcome, records, delivers, finals } = run(raced(false), seed, kernel);
    const kexec = records.find((r) => r.t === 'kexec');
    expect(kexec?.cpu).toBe(1);
    // The reset's INIT reaches CPU 1 after its kexec, in this seed.
    const init = delivers.find((d) => d.cpu === 1 && d.mode === 'init');
    expect(init && kexec && init.ns > kexec.ns).toBe(true);
    expect(init?.status).toBe('delivered');
    expect(init?.to).toBe('waitForSipi');
    expect(finals.map((f) => [f.cpu, f.state, f.activity])).toEqual([
      [0, 'waitForSipi', 'wait-for-sipi'],
      [1, 'waitForSipi', 'wait-for-sipi'],
    ]);
    expect(outcome.end).toBe('reset');
    expect(delivers.filter((d) => d.status === 'dropped' && d.reason === 'not accepted in this state')).toEqual([]);
  });

  it('an AP the crash kernel started takes INIT too; INIT in wait-for-SIPI starts wait-for-SIPI again, never held', () => {
    // The roles swapped: the crash kernel runs on CPU 0 (the BSP), so CPU 1 is its AP (it never starts
    // the real BSP from another CPU: physical-cpu guards.ts nextAp).
    const swapped = { ...raced(true), script: [
      { cpu: 0, do: 'panic', context: 'nmi', at: 10 },
      { cpu: 1, do: 'emergency-restart', context: 'nmi', at: 10 },
    ] };
    const { outcome, delivers, finals } = run(swapped, 1);
    // CPU 1 is in wait-for-SIPI when the second INIT comes (the crash kernel's, or the reset's): taken.
    const inits = delivers.filter((d) => d.cpu === 1 && d.mode === 'init');
    expect(inits.length).toBe(2);
    expect(inits.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(finals.every((f) => !f.initPending)).toBe(true);
    expect(outcome.initIgnored).toEqual([]);
    expect(delivers.filter((d) => d.status === 'dropped' && d.reason === 'not accepted in this state')).toEqual([]);
  });

  it('v5.10: an AP already running in the crash kernel takes a later INIT-based reset and waits for SIPI again', () => {
    // AMD: CPU 2 sits with GIF=0, holding the kdump shootdown NMI and the crash kernel's INIT; its SysRq-b
    // 100 ms after the kexec resets by INIT (E0 does nothing for SVM) while CPU 1 runs as the crash kernel's AP.
    const raw = {
      name: 'ap-init',
      machine: { cpus: 3, vendor: 'amd' },
      initial: { all: { svme: true }, cpus: { '2': { gif: false } } },
      options: { kdump: true, kdumpBringsUpAps: true, reset: { method: 'acpi', initOnly: true } },
      script: [
        { cpu: 0, do: 'panic', at: 10 },
        { cpu: 2, do: 'emergency-restart', at: 1_100_000_000 },
      ],
    };
    const { outcome, records, delivers, finals } = run(raw, 1, 'v5.10');
    const reset = records.find((r) => r.t === 'reset');
    const sipi = delivers.find((d) => d.cpu === 1 && d.mode === 'sipi');
    expect(sipi?.status).toBe('delivered');
    expect(reset && sipi && reset.ns > sipi.ns).toBe(true);
    const init = delivers.filter((d) => d.cpu === 1 && d.mode === 'init').at(-1);
    expect(init?.status).toBe('delivered');
    expect(init?.to).toBe('waitForSipi');
    expect(finals.map((f) => f.state)).toEqual(['waitForSipi', 'waitForSipi', 'os.task.emergencyRestart.resetting']);
    // CPU 2 keeps GIF=0 and holds its INIT: the reset cannot complete.
    expect(outcome.initIgnored).toEqual([2]);
    expect(outcome.end).toBe('hang');
  });
});
