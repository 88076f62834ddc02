/**
 * vCPU ids in a scenario file, through the built command as a process. In KVM a VM's vCPU ids are
 * unique: kvm_vm_ioctl_create_vcpu() (virt/kvm/kvm_main.c) answers -EEXIST when
 * kvm_get_vcpu_by_id() finds the id, and -EINVAL for an id of KVM_MAX_VCPU_IDS or more. The model runs
 * the vCPUs `vcpus` describes, each created by its own VMM thread, so:
 * - two vCPUs of one VM with the same id (given, or implied by their place) are refused naming the
 *   second (both were created, the same id twice in one VM); in two VMs the same id is fine;
 * - a KVM_CREATE_VCPU call with the id of another vCPU, or of none the scenario describes, is refused
 *   naming the call (it answered -EINVAL, an errno KVM never gives for it);
 * - a call with an id of KVM_MAX_VCPU_IDS or more is taken, and answers the kernel's -EINVAL.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtCli } from './built-cli.js';

const { dir, shootdown } = builtCli('vcpu-ids');

function run(name: string, vms: unknown[]): { status: number | null; stdout: string; stderr: string; traced: boolean } {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, machine: { cpus: 4 }, vms }));
  const trace = path.join(dir, `${name}.jsonl`);
  const r = shootdown(['run', file, '--trace', trace]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, traced: fs.existsSync(trace) };
}

function refused(r: ReturnType<typeof run>, message: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.traced).toBe(false);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(message);
}

describe('vCPU ids in one VM are unique', () => {
  it.each([
    ['two given ids', [{ vcpus: [{ cpu: 1, id: 3 }, { cpu: 2, id: 3 }] }], 'vms[0].vcpus[1].id: vCPU id 3 is vms[0].vcpus[0]\'s already'],
    ['a given id and an implied one', [{ vcpus: [{ cpu: 1 }, { cpu: 2, id: 0 }] }], 'vms[0].vcpus[1].id: vCPU id 0 is vms[0].vcpus[0]\'s already'],
    ['an implied id and a given one', [{ vcpus: [{ cpu: 1, id: 1 }, { cpu: 2 }] }], 'vms[0].vcpus[1]: vCPU id 1 (its place in the list) is vms[0].vcpus[0]\'s already'],
    ['in the second VM', [{ vcpus: [{ cpu: 1 }] }, { vcpus: [{ cpu: 2, id: 7 }, { cpu: 3, id: 7 }] }], 'vms[1].vcpus[1].id: vCPU id 7 is vms[1].vcpus[0]\'s already'],
  ])('%s: exit 2 naming the second, no trace', (_what, vms, message) => {
    refused(run('dup', vms), `${message}: KVM_CREATE_VCPU of a second vCPU with an id in use fails with -EEXIST`);
  });

  it('the same id in two VMs runs: each creates its vCPU', () => {
    const r = run('two-vms', [{ vcpus: [{ cpu: 1, id: 3 }] }, { vcpus: [{ cpu: 2, id: 3 }] }]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.match(/KVM_CREATE_VCPU = 13\b/g)).toHaveLength(2);
  });
});

describe('a KVM_CREATE_VCPU call names its own vCPU', () => {
  it.each([
    ['another vCPU\'s id', [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_CREATE_VCPU', id: 1 }] }, { cpu: 2 }] }], 'vms[0].vcpus[0].vmm[0].id: vCPU 1 is not this thread\'s vCPU (id 0)'],
    ['an id no vCPU has', [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_CREATE_VCPU', id: 7 }] }] }], 'vms[0].vcpus[0].vmm[0].id: vCPU 7 is not this thread\'s vCPU (id 0)'],
  ])('%s: exit 2 naming the call', (_what, vms, message) => {
    refused(run('other', vms), message);
  });

  it.each([4096, 0xffff_ffff])('an id of KVM_MAX_VCPU_IDS or more (%s) is the kernel\'s -EINVAL', (id) => {
    const r = run('max', [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_CREATE_VCPU', id }] }] }]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`KVM_CREATE_VCPU({"id":${id}})`);
    expect(r.stdout).toMatch(/KVM_CREATE_VCPU = -EINVAL \(-22\)/);
  });

  it('its own id, given, creates it', () => {
    const r = run('own', [{ vcpus: [{ cpu: 1, id: 5, vmm: [{ ioctl: 'KVM_CREATE_VCPU', id: 5 }] }] }]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KVM_CREATE_VCPU = 15\b/);
  });
});
