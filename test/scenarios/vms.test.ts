import { describe, expect, it } from 'vitest';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { defaultCalls } from '../../src/scenarios/vms.js';

const errorsOf = (raw: unknown) => {
  const r = validateScenario(raw, 'test', validationContext);
  return r.ok ? [] : r.errors;
};
const scenarioOf = (raw: unknown) => {
  const r = validateScenario(raw, 'test', validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
};

describe('the vms section', () => {
  it('reads vCPUs in file order, with QEMU’s calls when `vmm` is left out, and turns VMX on where they run', () => {
    const s = scenarioOf({
      name: 'n',
      machine: { cpus: 3 },
      vms: [{ vcpus: [{ cpu: 2, guest: { l1: ['vmlaunch', { jmp: 0 }], l2: ['spin'] } }] }, { vcpus: [{ cpu: 1, id: 5 }] }],
    });
    expect(s.vcpus.map((v) => [v.index, v.vm, v.vcpuId, v.pcpu])).toEqual([
      [0, 0, 0, 2],
      [1, 1, 5, 1],
    ]);
    expect(s.vcpus[0]?.program.l1).toEqual([{ op: 'vmlaunch' }, { op: 'jmp', to: 0x1000 }]);
    expect(s.vcpus[1]?.calls).toEqual(defaultCalls(5));
    expect(s.initial.map((i) => i.vmx)).toEqual(['off', 'root', 'root']);
  });

  it('refuses vms with options.kvmLoaded false (a VM needs the KVM module), naming the option', () => {
    expect(errorsOf({ name: 'n', machine: { cpus: 2 }, options: { kdump: true, kvmLoaded: false }, vms: [{ vcpus: [{ cpu: 1 }] }] })).toEqual([
      { path: 'options.kvmLoaded', message: 'false, but the scenario has vms: their vCPUs run only with the KVM module loaded (/dev/kvm); leave it out or set it true' },
    ]);
    expect(errorsOf({ name: 'n', machine: { cpus: 2 }, options: { kvmLoaded: true }, vms: [{ vcpus: [{ cpu: 1 }] }] })).toEqual([]);
    expect(errorsOf({ name: 'n', machine: { cpus: 2 }, options: { kvmLoaded: false } })).toEqual([]);
  });

  it('turns EFER.SVME on for AMD CPUs that run vCPUs', () => {
    const s = scenarioOf({ name: 'n', machine: { cpus: 2, vendor: 'amd' }, vms: [{ vcpus: [{ cpu: 1 }] }] });
    expect(s.initial.map((i) => i.svme)).toEqual([false, true]);
  });

  it('reads registers in hex and the arguments of each ioctl', () => {
    const s = scenarioOf({
      name: 'n',
      machine: { cpus: 2 },
      vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_SET_SREGS', efer: '0x2501' }, { ioctl: 'KVM_RUN', loop: true, mmioIrq: 48 }] }] }],
    });
    expect(s.vcpus[0]?.calls).toEqual([
      { ioctl: 'KVM_SET_SREGS', arg: { efer: 0x2501 } },
      { ioctl: 'KVM_RUN', arg: {}, loop: true, mmioIrq: 48 },
    ]);
  });

  it('reads a step that waits for a vCPU state', () => {
    const s = scenarioOf({
      name: 'n',
      machine: { cpus: 2 },
      vms: [{ vcpus: [{ cpu: 1 }] }],
      script: [{ cpu: 0, do: 'panic', when: { vcpu: 0, enters: 'run.guest' } }],
    });
    expect(s.script[0]?.trigger).toEqual({ kind: 'enters', cpu: 0, state: 'run.guest', actor: 'vcpu' });
  });

  const bad: [string, unknown, { path: string; message: RegExp }][] = [
    ['an unknown CPU', { vms: [{ vcpus: [{ cpu: 9 }] }] }, { path: 'vms[0].vcpus[0].cpu', message: /CPU 9 is out of range/ }],
    ['a missing cpu', { vms: [{ vcpus: [{}] }] }, { path: 'vms[0].vcpus[0]', message: /missing 'cpu'/ }],
    ['an unknown ioctl', { vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_FLY' }] }] }] }, { path: 'vms[0].vcpus[0].vmm[0].ioctl', message: /KVM_FLY/ }],
    [
      'an argument of another ioctl',
      { vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_SMI', efer: 1 }] }] }] },
      { path: 'vms[0].vcpus[0].vmm[0].efer', message: /not an argument of KVM_SMI/ },
    ],
    [
      'mmioIrq without loop',
      { vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_RUN', mmioIrq: 48 }] }] }] },
      { path: 'vms[0].vcpus[0].vmm[0].mmioIrq', message: /only allowed with "loop": true/ },
    ],
    ['a bad register', { vms: [{ vcpus: [{ cpu: 1, vmm: [{ ioctl: 'KVM_SET_SREGS', efer: 'lots' }] }] }] }, { path: 'vms[0].vcpus[0].vmm[0].efer', message: /hex string/ }],
    ['an AMD instruction on Intel', { vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['vmrun'] } }] }] }, { path: 'vms[0].vcpus[0].guest.l1[0]', message: /not an Intel instruction/ }],
    ['an unknown instruction', { vms: [{ vcpus: [{ cpu: 1, guest: { l2: ['fly'] } }] }] }, { path: 'vms[0].vcpus[0].guest.l2[0]', message: /unknown guest instruction 'fly'/ }],
    ['a jump out of the code', { vms: [{ vcpus: [{ cpu: 1, guest: { l1: [{ jmp: 4 }] } }] }] }, { path: 'vms[0].vcpus[0].guest.l1[0].jmp', message: /integer from 0 to 0/ }],
    ['a vCPU trigger without vms', { script: [{ cpu: 0, do: 'panic', when: { vcpu: 0, enters: 'userspace' } }] }, { path: 'script[0].when.vcpu', message: /no vCPU/ }],
    [
      'a vCPU trigger on an unknown state',
      { vms: [{ vcpus: [{ cpu: 1 }] }], script: [{ cpu: 0, do: 'panic', when: { vcpu: 0, enters: 'nowhere' } }] },
      { path: 'script[0].when.enters', message: /no state named 'nowhere' in the vCPU machine/ },
    ],
  ];
  it.each(bad)('%s is an error that names its place', (_name, extra, expected) => {
    const errors = errorsOf({ name: 'n', machine: { cpus: 2 }, ...(extra as object) });
    expect(errors).toContainEqual({ path: expected.path, message: expect.stringMatching(expected.message) });
  });
});
