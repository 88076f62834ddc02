/**
 * A CPU stopped for good in an interrupt or NMI handler (crash_nmi_callback()'s halt loop,
 * stop_this_cpu(): arch/x86/kernel/reboot.c, process.c) never returns to the task it interrupted: a
 * task-context script step on it afterwards is ignored, with the reason, and starts nothing a
 * property waits for; an interrupt-context step still sends its interrupt, which the stopped CPU
 * latches or drops as hardware does.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import type { TraceRecord } from '../../src/trace/records.js';

/** CPU 1 panics with kdump at 0 (its shootdown stops CPU 2); CPU 2's own step comes at 0.9 ms. */
function run(late: Record<string, unknown>, seed: number) {
  const raw = {
    name: 'late-step',
    machine: { cpus: 3 },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { kdump: true, kdumpBringsUpAps: false },
    script: [{ cpu: 1, do: 'panic', at: 0, message: 'first' }, { cpu: 2, at: 900_000, ...late }],
  };
  const v = validateScenario(raw, 'late-step', validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const records: TraceRecord[] = [];
  const { outcome } = runScenario(v.scenario, { seed, onRecord: (r) => records.push(r) });
  const script = records.filter((r): r is Extract<TraceRecord, { t: 'script' }> => r.t === 'script' && r.index === 1);
  return { outcome, script, records };
}

describe('a task-context script step on a CPU stopped in the crash NMI handler', () => {
  it.each([[{ do: 'panic', message: 'late' }], [{ do: 'reboot' }], [{ do: 'emergency-restart' }], [{ do: 'panic', context: 'task', message: 'late' }]])('%j is ignored: the task never runs again', (late) => {
    for (const seed of [1, 2, 3]) {
      const { outcome, script } = run(late, seed);
      expect(script).toHaveLength(1);
      expect(script[0]).toMatchObject({ status: 'ignored', reason: 'CPU 2 never returns to its task: it is stopped in nmi context (os.nmi.emergencyHandler.halted)' });
      // Nothing of it happened: CPU 2 stays halted in the handler, the run is the kexec of CPU 1.
      expect(outcome.end).toBe('kexec');
      expect(outcome.cpus[2]?.state).toBe('os.nmi.emergencyHandler.halted');
    }
  });

  it('an interrupt-context step still sends its interrupt (the stopped CPU latches the NMI)', () => {
    const { script, records } = run({ do: 'panic', context: 'nmi', message: 'late' }, 1);
    expect(script[0]).toMatchObject({ status: 'done' });
    expect(records.some((r) => r.t === 'deliver' && r.cpu === 2 && r.status === 'latched')).toBe(true);
  });
});

describe('a CPU that starts with IF clear runs its task with IRQs off', () => {
  it('`irqs-on` re-enables them: a device IRQ held in the IRR is taken then, and its panic runs', () => {
    const raw = {
      name: 'if-off-then-on',
      machine: { cpus: 2 },
      initial: { cpus: { '1': { if: false } } },
      options: { kdump: true },
      script: [{ cpu: 1, do: 'panic', context: 'irq', at: 0, message: 'late' }, { cpu: 1, do: 'irqs-on', at: 5000 }],
    };
    const v = validateScenario(raw, 'if-off-then-on', validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    for (const seed of [1, 2, 3]) {
      const records: TraceRecord[] = [];
      const { outcome } = runScenario(v.scenario, { seed, onRecord: (r) => records.push(r) });
      const on = records.find((r): r is Extract<TraceRecord, { t: 'script' }> => r.t === 'script' && r.action === 'irqs-on');
      expect(on?.status).toBe('done');
      const panicAt = records.find((r): r is Extract<TraceRecord, { t: 'console' }> => r.t === 'console' && r.text.startsWith('Kernel panic - not syncing: late'))?.ns;
      expect(panicAt).toBeGreaterThan(5000);
      expect(outcome.end).toBe('kexec');
    }
  });
});

describe('every loop that never returns stops the task under it', () => {
  const runRaw = (raw: Record<string, unknown>) => {
    const v = validateScenario(raw, String(raw.name), validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const records: TraceRecord[] = [];
    const { outcome } = runScenario(v.scenario, { seed: 1, onRecord: (r) => records.push(r) });
    return { outcome, script: records.filter((r): r is Extract<TraceRecord, { t: 'script' }> => r.t === 'script') };
  };

  it("panic()'s last loop in NMI context (panic_timeout 0): a reboot there is ignored, and no restart is owed", () => {
    const { outcome, script } = runRaw({
      name: 'nmi-panic-then-reboot',
      machine: { cpus: 2 },
      options: { kvmLoaded: false, panicTimeout: 0 },
      script: [{ cpu: 1, do: 'nmi-panic', at: 0, message: 'p' }, { cpu: 1, do: 'reboot', when: { cpu: 1, enters: 'panic.spin' } }],
    });
    expect(script[1]).toMatchObject({ status: 'ignored', reason: 'CPU 1 never returns to its task: it is stopped in nmi context (os.nmi.panic.spin)' });
    expect(outcome.violations.map((v) => v.property)).not.toContain('reboot-completes');
  });

  it('irqs-on and irqs-off on a CPU halted by a stop NMI or REBOOT_VECTOR are ignored: its task never runs to do them', () => {
    const viaNmi = runRaw({
      name: 'irqs-on-stopped',
      machine: { cpus: 2 },
      options: { kvmLoaded: false, panicTimeout: 0 },
      script: [{ cpu: 1, do: 'irqs-off', at: 0 }, { cpu: 0, do: 'panic', at: 10, message: 'x' }, { cpu: 1, do: 'irqs-on', at: 3_000_000_000 }],
    });
    expect(viaNmi.script[2]).toMatchObject({ action: 'irqs-on', status: 'ignored' });
    expect(viaNmi.script[2]?.reason).toMatch(/^CPU 1 never returns to its task: it is stopped in nmi context/);
  });
});

describe("a task's timeout under a loop that never returns", () => {
  it('a shootdown initiator halted in the crash NMI handler does not time out: its wait loop never reads the clock again', () => {
    const raw = {
      name: 'initiator-stopped',
      machine: { cpus: 2, vendor: 'intel' },
      options: { kvmLoaded: false, kdump: true, kdumpBringsUpAps: false, reset: { method: 'acpi', initOnly: true } },
      script: [{ cpu: 0, do: 'emergency-restart', at: 0 }, { cpu: 1, do: 'panic', at: 0, message: 'p' }],
    };
    const v = validateScenario(raw, 'initiator-stopped', validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    let seen = 0;
    const deadEnds: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const records: TraceRecord[] = [];
      const { outcome } = runScenario(v.scenario, { seed, onRecord: (r) => records.push(r) });
      const halted = records.findIndex((r) => r.t === 'step' && r.cpu === 0 && r.ctx === 'nmi' && r.to === 'os.nmi.emergencyHandler.halted');
      if (halted < 0) continue;
      seen += 1;
      const timeout = records.findIndex((r) => r.t === 'kernel' && r.cpu === 0 && r.what === 'shootdown-timeout');
      // A timeout before CPU 0 halted is real; after it, none.
      if (timeout >= 0) expect(timeout).toBeLessThan(halted);
      else {
        expect(outcome.violations.map((x) => x.message)).not.toContain('CPU 0 waited 1000 ms for its NMI shootdown: no ack from CPU 1');
        // The wait's deadline is gone with it (the scheduler drops a timer no one reads): no timer
        // expires after CPU 0 halted, and the run does not end at the dead deadline, 1 s in.
        expect(records.slice(halted).some((r) => r.t === 'timer' && r.cpu === 0)).toBe(false);
        deadEnds.push(outcome.timeNs);
      }
    }
    expect(seen).toBeGreaterThan(0);
    expect(deadEnds.length).toBeGreaterThan(0);
    for (const ns of deadEnds) expect(ns).toBeLessThan(1_000_000_000);
  });
});
