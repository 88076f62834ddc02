/**
 * The `vms` section of a scenario: KVM guests, each vCPU pinned to a physical CPU, with the code its
 * guest runs (L1, a nested L2, the SMI handler) and the ioctls its VMM thread issues.
 *
 * ```json
 * "vms": [{ "vcpus": [{ "cpu": 1,
 *   "guest": { "l1": ["vmlaunch", { "jmp": 0 }], "l2": ["io", "spin"], "smm": ["rsm"] },
 *   "vmm": [{ "ioctl": "KVM_CREATE_VCPU" }, { "ioctl": "KVM_SET_SREGS", "efer": "0x2501" },
 *           { "ioctl": "KVM_RUN" }, { "ioctl": "KVM_SMI" }, { "ioctl": "KVM_RUN", "loop": true }] }] }]
 * ```
 * Omitted `vmm`: what QEMU does — create the vCPU, set its CPUID, run it in a loop.
 *
 * A VM may have a vhost-vsock device (`vsock`). With `"setup": "qemu"` (the default) its first
 * vCPU's VMM thread realizes it before anything else (SET_OWNER, GET_FEATURES, call notifiers,
 * SET_GUEST_CID), starts vhost when the guest's `vsock-ready` writes DRIVER_OK, and stops it when the
 * VM resets (`"onShutdown": "reset"`); with `"setup": "script"` the VMM scripts name the vhost
 * ioctls themselves (`{ "ioctl": "VHOST_SET_RUNNING", "arg": 1 }`, `{ "vhost": "start" }`).
 * ```json
 * "vms": [{ "onShutdown": "reset",
 *   "vsock": { "cid": 3, "worker": 2, "hostListen": [5000],
 *              "guestTraffic": [{ "op": "REQUEST", "srcPort": 1024, "dstPort": 5000 }] },
 *   "vcpus": [{ "cpu": 1, "guest": { "l1": ["vsock-ready", "vsock-send", "io", { "jmp": 2 }] } }] }]
 * ```
 */
import type { Vendor } from '../hw/cpu-state.js';
import type { GuestInsn, GuestProgram } from '../../machines/vcpu.machine.js';
import type { VmmCall } from '../../machines/vmm.machine.js';
import type { KvmIoctlArg, KvmIoctlName } from '../kvm/uapi.js';
import { BAD_POINTER, type IoctlArg } from '../vhost/device.js';
import { OP, type OpName } from '../vhost/datapath.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';
import { isVhostIoctlName, VHOST_IOCTLS, type VhostIoctlName } from '../vhost/ioctl.js';
import { EVENTFD, guestRam, realize, ringAddr, start as vhostStart, stop as vhostStop } from '../vhost/qemu.js';
import { L1_BASE, L2_BASE, SMM_ENTRY } from '../kvm/types.js';
import { MAX_PORTS, MAX_PROGRAM_LENGTH, MAX_TRAFFIC_COUNT, MAX_TRAFFIC_LINES, MAX_VCPUS, MAX_VCPUS_PER_VM, MAX_VMS } from './limits.js';
import {
  CPU_ID_EXPECTATION,
  choiceExpectation,
  readArray,
  readBoolean,
  readChoice,
  readCpuId,
  readInteger,
  readObject,
  readString,
  shown,
  type Field,
  type Problems,
} from './reader.js';

/** One vCPU of the scenario, its VM and its VMM thread. */
export interface VcpuSpec {
  /** Index among all vCPUs of the scenario (VM order, then vCPU order). */
  index: number;
  vm: number;
  /** The id KVM_CREATE_VCPU is given. */
  vcpuId: number;
  /** The physical CPU its thread is pinned to. */
  pcpu: number;
  program: GuestProgram;
  calls: VmmCall[];
  /** KVM_EXIT_SHUTDOWN ends the KVM_RUN call ('exit', QEMU -no-reboot) or resets the VM ('reset'). */
  onShutdown: 'exit' | 'reset';
  /** The VM's vhost-vsock device is started and stopped by this thread's device model (QEMU setup). */
  vsock: { queueSize: number } | null;
  /** Where the guest's code starts again after a VM reset (the next boot may take another path). */
  resetRip: number;
}

/** A VM's vhost-vsock device: the kernel side, the host's sockets and the guest's driver. */
export interface VsockSpec {
  /** Index among the scenario's devices: the instance number (open() order). */
  index: number;
  vm: number;
  /** 'qemu': realized, started and stopped by the VMM's device model; 'script': by the VMM scripts only. */
  setup: 'qemu' | 'script';
  /** The CID QEMU's realize sets (guest-cid=). */
  cid: number;
  /** The physical CPU the vhost worker thread is pinned to. */
  worker: number;
  queueSize: number;
  rxBuffers: number;
  rxBufSize: number;
  /** Host ports with a listening AF_VSOCK socket. */
  hostListen: number[];
  guestListen: number[];
  guestTraffic: TrafficSpec[];
  /** The vector of the device's interrupt in the guest (its MSI). */
  vector: number;
  /** The guest sockets' receive buffer, advertised as buf_alloc (credit, docs/model.md §5.5). */
  guestBufAlloc: number;
  /** The vCPU that takes the device's interrupts (the VM's first). */
  vcpu: number;
}

export interface VmsSpec {
  vcpus: VcpuSpec[];
  vsock: VsockSpec[];
}

/** Where each code array lives: instruction i is at base + i, as the vCPU chart runs it. */
const CODE_BASE = { l1: L1_BASE, l2: L2_BASE, smm: SMM_ENTRY } as const;

const INTEL_OPS = ['vmlaunch', 'vmresume'] as const;
const AMD_OPS = ['vmrun'] as const;
const COMMON_OPS = ['mmio', 'io', 'hlt', 'rsm', 'triple-fault', 'spin', 'nop', 'vsock-ready', 'vsock-send'] as const;
const VSOCK_OPS: readonly string[] = ['vsock-ready', 'vsock-send'];
const SIMPLE_OPS: readonly string[] = [...INTEL_OPS, ...AMD_OPS, ...COMMON_OPS];

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

/** A guest MAXPHYADDR QEMU reports for a host with 46 physical address bits. */
export const DEFAULT_MAXPHYADDR = 46;

export function defaultCalls(vcpuId: number): VmmCall[] {
  return [
    { ioctl: 'KVM_CREATE_VCPU', arg: { id: vcpuId } },
    { ioctl: 'KVM_SET_CPUID2', arg: { maxphyaddr: DEFAULT_MAXPHYADDR } },
    { ioctl: 'KVM_RUN', arg: {}, loop: true },
  ];
}

function readCode(field: Field | undefined, where: keyof typeof CODE_BASE, vendor: Vendor, out: Problems): GuestInsn[] {
  if (field === undefined) return [];
  const items = readArray(field, out, 'expected an array of guest instructions', MAX_PROGRAM_LENGTH) ?? [];
  const code: GuestInsn[] = [];
  for (const item of items) {
    const v = item.value;
    if (typeof v === 'string') {
      if (!SIMPLE_OPS.includes(v)) {
        out.add(item.loc, `unknown guest instruction ${shown(v)} (${choiceExpectation([...SIMPLE_OPS, '{ "jmp": <index> }'])})`);
        continue;
      }
      const wrongVendor = vendor === 'intel' ? (AMD_OPS as readonly string[]).includes(v) : (INTEL_OPS as readonly string[]).includes(v);
      if (wrongVendor) {
        out.add(item.loc, `${shown(v)} is not an ${vendor === 'intel' ? 'Intel' : 'AMD'} instruction (${vendor === 'intel' ? 'vmlaunch/vmresume' : 'vmrun'} enters L2 here)`);
        continue;
      }
      code.push({ op: v } as GuestInsn);
      continue;
    }
    const fields = readObject(item, ['jmp'], out, { jmp: 'expected the index of an instruction in the same code' });
    const jmp = fields?.get('jmp');
    if (jmp === undefined) {
      if (fields !== undefined) out.add(item.loc, "expected a guest instruction name or { \"jmp\": <index> }");
      continue;
    }
    const to = readInteger(jmp, 0, items.length - 1, out);
    if (to !== undefined) code.push({ op: 'jmp', to: CODE_BASE[where] + to });
  }
  return code;
}

function readProgram(field: Field | undefined, vendor: Vendor, out: Problems): GuestProgram {
  const program: GuestProgram = { l1: [], l2: [], smm: [{ op: 'rsm' }], l1InterceptsIrq: true, l1InterceptsShutdown: true };
  if (field === undefined) return program;
  const fields = readObject(field, ['l1', 'l2', 'smm', 'l1InterceptsIrq', 'l1InterceptsShutdown'], out);
  if (fields === undefined) return program;
  program.l1 = readCode(fields.get('l1'), 'l1', vendor, out);
  program.l2 = readCode(fields.get('l2'), 'l2', vendor, out);
  if (fields.has('smm')) program.smm = readCode(fields.get('smm'), 'smm', vendor, out);
  for (const key of ['l1InterceptsIrq', 'l1InterceptsShutdown'] as const) {
    const f = fields.get(key);
    if (f !== undefined) program[key] = readBoolean(f, out) ?? program[key];
  }
  return program;
}

/** An integer, or a string in hex ("0x2501") as registers are usually written. */
function readRegister(field: Field, out: Problems): number | undefined {
  const v = field.value;
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) {
    const n = Number.parseInt(v.slice(2), 16);
    if (Number.isSafeInteger(n)) return n;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
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
function readVhostCall(field: Field, fields: Map<string, Field>, name: VhostIoctlName | 'close', vm: number, out: Problems): VmmCall | undefined {
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
    arg = readRegister(f, out) ?? 0;
    if (name === 'VHOST_SET_LOG_FD' && typeof f.value === 'number' && f.value === -1) arg = -1;
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
    const n = f === undefined ? 1 : (readInteger(f, 0, 1024, out) ?? 1);
    arg = { regions: Array.from({ length: n }, (_, i) => ({ ...guestRam(vm), guestPhysAddr: i * guestRam(vm).memorySize, userspaceAddr: guestRam(vm).userspaceAddr + i * guestRam(vm).memorySize })) };
  } else {
    arg = undefined;
  }
  call.arg = arg;
  return call;
}

function readCall(field: Field, vcpuId: number, vm: number, vsock: VsockSpec | undefined, out: Problems): VmmCall[] | undefined {
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
    const call = readVhostCall(field, fields, raw, vm, out);
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
      arg = { id: f === undefined ? vcpuId : (readInteger(f, 0, 4095, out) ?? vcpuId) };
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

const TRAFFIC_KEYS = ['op', 'srcPort', 'dstPort', 'len', 'count'];
const OPS = Object.keys(OP) as OpName[];

/** One traffic line: `count` (default 1) packets of `op` with `len` payload bytes (default 0). */
export function readTraffic(field: Field, out: Problems): TrafficSpec | undefined {
  const f = readObject(field, TRAFFIC_KEYS, out);
  if (f === undefined) return undefined;
  const need = (k: string) => {
    const v = f.get(k);
    if (v === undefined) out.add(field.loc, `missing '${k}'`);
    return v;
  };
  const opField = need('op');
  const op = opField === undefined ? undefined : readChoice(opField, 'op', OPS, out);
  const src = need('srcPort');
  const dst = need('dstPort');
  const srcPort = src === undefined ? undefined : readInteger(src, 0, 0xffff_ffff, out);
  const dstPort = dst === undefined ? undefined : readInteger(dst, 0, 0xffff_ffff, out);
  const lenField = f.get('len');
  const len = lenField === undefined ? 0 : readInteger(lenField, 0, 0x1000_0000, out);
  const countField = f.get('count');
  const count = countField === undefined ? 1 : readInteger(countField, 1, MAX_TRAFFIC_COUNT, out);
  if (op === undefined || srcPort === undefined || dstPort === undefined || len === undefined || count === undefined) return undefined;
  return { op, srcPort, dstPort, len, count };
}

const VSOCK_KEYS = ['cid', 'setup', 'worker', 'queueSize', 'rxBuffers', 'rxBufSize', 'hostListen', 'guestListen', 'guestTraffic', 'vector', 'guestBufAlloc'];

function readPorts(field: Field | undefined, out: Problems): number[] {
  if (field === undefined) return [];
  return (readArray(field, out, 'expected an array of ports', MAX_PORTS) ?? []).flatMap((p) => readInteger(p, 0, 0xffff_ffff, out) ?? []);
}

function readVsock(field: Field, index: number, vm: number, cpus: number | undefined, out: Problems): Omit<VsockSpec, 'worker' | 'vcpu'> & { worker: number | undefined } | undefined {
  const f = readObject(field, VSOCK_KEYS, out);
  if (f === undefined) return undefined;
  const int = (k: string, min: number, max: number, dflt: number) => {
    const v = f.get(k);
    return v === undefined ? dflt : (readInteger(v, min, max, out) ?? dflt);
  };
  const setupField = f.get('setup');
  const setup = setupField === undefined ? 'qemu' : (readChoice(setupField, 'setup', ['qemu', 'script'] as const, out) ?? 'qemu');
  // QEMU's realize refuses a CID ≤ 2 or ≥ U32_MAX before any ioctl ("guest-cid property must be greater than 2").
  const cid = int('cid', setup === 'qemu' ? 3 : 0, 0xffff_fffe, 3 + vm);
  const queueSize = int('queueSize', 1, 0x8000, 128);
  if ((queueSize & (queueSize - 1)) !== 0) out.add(f.get('queueSize')?.loc ?? field.loc, 'expected a power of two (a virtqueue size)');
  const rxField = f.get('rxBuffers');
  if (rxField !== undefined && typeof rxField.value === 'number' && rxField.value > queueSize) {
    out.add(rxField.loc, `the guest cannot post more RX buffers than its ring has descriptors (queueSize ${queueSize})`);
  }
  const workerField = f.get('worker');
  const worker = workerField === undefined ? undefined : readCpuId(workerField, cpus, out);
  const traffic = f.get('guestTraffic');
  return {
    index,
    vm,
    setup,
    cid,
    worker,
    queueSize,
    rxBuffers: int('rxBuffers', 0, 4096, 8),
    rxBufSize: int('rxBufSize', 1, 1 << 20, 4096),
    hostListen: readPorts(f.get('hostListen'), out),
    guestListen: readPorts(f.get('guestListen'), out),
    guestTraffic: traffic === undefined ? [] : (readArray(traffic, out, 'expected an array of traffic lines', MAX_TRAFFIC_LINES) ?? []).flatMap((t) => readTraffic(t, out) ?? []),
    vector: int('vector', 32, 255, 0x51),
    guestBufAlloc: int('guestBufAlloc', 1, 1 << 30, 256 * 1024),
  };
}

/** Read `vms`; vCPUs and vsock devices are numbered in file order. */
export function readVms(field: Field | undefined, cpus: number | undefined, vendor: Vendor, out: Problems): VmsSpec {
  if (field === undefined) return { vcpus: [], vsock: [] };
  const specs: VcpuSpec[] = [];
  const devices: VsockSpec[] = [];
  const vms = readArray(field, out, 'expected an array of VMs', MAX_VMS) ?? [];
  vms.forEach((vmField, vm) => {
    const vmFields = readObject(vmField, ['vcpus', 'vsock', 'onShutdown'], out, { vcpus: 'expected an array of vCPUs' });
    const vcpusField = vmFields?.get('vcpus');
    if (vmFields !== undefined && vcpusField === undefined) out.add(vmField.loc, "missing 'vcpus'");
    if (vcpusField === undefined) return;
    const shutdownField = vmFields?.get('onShutdown');
    const onShutdown = shutdownField === undefined ? 'exit' : (readChoice(shutdownField, 'onShutdown', ['exit', 'reset'] as const, out) ?? 'exit');
    const vsockField = vmFields?.get('vsock');
    const vsockRead = vsockField === undefined ? undefined : readVsock(vsockField, devices.length, vm, cpus, out);
    // The device as the calls see it; the worker CPU and interrupt vCPU are settled below.
    const vsock: VsockSpec | undefined = vsockRead ? { ...vsockRead, worker: vsockRead.worker ?? 0, vcpu: specs.length } : undefined;
    const firstOfVm = specs.length;
    (readArray(vcpusField, out, 'expected an array of vCPUs', MAX_VCPUS_PER_VM) ?? []).forEach((vcpuField, n) => {
      if (specs.length >= MAX_VCPUS) {
        out.add(vcpuField.loc, `too many vCPUs: the VMs have at most ${MAX_VCPUS} together`);
        return;
      }
      const f = readObject(vcpuField, ['cpu', 'id', 'guest', 'vmm', 'afterReset'], out, { cpu: CPU_ID_EXPECTATION });
      if (f === undefined) return;
      const cpuField = f.get('cpu');
      if (cpuField === undefined) out.add(vcpuField.loc, "missing 'cpu' (the physical CPU its thread runs on)");
      const pcpu = cpuField === undefined ? undefined : readCpuId(cpuField, cpus, out);
      const idField = f.get('id');
      const vcpuId = idField === undefined ? n : (readInteger(idField, 0, 4095, out) ?? n);
      const program = readProgram(f.get('guest'), vendor, out);
      const usesVsock = [...program.l1, ...program.l2, ...program.smm].some((i) => VSOCK_OPS.includes(i.op));
      if (usesVsock && vsock === undefined) out.add(f.get('guest')?.loc ?? vcpuField.loc, `vsock-ready / vsock-send need a vhost-vsock device: VM ${vm} has no 'vsock'`);
      const vmmField = f.get('vmm');
      let calls =
        vmmField === undefined
          ? defaultCalls(vcpuId)
          : (readArray(vmmField, out, 'expected an array of ioctl calls', MAX_PROGRAM_LENGTH) ?? []).flatMap((c) => readCall(c, vcpuId, vm, vsock, out) ?? []);
      const afterField = f.get('afterReset');
      const afterReset = afterField === undefined ? 0 : (readInteger(afterField, 0, Math.max(0, program.l1.length - 1), out) ?? 0);
      const managed = vsock !== undefined && vsock.setup === 'qemu' && specs.length === firstOfVm;
      // QEMU realizes its devices before any vCPU thread runs; this thread stands in for the main loop.
      if (managed) calls = [...(realize(vsock.cid) as VmmCall[]), ...calls];
      if (pcpu !== undefined) {
        specs.push({ index: specs.length, vm, vcpuId, pcpu, program, calls, onShutdown, vsock: managed ? { queueSize: vsock.queueSize } : null, resetRip: L1_BASE + afterReset });
      }
    });
    if (vsock !== undefined && vsockRead !== undefined) {
      if (specs.length === firstOfVm) {
        out.add(vsockField?.loc ?? vmField.loc, 'a vsock device needs a vCPU whose VMM thread drives it');
        return;
      }
      // QEMU's realize fails on a CID another VM's device holds (SET_GUEST_CID: −EADDRINUSE): the VM never starts.
      const clash = devices.find((d) => d.setup === 'qemu' && vsock.setup === 'qemu' && d.cid === vsock.cid);
      if (clash) out.add(vsockField?.loc ?? vmField.loc, `cid ${vsock.cid} is VM ${clash.vm}'s already: QEMU's realize would fail with EADDRINUSE`);
      devices.push({ ...vsock, worker: vsockRead.worker ?? -1 });
    }
  });
  // The worker is a kernel thread; without host preemption it must not share a CPU with a vCPU in
  // KVM_RUN: by default the first CPU no vCPU of any VM is pinned to (else the VM's first vCPU's CPU).
  const pinned = new Set(specs.map((s) => s.pcpu));
  const free = Array.from({ length: cpus ?? 0 }, (_, c) => c).find((c) => !pinned.has(c));
  for (const d of devices) if (d.worker < 0) d.worker = free ?? (specs[d.vcpu] as VcpuSpec).pcpu;
  return { vcpus: specs, vsock: devices };
}
