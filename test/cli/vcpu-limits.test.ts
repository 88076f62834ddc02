/**
 * KVM's limits on vCPU ids and on vCPUs per VM, per kernel era, through the built command as a
 * process. kvm_vm_ioctl_create_vcpu() (virt/kvm/kvm_main.c) answers -EINVAL for an id of
 * KVM_MAX_VCPU_ID(S) or more, then -EINVAL when kvm->created_vcpus has reached KVM_MAX_VCPUS, both
 * before it looks for the id (-EEXIST). On x86 (arch/x86/include/asm/kvm_host.h) KVM_MAX_VCPUS was
 * 288 and KVM_MAX_VCPU_ID 1023 until v5.15, where "kvm: x86: Increase MAX_VCPUS to 1024"
 * (074c82c8f7cf: switch kvm-max-vcpus-1024) and "kvm: x86: Set KVM_MAX_VCPU_ID to 4*KVM_MAX_VCPUS"
 * (4ddacd525a2f: switch kvm-vcpu-id-ratio) made them 1024 and 4096.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtCli } from './built-cli.js';

const { dir, shootdown } = builtCli('vcpu-limits');

function run(name: string, vms: unknown[], args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, machine: { cpus: 8 }, vms }));
  return shootdown(['run', file, ...args]);
}

/** The return lines of KVM_CREATE_VCPU in a timeline: fds and errnos. */
function creates(stdout: string): { ok: number; einval: number; other: number } {
  const lines = stdout.split('\n').filter((l) => / KVM_CREATE_VCPU = /.test(l));
  const ok = lines.filter((l) => /KVM_CREATE_VCPU = \d+$/.test(l)).length;
  const einval = lines.filter((l) => /KVM_CREATE_VCPU = -EINVAL \(-22\)$/.test(l)).length;
  return { ok, einval, other: lines.length - ok - einval };
}

/** One VM of `n` vCPUs spread over CPUs 1–7, each thread only creating its vCPU. */
function bigVm(n: number): unknown {
  return { vcpus: Array.from({ length: n }, (_, i) => ({ cpu: 1 + (i % 7), vmm: [{ ioctl: 'KVM_CREATE_VCPU' }] })) };
}

describe('a vCPU id of KVM_MAX_VCPU_ID(S) or more: KVM_CREATE_VCPU is -EINVAL', () => {
  const vm = (id: number) => [{ vcpus: [{ cpu: 1, id }] }];

  it.each([
    ['v5.10', 1500, false],
    ['v5.11', 1500, false],
    ['v6.2', 1500, true],
    ['v6.6', 1500, true],
    ['mainline', 1500, true],
    ['v5.10', 1022, true],
    ['v5.10', 1023, false],
    ['mainline', 4095, true],
  ] as const)('%s, id %s: created %s', (kernel, id, created) => {
    const r = run(`id-${kernel}-${id}`, vm(id), ['--kernel', kernel]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`KVM_CREATE_VCPU({"id":${id}})`);
    expect(creates(r.stdout)).toEqual(created ? { ok: 1, einval: 0, other: 0 } : { ok: 0, einval: 1, other: 0 });
    if (created) expect(r.stdout).toMatch(new RegExp(`KVM_CREATE_VCPU = ${10 + id}$`, 'm'));
    // The VMM goes on with calls on a vCPU fd it never got.
    else expect(r.stdout).toMatch(/KVM_SET_CPUID2 = -EBADF/);
  });

  it.each([
    // 4 * KVM_MAX_VCPUS with the old 288: 1152.
    [['--kernel', 'v5.10', '--fix', 'kvm-vcpu-id-ratio'], 1151, true],
    [['--kernel', 'v5.10', '--fix', 'kvm-vcpu-id-ratio'], 1152, false],
    [['--kernel', 'mainline', '--no-fix', 'kvm-max-vcpus-1024'], 1500, false],
    // The bump alone leaves KVM_MAX_VCPU_ID at 1023.
    [['--kernel', 'mainline', '--no-fix', 'kvm-vcpu-id-ratio'], 1023, false],
    [['--kernel', 'mainline', '--no-fix', 'kvm-vcpu-id-ratio'], 1022, true],
  ] as const)('%j, id %s: created %s', (args, id, created) => {
    const r = run('mix', vm(id), args);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(creates(r.stdout)).toEqual(created ? { ok: 1, einval: 0, other: 0 } : { ok: 0, einval: 1, other: 0 });
  });

  it('an id no kernel takes (4096 and up) is a vCPU the scenario may describe: -EINVAL everywhere', () => {
    const r = run('huge', vm(70_000), ['--kernel', 'mainline']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(creates(r.stdout)).toEqual({ ok: 0, einval: 1, other: 0 });
  });
});

describe('more vCPUs in one VM than KVM_MAX_VCPUS: the one over is -EINVAL', () => {
  it.each([
    ['v5.10', 289, { ok: 288, einval: 1, other: 0 }],
    ['v5.11', 290, { ok: 288, einval: 2, other: 0 }],
    ['v6.2', 289, { ok: 289, einval: 0, other: 0 }],
    ['mainline', 1025, { ok: 1024, einval: 1, other: 0 }],
  ] as const)('%s, %s vCPUs', (kernel, n, expected) => {
    const r = run(`count-${kernel}-${n}`, [bigVm(n)], ['--kernel', kernel, '--seed', '7']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(creates(r.stdout)).toEqual(expected);
  });

  it('the limit is per VM: two VMs of 200 vCPUs each on v5.10 all create', () => {
    const r = run('two-vms', [bigVm(200), bigVm(200)], ['--kernel', 'v5.10']);
    expect(r.status).toBe(0);
    expect(creates(r.stdout)).toEqual({ ok: 400, einval: 0, other: 0 });
  });

  it('with --no-fix kvm-max-vcpus-1024 mainline is back to 288', () => {
    const r = run('nofix', [bigVm(289)], ['--kernel', 'mainline', '--no-fix', 'kvm-max-vcpus-1024']);
    expect(r.status).toBe(0);
    expect(creates(r.stdout)).toEqual({ ok: 288, einval: 1, other: 0 });
  });
});
