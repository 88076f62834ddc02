/**
 * Register values in a VMM script (`KVM_SET_SREGS` `efer`, `KVM_SET_REGS` `rip`, a vhost call's `arg`),
 * through the built command as a process. The kernel takes 64-bit values; the model holds them as
 * exact integers, up to 2^53 − 1 (MAX_REGISTER_VALUE). A larger one — a well-formed hex string such as
 * "0xffffffffffffffff" — is refused naming the field and that bound, not as "not a hex string"; the
 * largest value is taken as the kernel would (KVM_SET_SREGS stores it: its reserved bits are not
 * checked before 184bd464bdb6, docs/model.md §11).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtCli } from './built-cli.js';
import { MAX_REGISTER_VALUE } from '../../src/scenarios/limits.js';

const { dir, shootdown } = builtCli('registers');

function run(name: string, vmm: unknown[]): { status: number | null; stdout: string; stderr: string; traced: boolean } {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, machine: { cpus: 2 }, vms: [{ vcpus: [{ cpu: 1, vmm }] }] }));
  const trace = path.join(dir, `${name}.jsonl`);
  const r = shootdown(['run', file, '--trace', trace]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, traced: fs.existsSync(trace) };
}

const CREATE = { ioctl: 'KVM_CREATE_VCPU' };

describe('a register value above what the model holds exactly', () => {
  it.each([
    ['a 64-bit EFER as hex', [CREATE, { ioctl: 'KVM_SET_SREGS', efer: '0xffffffffffffffff' }], 'vmm[1].efer', '"0xffffffffffffffff"'],
    ['2^53 as hex', [CREATE, { ioctl: 'KVM_SET_SREGS', efer: `0x${(MAX_REGISTER_VALUE + 1).toString(16)}` }], 'vmm[1].efer', `"0x${(MAX_REGISTER_VALUE + 1).toString(16)}"`],
    ['a RIP as a JSON number above 2^53', [CREATE, { ioctl: 'KVM_SET_REGS', rip: 18446744073709552000 }], 'vmm[1].rip', '18446744073709552000'],
  ])('%s: exit 2 naming the field and the bound, no trace', (_what, vmm, where, shown) => {
    const r = run('big', vmm);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.traced).toBe(false);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`vms[0].vcpus[0].${where}: ${shown} is above ${MAX_REGISTER_VALUE} (0x${MAX_REGISTER_VALUE.toString(16)}, 2^53 − 1), the largest register value the model holds exactly`);
  });

  it('text that is not a number still says what a register value is', () => {
    const r = run('text', [CREATE, { ioctl: 'KVM_SET_SREGS', efer: 'lots' }]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('vms[0].vcpus[0].vmm[1].efer: expected a non-negative integer or a hex string such as "0x2501"');
  });

  it.each([`0x${MAX_REGISTER_VALUE.toString(16)}`, `0x000${MAX_REGISTER_VALUE.toString(16)}`])('the largest value (%s) is taken, as KVM_SET_SREGS takes it (LME and LMA agree)', (efer) => {
    const r = run('max', [CREATE, { ioctl: 'KVM_SET_SREGS', efer }]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`KVM_SET_SREGS({"efer":"0x${MAX_REGISTER_VALUE.toString(16)}"})`);
    expect(r.stdout).toMatch(/KVM_SET_SREGS = 0\n/);
  });
});
