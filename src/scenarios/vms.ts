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
 */
import type { Vendor } from '../hw/cpu-state.js';
import type { GuestInsn, GuestProgram } from '../../machines/vcpu.machine.js';
import type { VmmCall } from '../../machines/vmm.machine.js';
import type { KvmIoctlArg, KvmIoctlName } from '../kvm/uapi.js';
import { L1_BASE, L2_BASE, SMM_ENTRY } from '../kvm/types.js';
import {
  CPU_ID_EXPECTATION,
  choiceExpectation,
  readArray,
  readBoolean,
  readChoice,
  readCpuId,
  readInteger,
  readObject,
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
}

/** Where each code array lives: instruction i is at base + i, as the vCPU chart runs it. */
const CODE_BASE = { l1: L1_BASE, l2: L2_BASE, smm: SMM_ENTRY } as const;

const INTEL_OPS = ['vmlaunch', 'vmresume'] as const;
const AMD_OPS = ['vmrun'] as const;
const COMMON_OPS = ['mmio', 'io', 'hlt', 'rsm', 'triple-fault', 'spin', 'nop'] as const;
const SIMPLE_OPS: readonly string[] = [...INTEL_OPS, ...AMD_OPS, ...COMMON_OPS];

const IOCTLS: readonly KvmIoctlName[] = ['KVM_CREATE_VCPU', 'KVM_SET_CPUID2', 'KVM_RUN', 'KVM_SMI', 'KVM_SET_SREGS', 'KVM_SET_VCPU_EVENTS', 'KVM_INTERRUPT'];

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
  const items = readArray(field, out, 'expected an array of guest instructions') ?? [];
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

const CALL_KEYS = ['ioctl', 'id', 'maxphyaddr', 'efer', 'tripleFault', 'vector', 'loop', 'mmioIrq'];
const ARG_KEYS: Record<KvmIoctlName, readonly string[]> = {
  KVM_CREATE_VCPU: ['id'],
  KVM_SET_CPUID2: ['maxphyaddr'],
  KVM_RUN: ['loop', 'mmioIrq'],
  KVM_SMI: [],
  KVM_SET_SREGS: ['efer'],
  KVM_SET_VCPU_EVENTS: ['tripleFault'],
  KVM_INTERRUPT: ['vector'],
};

function readCall(field: Field, vcpuId: number, out: Problems): VmmCall | undefined {
  const fields = readObject(field, CALL_KEYS, out, { ioctl: choiceExpectation(IOCTLS) });
  if (fields === undefined) return undefined;
  const ioctlField = fields.get('ioctl');
  if (ioctlField === undefined) {
    out.add(field.loc, "missing 'ioctl'");
    return undefined;
  }
  const name = readChoice(ioctlField, 'ioctl', IOCTLS, out);
  if (name === undefined) return undefined;
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
    case 'KVM_SMI':
      break;
  }
  call.arg = arg;
  return call;
}

/** Read `vms`; vCPUs are numbered in file order. */
export function readVms(field: Field | undefined, cpus: number | undefined, vendor: Vendor, out: Problems): VcpuSpec[] {
  if (field === undefined) return [];
  const specs: VcpuSpec[] = [];
  const vms = readArray(field, out, 'expected an array of VMs') ?? [];
  vms.forEach((vmField, vm) => {
    const vmFields = readObject(vmField, ['vcpus'], out, { vcpus: 'expected an array of vCPUs' });
    const vcpusField = vmFields?.get('vcpus');
    if (vmFields !== undefined && vcpusField === undefined) out.add(vmField.loc, "missing 'vcpus'");
    if (vcpusField === undefined) return;
    (readArray(vcpusField, out, 'expected an array of vCPUs') ?? []).forEach((vcpuField, n) => {
      const f = readObject(vcpuField, ['cpu', 'id', 'guest', 'vmm'], out, { cpu: CPU_ID_EXPECTATION });
      if (f === undefined) return;
      const cpuField = f.get('cpu');
      if (cpuField === undefined) out.add(vcpuField.loc, "missing 'cpu' (the physical CPU its thread runs on)");
      const pcpu = cpuField === undefined ? undefined : readCpuId(cpuField, cpus, out);
      const idField = f.get('id');
      const vcpuId = idField === undefined ? n : (readInteger(idField, 0, 4095, out) ?? n);
      const program = readProgram(f.get('guest'), vendor, out);
      const vmmField = f.get('vmm');
      const calls =
        vmmField === undefined
          ? defaultCalls(vcpuId)
          : (readArray(vmmField, out, 'expected an array of ioctl calls') ?? []).flatMap((c) => readCall(c, vcpuId, out) ?? []);
      if (pcpu !== undefined) specs.push({ index: specs.length, vm, vcpuId, pcpu, program, calls });
    });
  });
  return specs;
}
