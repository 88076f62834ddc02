/**
 * The VMM thread's script in a scenario's `vms` section (vms.ts): each step an ioctl on the vCPU (`KVM_RUN`,
 * `KVM_SMI`, …) or on the VM's vhost-vsock device (`VHOST_SET_OWNER`, …, `close`), or a QEMU vhost sequence
 * (`{ "vhost": "start" }`), read into the calls the VMM chart makes; and QEMU's default script.
 */
import type { VmmCall } from '../../machines/vmm.machine.js';
import type { KvmIoctlArg, KvmIoctlName } from '../kvm/uapi.js';
import { BAD_POINTER, type IoctlArg } from '../vhost/device.js';
import { DEFAULT_MAX_MEM_REGIONS, U32_MAX } from '../vhost/device-state.js';
import { MAX_MEM_TABLE_REGIONS, MAX_REGISTER_VALUE } from './limits.js';
import { isVhostIoctlName, VHOST_IOCTLS, type VhostIoctlName } from '../vhost/ioctl.js';
import { EVENTFD, guestRam, realize, ringAddr, start as vhostStart, stop as vhostStop } from '../vhost/qemu.js';
import { L1_BASE } from '../kvm/types.js';
import { LARGEST_KVM_MAX_VCPU_IDS } from '../kvm/ioctl.js';
import {
  choiceExpectation,
  readBoolean,
  readChoice,
  readInteger,
  readObject,
  readString,
  type Field,
  type Problems,
} from './reader.js';
import type { VsockSpec } from './vms-spec.js';

const IOCTLS: readonly KvmIoctlName[] = [
  'KVM_CREATE_VCPU',
  'KVM_SET_CPUID2',
  'KVM_RUN',
  'KVM_SMI',
  'KVM_SET_SREGS',
  'KVM_SET_REGS',
  'KVM_SET_VCPU_EVENTS',
  'KVM_INTERRUPT',
];
const VHOST_NAMES = Object.keys(VHOST_IOCTLS) as VhostIoctlName[];
const ALL_CALLS: readonly string[] = [...IOCTLS, ...VHOST_NAMES, 'close'];

/** The range of a C `int` argument. */
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/** A guest MAXPHYADDR QEMU reports for a host with 46 physical address bits. */
export const DEFAULT_MAXPHYADDR = 46;

export function defaultCalls(vcpuId: number): VmmCall[] {
  return [
    { ioctl: 'KVM_CREATE_VCPU', arg: { id: vcpuId } },
    { ioctl: 'KVM_SET_CPUID2', arg: { maxphyaddr: DEFAULT_MAXPHYADDR } },
    { ioctl: 'KVM_RUN', arg: {}, loop: true },
  ];
}

function readRegister(field: Field, out: Problems): number | undefined {
  const v = field.value;
  // Well-formed but past what the model holds exactly: say so, not that the value is malformed.
  const tooLarge = (shown: string): undefined => {
    out.add(field.loc, `${shown} is above ${MAX_REGISTER_VALUE} (0x${MAX_REGISTER_VALUE.toString(16)}, 2^53 − 1), the largest register value the model holds exactly`);
    return undefined;
  };
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) {
    // Leading zeros do not make a value larger; the text's length is bounded by the file's.
    const digits = v.slice(2).replace(/^0+(?=.)/, '');
    const n = Number.parseInt(digits, 16);
    if (digits.length <= 14 && n <= MAX_REGISTER_VALUE) return n;
    return tooLarge(JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v));
  }
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v <= MAX_REGISTER_VALUE ? v : tooLarge(String(v));
  out.add(field.loc, 'expected a non-negative integer or a hex string such as "0x2501"');
  return undefined;
}

const CALL_KEYS = ['ioctl', 'id', 'maxphyaddr', 'efer', 'tripleFault', 'vector', 'loop', 'mmioIrq', 'rip', 'arg', 'index', 'num', 'fd', 'mm', 'regions', 'badPointer', 'vhost'];
const ARG_KEYS: Record<KvmIoctlName, readonly string[]> = {
  KVM_CREATE_VCPU: ['id'],
  KVM_SET_CPUID2: ['maxphyaddr'],
  KVM_RUN: ['loop', 'mmioIrq'],
  KVM_SMI: [],
  KVM_SET_SREGS: ['efer'],
  KVM_SET_VCPU_EVENTS: ['tripleFault'],
  KVM_INTERRUPT: ['vector'],
  KVM_SET_REGS: ['rip'],
};

const VHOST_MACROS = ['realize', 'start', 'stop'] as const;

/** The vhost arguments each call takes (besides `mm` and `badPointer`, which any vhost call takes). */
function vhostArgKeys(name: VhostIoctlName | 'close'): readonly string[] {
  switch (name) {
    case 'VHOST_SET_FEATURES':
    case 'VHOST_SET_BACKEND_FEATURES':
    case 'VHOST_VSOCK_SET_GUEST_CID':
    case 'VHOST_VSOCK_SET_RUNNING':
    case 'VHOST_SET_RUNNING':
    case 'VHOST_SET_LOG_BASE':
    case 'VHOST_SET_LOG_FD':
      return ['arg'];
    case 'VHOST_SET_VRING_NUM':
    case 'VHOST_SET_VRING_BASE':
    case 'VHOST_GET_VRING_BASE':
    case 'VHOST_SET_VRING_BUSYLOOP_TIMEOUT':
    case 'VHOST_GET_VRING_BUSYLOOP_TIMEOUT':
    case 'VHOST_SET_VRING_ENDIAN':
    case 'VHOST_GET_VRING_ENDIAN':
      return ['index', 'num'];
    case 'VHOST_SET_VRING_ADDR':
      return ['index'];
    case 'VHOST_SET_VRING_KICK':
    case 'VHOST_SET_VRING_CALL':
    case 'VHOST_SET_VRING_ERR':
      return ['index', 'fd'];
    case 'VHOST_SET_MEM_TABLE':
      return ['regions'];
    default:
      return [];
  }
}

/** A vhost ioctl (or close) of the VMM script, with the VM's defaults for what it leaves out. */
function readVhostCall(field: Field, fields: Map<string, Field>, name: VhostIoctlName | 'close', vm: number, budget: CallBudget, out: Problems): VmmCall | undefined {
  const keys = vhostArgKeys(name);
  for (const [key, f] of fields) {
    if (key === 'ioctl' || key === 'mm' || (key === 'badPointer' && name !== 'close')) continue;
    if (!keys.includes(key)) out.add(f.loc, `not an argument of ${name} (${keys.length ? `expected: ${keys.join(', ')}` : 'it takes none'})`);
  }
  const call: VmmCall = { ioctl: name, arg: undefined };
  const mm = fields.get('mm');
  if (mm !== undefined) {
    const s = readString(mm, out, true);
    if (s !== undefined) call.mm = s;
  }
  const bad = fields.get('badPointer');
  if (bad !== undefined && readBoolean(bad, out) === true) {
    call.arg = BAD_POINTER;
    return call;
  }
  const index = fields.get('index');
  const idx = index === undefined ? 0 : (readInteger(index, 0, 0xffff_ffff, out) ?? 0);
  if (keys.includes('index') && index === undefined) out.add(field.loc, `${name} needs 'index' (0 = RX, 1 = TX)`);
  let arg: IoctlArg;
  if (keys.includes('arg')) {
    const f = fields.get('arg');
    if (f === undefined) {
      out.add(field.loc, `${name} needs 'arg'`);
      return undefined;
    }
    // VHOST_SET_LOG_FD's argument is a C int (vhost_dev_ioctl: get_user(fd, (int __user *)argp)):
    // -1 is VHOST_FILE_UNBIND, the log turned off; any other fd goes to eventfd_ctx_fdget, which
    // fails with -EBADF on a negative one (the device model's eventfdErrno).
    if (name === 'VHOST_SET_LOG_FD' && typeof f.value === 'number') arg = readInteger(f, INT_MIN, INT_MAX, out) ?? 0;
    else arg = readRegister(f, out) ?? 0;
  } else if (keys.includes('num')) {
    const f = fields.get('num');
    if (f === undefined && name.startsWith('VHOST_SET')) out.add(field.loc, `${name} needs 'num'`);
    arg = { index: idx, num: f === undefined ? 0 : (readInteger(f, 0, 0xffff_ffff, out) ?? 0) };
  } else if (name === 'VHOST_SET_VRING_ADDR') {
    arg = ringAddr(vm, idx);
    arg = { ...arg, index: idx };
  } else if (keys.includes('fd')) {
    const f = fields.get('fd');
    const byRole = name === 'VHOST_SET_VRING_KICK' ? EVENTFD.kick(idx) : name === 'VHOST_SET_VRING_CALL' ? EVENTFD.guest(idx) : -1;
    arg = { index: idx, fd: f === undefined ? byRole : (readInteger(f, -1, 1 << 20, out) ?? byRole) };
  } else if (name === 'VHOST_SET_MEM_TABLE') {
    const f = fields.get('regions');
    // `struct vhost_memory`'s `nregions` is a __u32. vhost_set_memory (drivers/vhost/vhost.c) refuses a
    // count over max_mem_regions with -E2BIG from the header alone, before it allocates or copies a
    // region: such a table is its count only. One the kernel reads is made region by region (RAM-sized
    // pieces one after the other), and those count against the scenario's MAX_MEM_TABLE_REGIONS.
    const n = f === undefined ? 1 : (readInteger(f, 0, U32_MAX, out) ?? 1);
    if (n > DEFAULT_MAX_MEM_REGIONS) {
      arg = { nregions: n, regions: [] };
    } else {
      budget.regions += n;
      if (budget.regions > MAX_MEM_TABLE_REGIONS && !budget.told) {
        budget.told = true;
        out.add((f ?? field).loc, `the scenario's VHOST_SET_MEM_TABLE calls pass more than ${MAX_MEM_TABLE_REGIONS} regions in all (at most ${MAX_MEM_TABLE_REGIONS}; a table of more than max_mem_regions, ${DEFAULT_MAX_MEM_REGIONS}, is refused by the kernel from its count and costs nothing)`);
      }
      const ram = guestRam(vm);
      arg = budget.regions > MAX_MEM_TABLE_REGIONS ? { regions: [] } : { regions: Array.from({ length: n }, (_, i) => ({ ...ram, guestPhysAddr: i * ram.memorySize, userspaceAddr: ram.userspaceAddr + i * ram.memorySize })) };
    }
  } else {
    arg = undefined;
  }
  call.arg = arg;
  return call;
}

/** What the VMM scripts of one scenario have spent together: the memory-table regions they materialise. */
export interface CallBudget {
  regions: number;
  /** The total has been reported once (later calls over it are not reported again). */
  told: boolean;
}

export const newCallBudget = (): CallBudget => ({ regions: 0, told: false });

export function readCall(field: Field, vcpuId: number, vm: number, vsock: VsockSpec | undefined, budget: CallBudget, out: Problems): VmmCall[] | undefined {
  // `ioctl` is required unless the step is a vhost sequence (`{ "vhost": "start" }`).
  const isMacro = typeof field.value === 'object' && field.value !== null && Object.prototype.hasOwnProperty.call(field.value, 'vhost');
  const fields = readObject(field, CALL_KEYS, out, isMacro ? {} : { ioctl: choiceExpectation(ALL_CALLS) });
  if (fields === undefined) return undefined;
  const macro = fields.get('vhost');
  if (macro !== undefined) {
    if (fields.size > 1) out.add(field.loc, "a { \"vhost\": … } step takes no other key");
    const which = readChoice(macro, 'vhost', VHOST_MACROS, out);
    if (which === undefined) return undefined;
    if (vsock === undefined) {
      out.add(macro.loc, `VM ${vm} has no 'vsock' device`);
      return undefined;
    }
    const calls = which === 'realize' ? realize(vsock.cid) : which === 'start' ? vhostStart(vm, vsock.queueSize) : vhostStop();
    return calls as VmmCall[];
  }
  const ioctlField = fields.get('ioctl');
  if (ioctlField === undefined) {
    return undefined;
  }
  const raw = readChoice(ioctlField, 'ioctl', ALL_CALLS, out);
  if (raw === undefined) return undefined;
  if (raw === 'close' || isVhostIoctlName(raw)) {
    if (vsock === undefined) {
      out.add(ioctlField.loc, `${raw} needs a vhost-vsock device: VM ${vm} has no 'vsock'`);
      return undefined;
    }
    const call = readVhostCall(field, fields, raw, vm, budget, out);
    return call ? [call] : undefined;
  }
  const name = raw as KvmIoctlName;
  for (const [key, f] of fields) {
    if (key !== 'ioctl' && !ARG_KEYS[name].includes(key)) out.add(f.loc, `not an argument of ${name} (${ARG_KEYS[name].length ? `expected: ${ARG_KEYS[name].join(', ')}` : 'it takes none'})`);
  }
  const get = (k: string) => fields.get(k);
  let arg: KvmIoctlArg = {};
  const call: VmmCall = { ioctl: name, arg };
  switch (name) {
    case 'KVM_CREATE_VCPU': {
      const f = get('id');
      // The thread creates the vCPU the scenario describes: another id a kernel may take would be
      // another vCPU (kvm_vm_ioctl_create_vcpu: -EEXIST if it exists, else a vCPU nothing describes).
      // The kernel is not known here (--kernel, --fix), so only an id no modelled kernel takes
      // (LARGEST_KVM_MAX_VCPU_IDS or more) is left to the kernel's -EINVAL (an id is a u32 in the older kernels).
      const id = f === undefined ? vcpuId : (readInteger(f, 0, U32_MAX, out) ?? vcpuId);
      if (f !== undefined && id !== vcpuId && id < LARGEST_KVM_MAX_VCPU_IDS) {
        out.add(
          f.loc,
          `vCPU ${id} is not this thread's vCPU (id ${vcpuId}): a VMM thread here creates its own vCPU, another is described by its own entry in 'vcpus' ` +
            `(an id no modelled kernel takes, ${LARGEST_KVM_MAX_VCPU_IDS} or more, is answered -EINVAL; for a kernel's smaller KVM_MAX_VCPU_ID, 1023 before v5.15, give a vCPU that id in 'vcpus')`,
        );
      }
      arg = { id };
      break;
    }
    case 'KVM_SET_CPUID2': {
      const f = get('maxphyaddr');
      arg = { maxphyaddr: f === undefined ? DEFAULT_MAXPHYADDR : (readInteger(f, 32, 52, out) ?? DEFAULT_MAXPHYADDR) };
      break;
    }
    case 'KVM_SET_SREGS': {
      const f = get('efer');
      if (f === undefined) out.add(field.loc, "KVM_SET_SREGS needs 'efer'");
      else arg = { efer: readRegister(f, out) ?? 0 };
      break;
    }
    case 'KVM_SET_VCPU_EVENTS': {
      const f = get('tripleFault');
      arg = { tripleFault: f === undefined ? true : (readBoolean(f, out) ?? true) };
      break;
    }
    case 'KVM_INTERRUPT': {
      const f = get('vector');
      if (f === undefined) out.add(field.loc, "KVM_INTERRUPT needs 'vector'");
      else arg = { vector: readInteger(f, 0, 255, out) ?? 0 };
      break;
    }
    case 'KVM_RUN': {
      const loop = get('loop');
      if (loop !== undefined) call.loop = readBoolean(loop, out) ?? false;
      const irq = get('mmioIrq');
      if (irq !== undefined) {
        if (call.loop !== true) out.add(irq.loc, "only allowed with \"loop\": true (the VMM raises it while it loops over MMIO exits)");
        else call.mmioIrq = readInteger(irq, 16, 255, out);
      }
      break;
    }
    case 'KVM_SET_REGS': {
      const f = get('rip');
      arg = { rip: f === undefined ? L1_BASE : (readRegister(f, out) ?? L1_BASE) };
      break;
    }
    case 'KVM_SMI':
      break;
  }
  call.arg = arg;
  return [call];
}
