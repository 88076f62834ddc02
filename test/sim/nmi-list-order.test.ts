/**
 * E0–E4 keep crash_nmi_callback ("crash") and smp_stop_nmi_callback ("smp_stop") on the NMI_LOCAL list,
 * both registered with NMI_FLAG_FIRST, which __register_nmi_handler() list_add_rcu()s at the head
 * (arch/x86/kernel/nmi.c): nmi_handle() calls the later one first. A stop NMI fallback registered
 * after a kdump shootdown therefore runs before crash_nmi_callback, and a CPU that takes the
 * shootdown NMI late stops in stop_this_cpu() without acknowledging it.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';

// AMD, KVM not loaded: CPU 0 and CPU 2 hold NMIs with GIF=0. CPU 0's reboot(2) stop waits 1 s for
// REBOOT_VECTOR (CPU 1 has IRQs off, CPU 2 GIF=0), then registers smp_stop; CPU 1's kdump registered
// crash at 0.5 s. CPU 2's SysRq-b at 1.2 s executes STGI and takes the latched shootdown NMI.
const raw = {
  name: 'stop-after-crash',
  machine: { cpus: 3, vendor: 'amd' },
  initial: { all: { svme: true }, cpus: { '0': { gif: false }, '2': { gif: false } } },
  kernel: { preset: 'v6.2' },
  options: { kdump: true, kvmLoaded: false },
  script: [
    { cpu: 0, do: 'reboot', at: 0 },
    { cpu: 1, do: 'irqs-off', at: 0 },
    { cpu: 1, do: 'panic', at: 500_000_000 },
    { cpu: 2, do: 'emergency-restart', at: 1_200_000_000 },
  ],
};

describe('NMI_LOCAL handlers in list order: the stop handler registered last runs first', () => {
  it('v6.2: the late shootdown NMI on CPU 2 runs smp_stop_nmi_callback first: stop_this_cpu(), no ack', () => {
    const v = validateScenario(raw, raw.name, validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const { outcome } = runScenario(v.scenario, { seed: 1 });
    expect(outcome.cpus[2]?.state).toBe('os.nmi.stopFirstHandler.stop.halted');
    expect(outcome.shootdowns.map((s) => [s.initiator, s.acked])).toEqual([[1, []]]);
  });
});
