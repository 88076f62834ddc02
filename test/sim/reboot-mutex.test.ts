/**
 * reboot(2) takes system_transition_mutex before kernel_restart() (kernel/reboot.c,
 * SYSCALL_DEFINE4(reboot)) and never gives it back: a second `reboot` on another CPU sleeps in
 * mutex_lock() for good, and only the first one stops the others and resets the machine.
 */
import { describe, expect, it } from 'vitest';
import { runRaw } from './run-raw.js';
import type { TraceRecord } from '../../src/trace/records.js';

const run = runRaw;

const kernel = (records: TraceRecord[], what: string) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'kernel' }> => r.t === 'kernel' && r.what === what).map((r) => r.cpu);
const mutexWrites = (records: TraceRecord[]) =>
  records.filter((r): r is Extract<TraceRecord, { t: 'mem' }> => r.t === 'mem' && r.name === 'system_transition_mutex');

describe('reboot(2) holds system_transition_mutex: a second reboot sleeps on it', () => {
  it.each([
    [3, 1, 2, 'v5.10'],
    [4, 0, 3, 'mainline'],
    [5, 4, 2, 'v6.2'],
  ])('%i CPUs, reboots on CPUs %i and %i (%s): one takes the mutex, the other blocks; one stop, one reset', (cpus, a, b, kernelName) => {
    for (const seed of [1, 2, 3, 4]) {
      const raw = {
        name: 'two-reboots',
        kernel: { preset: kernelName },
        machine: { cpus },
        initial: { all: { vmx: 'root', loadedVmcs: 1 } },
        script: [
          { cpu: a, do: 'reboot', at: 0 },
          { cpu: b, do: 'reboot', at: 0 },
        ],
      };
      const { outcome, records } = run(raw, seed);
      const locks = mutexWrites(records);
      expect(locks).toHaveLength(1);
      const owner = locks[0]?.cpu;
      expect([a, b]).toContain(owner);
      expect(kernel(records, 'reboot-blocked-on-mutex')).toEqual([owner === a ? b : a]);
      // One stop_other_cpus() (one REBOOT_VECTOR broadcast), one reset, by the reboot CPU.
      const stops = records.filter((r): r is Extract<TraceRecord, { t: 'send' }> => r.t === 'send' && r.vector === 0xf8);
      expect(new Set(stops.map((s) => s.from)).size).toBe(1);
      expect(records.filter((r) => r.t === 'reset')).toHaveLength(1);
      expect(outcome.end).toBe('reset');
      expect(outcome.violations).toEqual([]);
    }
  });

  it('a reboot after an emergency restart began is not held by the mutex (emergency_restart() takes none)', () => {
    const raw = {
      name: 'reboot-after-emergency',
      machine: { cpus: 3 },
      options: { kvmLoaded: false },
      script: [
        { cpu: 1, do: 'emergency-restart', at: 0 },
        { cpu: 2, do: 'reboot', at: 0 },
      ],
    };
    const { records } = run(raw, 1);
    expect(mutexWrites(records).map((r) => r.cpu)).toEqual([2]);
    expect(kernel(records, 'reboot-blocked-on-mutex')).toEqual([]);
  });
});
