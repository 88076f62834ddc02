/**
 * The failed-RSM reproducer as a user runs it, through `main()`: a scenario file whose SMI handler's RSM
 * fails with the vCPU in L1 (docs/model.md §4.4 item 4). Before 25b17226cd9a (presets v5.10, v5.11) the
 * second KVM_RUN ends in KVM_EXIT_INTERNAL_ERROR (17); from v5.14 in KVM_EXIT_SHUTDOWN (8).
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';

const file = (vendor: string) =>
  JSON.stringify({
    name: 'rsm-l1-fail',
    machine: { cpus: 2, vendor },
    vms: [
      {
        vcpus: [
          {
            cpu: 1,
            guest: { l1: ['io', 'hlt'], smm: ['rsm'] },
            vmm: [
              { ioctl: 'KVM_CREATE_VCPU' },
              { ioctl: 'KVM_SET_CPUID2' },
              { ioctl: 'KVM_RUN' },
              { ioctl: 'KVM_SET_SREGS', efer: '0x2501' },
              { ioctl: 'KVM_SMI' },
              { ioctl: 'KVM_RUN' },
            ],
          },
        ],
      },
    ],
  });

async function run(args: string[], vendor: string): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo({ 'rsm.json': file(vendor) });
  const code = await main(['run', 'rsm.json', ...args], t.cli);
  return { code, out: t.out(), err: t.err() };
}

const runReturns = (out: string) => out.split('\n').filter((l) => l.includes('KVM_RUN = 0'));

describe.each(['intel', 'amd'])('shootdown run <failed RSM in L1> (%s)', (vendor) => {
  it.each(['v5.10', 'v5.11'])('--kernel %s: KVM_EXIT_INTERNAL_ERROR (17)', async (preset) => {
    const r = await run(['--kernel', preset], vendor);
    expect(r.code, r.err).toBe(0);
    expect(runReturns(r.out).map((l) => l.replace(/^.*exit_reason /, ''))).toEqual(['KVM_EXIT_IO (2)', 'KVM_EXIT_INTERNAL_ERROR (17)']);
  });

  it.each([
    ['v6.2', []],
    ['v5.10', ['--fix', 'rsm-failure-triple-faults']],
  ] as const)('--kernel %s %s: KVM_EXIT_SHUTDOWN (8)', async (preset, more) => {
    const r = await run(['--kernel', preset, ...more], vendor);
    expect(r.code, r.err).toBe(0);
    expect(runReturns(r.out).at(-1)).toMatch(/exit_reason KVM_EXIT_SHUTDOWN \(8\)$/);
  });

  it('kernels names both switches with their commits', async () => {
    const t = memoryIo({});
    expect(await main(['kernels'], t.cli)).toBe(0);
    expect(t.out()).toContain('25b17226cd9a');
    expect(t.out()).toContain('92e7d5c83aff');
  });
});
