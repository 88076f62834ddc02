/**
 * A scenario's first error is the cause, not a consequence of it: a vCPU on a CPU out of range is
 * reported as such, not as its VM's vsock device lacking a vCPU (or a script trigger lacking one); and
 * when `--cpus` narrowed the machine, the error says so.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';

async function cli(args: string[], files: Record<string, string> = {}): Promise<{ code: number; err: string }> {
  const t = memoryIo(files);
  const code = await main(args, t.cli);
  return { code, err: t.err() };
}

const vm = (cpu: number) => ({ vsock: { setup: 'script', worker: 0 }, vcpus: [{ cpu, guest: { l1: ['spin'] } }] });

describe('the cause first', () => {
  it('a vCPU on a CPU out of range: that error, not "a vsock device needs a vCPU"', async () => {
    const file = JSON.stringify({ name: 'b', machine: { cpus: 2 }, vms: [vm(2)], script: [] });
    const { code, err } = await cli(['run', 'b.json'], { 'b.json': file });
    expect(err).toMatch(/^shootdown: b\.json: vms\[0\]\.vcpus\[0\]\.cpu: CPU 2 is out of range \(the machine has 2 CPUs: 0-1\)/);
    expect(err).not.toMatch(/needs a vCPU/);
    expect(code).toBe(2);
  });

  it('nor a script trigger on its vCPU or device, earlier in the file', async () => {
    const file = JSON.stringify({
      name: 'b',
      machine: { cpus: 2 },
      script: [
        { when: { vsock: 0, enters: 'stopped' }, cpu: 0, do: 'panic' },
        { when: { vcpu: 0, enters: 'guest' }, cpu: 0, do: 'panic' },
      ],
      vms: [vm(2)],
    });
    const { code, err } = await cli(['run', 'b.json'], { 'b.json': file });
    expect(err).toMatch(/^shootdown: b\.json: vms\[0\]\.vcpus\[0\]\.cpu: CPU 2 is out of range/);
    expect(code).toBe(2);
  });

  it('a vsock device in a VM with no vCPU at all is still refused', async () => {
    const file = JSON.stringify({ name: 'b', machine: { cpus: 2 }, vms: [{ vsock: { setup: 'script', worker: 0 }, vcpus: [] }], script: [] });
    const { code, err } = await cli(['run', 'b.json'], { 'b.json': file });
    expect(err).toMatch(/^shootdown: b\.json: vms\[0\]\.vsock: a vsock device needs a vCPU whose VMM thread drives it/);
    expect(code).toBe(2);
  });
});

describe('an error --cpus caused says so', () => {
  it.each([
    [['T15', '--cpus', '2'], /^shootdown: T15: vms\[1\]\.vcpus\[0\]\.cpu: CPU 2 is out of range \(the machine has 2 CPUs: 0-1\) \(with --cpus 2: the scenario is written for 3 CPUs\)\n$/],
    [['T14', '--cpus', '1'], /^shootdown: T14: [^\n]*CPU 2 is out of range \(the machine has 1 CPU: 0\) \(with --cpus 1: the scenario is written for 3 CPUs\)\n$/],
  ])('explore %j', async (args, message) => {
    const { code, err } = await cli(['explore', ...args]);
    expect(err).toMatch(message);
    expect(err).not.toMatch(/needs a vCPU/);
    expect(code).toBe(2);
  });

  it('for a scenario file too', async () => {
    const file = JSON.stringify({ name: 'b', machine: { cpus: 3 }, vms: [vm(2)], script: [] });
    const { code, err } = await cli(['explore', 'b.json', '--cpus', '2'], { 'b.json': file });
    expect(err).toMatch(/^shootdown: b\.json: vms\[0\]\.vcpus\[0\]\.cpu: CPU 2 is out of range \(the machine has 2 CPUs: 0-1\) \(with --cpus 2: the scenario is written for 3 CPUs\)/);
    expect(code).toBe(2);
  });
});
