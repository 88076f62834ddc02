/**
 * Every CPU doing SysRq-b at once: each sends the shootdown NMI to all the others. A CPU has one NMI
 * latch, so an NMI sent to a CPU that one is already on its way to becomes part of it: what waits in
 * flight stays proportional to the CPUs, not to their square, and every delivery is still accounted.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';

function everyoneRestarts(cpus: number) {
  const raw = {
    name: 'sysrq-storm',
    machine: { cpus },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    script: Array.from({ length: cpus }, (_, cpu) => ({ cpu, do: 'emergency-restart', at: 0 })),
  };
  const v = validateScenario(raw, 'sysrq-storm', validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.scenario;
}

describe('N CPUs all sending NMI-to-all: in-flight deliveries stay O(N)', () => {
  it('at most one shootdown NMI in flight per CPU, every delivery accounted, and the machine resets', () => {
    const cpus = 24;
    let inFlight = 0;
    let most = 0;
    let collapsed = 0;
    const { outcome } = runScenario(everyoneRestarts(cpus), {
      seed: 1,
      onRecord: (r) => {
        if (r.t === 'send') inFlight += r.targets;
        if (r.t === 'deliver') inFlight -= 1;
        // Collapsed deliveries end right after their send, in records of their own: count what is left once they have.
        if (r.t === 'deliver' && r.reason?.startsWith('collapsed into NMI message')) collapsed += 1;
        else if (r.t !== 'send') most = Math.max(most, inFlight);
      },
    });
    expect(outcome.end).toBe('reset');
    expect(outcome.messages.inFlight).toBe(0);
    expect(outcome.messages.deliveries).toBe(outcome.messages.delivered + outcome.messages.pending + outcome.messages.latched + outcome.messages.dropped);
    expect(collapsed).toBeGreaterThan(0);
    // Without collapsing: 24 × 23 = 552 at once.
    expect(most).toBeLessThanOrEqual(cpus);
  });
});
