/**
 * docs/model.md §1.8 and the contexts panic() and emergency_restart() run in: a panic from an NMI handler, the
 * losing CPU of two NMI panics acknowledging through run_crash_ipi_callback(), SysRq-b from an
 * interrupt handler.
 */
import { describe, expect, it } from 'vitest';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';

function scenario(raw: Record<string, unknown>) {
  const r = validateScenario(raw, 'test', validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

describe('NMI-context panics (docs/model.md §1.8)', () => {
  it.each(['v5.10', 'v6.2', 'mainline'])(
    '%s: two hard-lockup NMI panics at once — one CPU panics in NMI context and kdumps; the other waits in nmi_panic_self_stop and acks through run_crash_ipi_callback',
    (preset) => {
      const s = scenario({
        name: 'double nmi panic',
        machine: { cpus: 4 },
        initial: { all: { vmx: 'root', loadedVmcs: 1 } },
        kernel: { preset },
        options: { kdump: true, kdumpBringsUpAps: false },
        script: [
          { cpu: 1, do: 'nmi-panic', at: 0, message: 'Watchdog detected hard LOCKUP on cpu 1' },
          { cpu: 2, do: 'nmi-panic', at: 0, message: 'Watchdog detected hard LOCKUP on cpu 2' },
        ],
      });
      const { outcome, trace } = runScenario(s, { seed: 5, keepTrace: true });
      expect(outcome.end).toBe('kexec');
      const winner = outcome.shootdowns[0]?.initiator as number;
      const loser = winner === 1 ? 2 : 1;
      expect(outcome.console.filter((c) => c.text.startsWith('Kernel panic'))).toEqual([
        expect.objectContaining({ cpu: winner, text: `Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu ${winner}` }),
      ]);
      expect(outcome.shootdowns[0]).toMatchObject({ timedOut: false });
      expect(outcome.shootdowns[0]?.acked).toContain(loser);
      // The loser was already in an NMI, so it could not take the shootdown NMI: it acked from its loop.
      expect(trace.some((r) => r.t === 'step' && r.cpu === loser && r.to.includes('nmiPanic.crashCallback'))).toBe(true);
      const kexec = trace.find((r) => r.t === 'kexec');
      expect(kexec).toMatchObject({ cpu: winner });
      expect(trace.some((r) => r.t === 'step' && r.cpu === winner && r.ctx === 'nmi' && r.to.includes('os.nmi.kdump'))).toBe(true);
    },
  );
});

describe('emergency restart from an interrupt handler (docs/model.md §1.2, SysRq-b from the keyboard IRQ)', () => {
  it.each(['v5.11', 'mainline'])('%s: the restart runs in IRQ context and still shoots the others down', (preset) => {
    const s = scenario({
      name: 'sysrq-b from irq',
      machine: { cpus: 3 },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      kernel: { preset },
      script: [{ cpu: 0, do: 'emergency-restart', context: 'irq', at: 0 }],
    });
    const { outcome, trace } = runScenario(s, { seed: 1, keepTrace: true });
    expect(outcome.end).toBe('reset');
    expect(outcome.shootdowns[0]).toMatchObject({ initiator: 0, timedOut: false });
    expect(trace.some((r) => r.t === 'step' && r.cpu === 0 && r.ctx === 'irq' && r.to.startsWith('os.irq.emergencyRestart'))).toBe(true);
    expect(outcome.violations).toEqual([]);
  });

  it('an IRQ-context action on a CPU with IRQs off waits in the IRR until they are enabled', () => {
    const s = scenario({
      name: 'irq held',
      machine: { cpus: 2 },
      script: [
        { cpu: 0, do: 'irqs-off', at: 0 },
        { cpu: 0, do: 'panic', context: 'irq', at: 100, message: 'from a device' },
        { cpu: 0, do: 'irqs-on', at: 5000 },
      ],
    });
    const { outcome, trace } = runScenario(s, { seed: 1, keepTrace: true });
    const held = trace.find((r) => r.t === 'deliver' && r.cpu === 0 && r.mode === 'fixed');
    expect(held).toMatchObject({ status: 'pending' });
    const header = outcome.console.find((c) => c.text === 'Kernel panic - not syncing: from a device');
    expect(header?.timeNs).toBeGreaterThanOrEqual(5000);
  });
});

describe('SMM (docs/model.md §3.5)', () => {
  it('an SMI runs the firmware and RSM returns to the interrupted task; INIT is held while in SMM', () => {
    const s = scenario({
      name: 'smi',
      machine: { cpus: 2 },
      script: [{ cpu: 1, do: 'smi', at: 0 }],
    });
    const { trace } = runScenario(s, { seed: 1, keepTrace: true });
    const steps = trace.filter((r) => r.t === 'step' && r.cpu === 1).map((r) => (r as { to: string }).to);
    expect(steps).toEqual(['os.smm.rsm', 'os.task.idle']);
  });
});
