/** The KVM uapi numbers and the ioctl rules outside KVM_RUN (src/kvm/uapi.ts, src/kvm/ioctl.ts). */
import { describe, expect, it } from 'vitest';
import { KVM_EXIT, KVM_IOCTLS } from '../../src/kvm/uapi.js';
import { eferWithoutLma, initialVcpuContext, kvmMaxVcpuIds, kvmMaxVcpus, kvmValidEfer, validSregsEfer, vcpuIoctl } from '../../src/kvm/ioctl.js';
import { resolveFeatures } from '../../src/kernel/variants.js';
import { vcpuInput } from './helpers.js';

describe('KVM uapi', () => {
  it('ioctl numbers match include/uapi/linux/kvm.h on x86-64', () => {
    expect(KVM_IOCTLS).toEqual({
      KVM_CREATE_VCPU: 0xae41,
      KVM_RUN: 0xae80,
      KVM_SET_REGS: 0x4090ae82,
      KVM_SET_SREGS: 0x4138ae84,
      KVM_INTERRUPT: 0x4004ae86,
      KVM_SET_CPUID2: 0x4008ae90,
      KVM_SET_VCPU_EVENTS: 0x4040aea0,
      KVM_SMI: 0xaeb7,
    });
  });
  it('exit reasons', () => {
    expect(KVM_EXIT).toMatchObject({ SHUTDOWN: 8, MMIO: 6, FAIL_ENTRY: 9, INTERNAL_ERROR: 17, HLT: 5, IO: 2, INTR: 10, SYSTEM_EVENT: 24 });
  });
});

describe('EFER rules', () => {
  it.each([
    ['intel', 0x0d01, true],
    ['intel', 0x2501, false], // LMSLE reserved
    ['amd', 0x1d01, true],
    ['amd', 0x2501, false],
    ['intel', 0x1d01, false], // SVME on Intel
    // EFER is 64 bits: every bit from 15 up is reserved (efer_reserved_bits is a u64), not only those below 32.
    ['intel', 2 ** 32 + 0x0501, false],
    ['amd', 2 ** 32 + 0x1d01, false],
    ['intel', 2 ** 52 + 0x0d01, false],
    ['amd', 2 ** 47 + 0x0501, false],
    ['intel', 2 ** 31 + 0x0501, false],
  ] as const)('kvm_valid_efer(%s, %s) = %s', (vendor, efer, ok) => expect(kvmValidEfer(vendor, efer)).toBe(ok));
  it.each([
    [0x2501, true],
    [0x0501, true],
    [0x0101, false], // LME without LMA
    [0x0401, false], // LMA without LME
    [0x0001, true],
    [2 ** 40 + 0x0501, true], // high reserved bits are not its business (before 184bd464bdb6)
    [2 ** 40 + 0x0101, false],
  ])('kvm_is_valid_sregs efer %s = %s', (efer, ok) => expect(validSregsEfer(efer)).toBe(ok));
  it.each([
    [0x2501, 0x2101],
    [0x0101, 0x0101],
    [2 ** 32 + 0x0501, 2 ** 32 + 0x0101],
    [2 ** 53 - 1, 2 ** 53 - 1 - 0x400],
  ])('efer %s without LMA = %s, the bits from 32 up kept', (efer, without) => expect(eferWithoutLma(efer)).toBe(without));
});

describe('vCPU ioctls in the wrong state', () => {
  const absent = initialVcpuContext(vcpuInput('intel', 'mainline', [], [], {}));
  const created = { ...absent, ...vcpuIoctl(absent, 'KVM_CREATE_VCPU', { id: 0 }).set };
  it.each([
    ['KVM_RUN', {}, 'EBADF'],
    ['KVM_SET_CPUID2', { maxphyaddr: 40 }, 'EBADF'],
    ['KVM_SMI', {}, 'EBADF'],
    ['KVM_SET_SREGS', { efer: 0x501 }, 'EBADF'],
    ['KVM_SET_VCPU_EVENTS', { tripleFault: true }, 'EBADF'],
    ['KVM_INTERRUPT', { vector: 32 }, 'EBADF'],
    ['KVM_CREATE_VCPU', { id: 5000 }, 'EINVAL'],
  ] as const)('before KVM_CREATE_VCPU: %s → -%s', (name, arg, errno) => {
    const r = vcpuIoctl(absent, name, arg);
    expect(r.ret).toMatchObject({ ok: false, errno });
    expect(r.set).toEqual({});
  });
  it.each([
    ['KVM_CREATE_VCPU', { id: 0 }, 'EEXIST', 'mainline'],
    ['KVM_SET_SREGS', { efer: 0x101 }, 'EINVAL', 'mainline'],
    ['KVM_INTERRUPT', { vector: 256 }, 'EINVAL', 'mainline'],
    ['KVM_SET_VCPU_EVENTS', { tripleFault: true }, 'EINVAL', 'v5.10'],
  ] as const)('after creation: %s %j → -%s (%s)', (name, arg, errno, preset) => {
    const c = { ...created, features: vcpuInput('intel', preset, [], [], {}).features };
    const r = vcpuIoctl(c, name, arg);
    expect(r.ret).toMatchObject({ ok: false, errno });
    expect(r.set).toEqual({});
  });
  it('KVM_SET_CPUID2 with a different CPUID after KVM_RUN → -EINVAL (v5.16+), same CPUID accepted', () => {
    const ran = { ...created, ...vcpuIoctl(created, 'KVM_SET_CPUID2', { maxphyaddr: 40 }).set, ranOnce: true };
    expect(vcpuIoctl(ran, 'KVM_SET_CPUID2', { maxphyaddr: 52 }).ret).toMatchObject({ ok: false, errno: 'EINVAL', value: -22 });
    expect(vcpuIoctl(ran, 'KVM_SET_CPUID2', { maxphyaddr: 40 }).ret).toMatchObject({ ok: true });
  });
  it('KVM_CREATE_VCPU computes maxphyaddr 36 from the empty CPUID; tdp_level only with the fix', () => {
    expect(vcpuIoctl(absent, 'KVM_CREATE_VCPU', { id: 0 }).set).toMatchObject({ maxphyaddr: 36, tdpLevel: 4 });
    const old = { ...absent, features: vcpuInput('intel', 'mainline', [], ['tdp-level-at-vcpu-create'], {}).features };
    expect(vcpuIoctl(old, 'KVM_CREATE_VCPU', { id: 0 }).set).toMatchObject({ maxphyaddr: 36, tdpLevel: 0 });
  });
});

describe('KVM_CREATE_VCPU limits (kvm_vm_ioctl_create_vcpu, arch/x86/include/asm/kvm_host.h)', () => {
  it.each([
    ['v5.10', [], [], 288, 1023],
    ['v5.11', [], [], 288, 1023],
    ['v6.2', [], [], 1024, 4096],
    ['mainline', [], [], 1024, 4096],
    ['v5.10', ['kvm-vcpu-id-ratio'], [], 288, 1152],
    ['mainline', [], ['kvm-vcpu-id-ratio'], 1024, 1023],
  ] as const)('%s %j %j: KVM_MAX_VCPUS %s, KVM_MAX_VCPU_ID(S) %s', (preset, fix, noFix, vcpus, ids) => {
    const f = resolveFeatures(preset, [...fix], [...noFix]);
    expect([kvmMaxVcpus(f), kvmMaxVcpuIds(f)]).toEqual([vcpus, ids]);
  });

  const at = (preset: string, created: boolean) => ({ ...initialVcpuContext(vcpuInput('intel', preset, [], [], {})), created });
  it.each([
    // The VM full: -EINVAL before the id is looked for (-EEXIST), for a new vCPU and an existing one alike.
    ['v5.10', true, 0, 288, 'EINVAL'],
    ['v5.10', false, 0, 288, 'EINVAL'],
    ['v5.10', true, 0, 287, 'EEXIST'],
    ['v5.10', false, 0, 287, null],
    ['mainline', false, 0, 288, null],
    ['mainline', false, 0, 1024, 'EINVAL'],
    ['mainline', true, 0, 1023, 'EEXIST'],
    // An id over the limit: -EINVAL whatever the count.
    ['v5.10', false, 1023, 0, 'EINVAL'],
    ['v5.10', false, 1023, undefined, 'EINVAL'],
  ] as const)('%s, created %s, id %s, kvm->created_vcpus %s → %s', (preset, created, id, count, errno) => {
    const c = { ...at(preset, created), vcpuId: id };
    const r = vcpuIoctl(c, 'KVM_CREATE_VCPU', { id }, count);
    if (errno === null) expect(r.ret).toMatchObject({ ok: true });
    else expect(r.ret).toMatchObject({ ok: false, errno, value: errno === 'EINVAL' ? -22 : -17 });
  });
});
