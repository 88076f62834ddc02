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
import { OP, type OpName } from '../vhost/datapath.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';
import { realize } from '../vhost/qemu.js';
import { L1_BASE, L2_BASE, SMM_ENTRY } from '../kvm/types.js';
import { U32_MAX } from '../vhost/device-state.js';
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
  shown,
  type Field,
  type Problems,
} from './reader.js';
import type { VcpuSpec, VmsSpec, VsockSpec } from './vms-spec.js';
import { DEFAULT_MAXPHYADDR, defaultCalls, newCallBudget, readCall, type CallBudget } from './vmm-calls.js';

export { DEFAULT_MAXPHYADDR, defaultCalls, type VcpuSpec, type VmsSpec, type VsockSpec };

/** Where each code array lives: instruction i is at base + i, as the vCPU chart runs it. */
const CODE_BASE = { l1: L1_BASE, l2: L2_BASE, smm: SMM_ENTRY } as const;

const INTEL_OPS = ['vmlaunch', 'vmresume'] as const;
const AMD_OPS = ['vmrun'] as const;
const COMMON_OPS = ['mmio', 'io', 'hlt', 'rsm', 'triple-fault', 'spin', 'nop', 'vsock-ready', 'vsock-send'] as const;
const VSOCK_OPS: readonly string[] = ['vsock-ready', 'vsock-send'];
const SIMPLE_OPS: readonly string[] = [...INTEL_OPS, ...AMD_OPS, ...COMMON_OPS];

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
  const program: GuestProgram = { l1: [], l2: [], smm: [{ op: 'rsm' }], l1InterceptsIrq: true, l1InterceptsShutdown: true, l1InterceptsUd: true };
  if (field === undefined) return program;
  const fields = readObject(field, ['l1', 'l2', 'smm', 'l1InterceptsIrq', 'l1InterceptsShutdown', 'l1InterceptsUd'], out);
  if (fields === undefined) return program;
  program.l1 = readCode(fields.get('l1'), 'l1', vendor, out);
  program.l2 = readCode(fields.get('l2'), 'l2', vendor, out);
  if (fields.has('smm')) program.smm = readCode(fields.get('smm'), 'smm', vendor, out);
  for (const key of ['l1InterceptsIrq', 'l1InterceptsShutdown', 'l1InterceptsUd'] as const) {
    const f = fields.get(key);
    if (f !== undefined) program[key] = readBoolean(f, out) ?? program[key];
  }
  return program;
}

/** An integer, or a string in hex ("0x2501") as registers are usually written. */
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

/**
 * A VMM thread's script: at most MAX_PROGRAM_LENGTH calls, counted as the thread makes them, with
 * each `{ "vhost": … }` step expanded (checked step by step, so a long script of them stops at the limit).
 */
function readCalls(field: Field, vcpuId: number, vm: number, vsock: VsockSpec | undefined, budget: CallBudget, out: Problems): VmmCall[] {
  const calls: VmmCall[] = [];
  for (const [i, step] of (readArray(field, out, 'expected an array of ioctl calls', MAX_PROGRAM_LENGTH) ?? []).entries()) {
    const made = readCall(step, vcpuId, vm, vsock, budget, out) ?? [];
    if (calls.length + made.length > MAX_PROGRAM_LENGTH) {
      out.add(field.loc, `too many calls: the steps make more than ${MAX_PROGRAM_LENGTH} ioctl calls once their { "vhost": … } sequences are expanded (at most ${MAX_PROGRAM_LENGTH}; step ${i} passes the limit)`);
      break;
    }
    calls.push(...made);
  }
  return calls;
}

/** Read `vms`; vCPUs and vsock devices are numbered in file order. */
/**
 * A VM's `vcpus`, refused on its length alone beyond MAX_VCPUS_PER_VM (src/scenarios/limits.ts). Up
 * to it, vCPUs beyond the kernel's KVM_MAX_VCPUS are run: their KVM_CREATE_VCPU is the kernel's -EINVAL.
 */
function readVcpuArray(field: Field, vm: number, out: Problems): Field[] | undefined {
  const n = Array.isArray(field.value) ? field.value.length : 0;
  if (n > MAX_VCPUS_PER_VM) {
    out.add(
      field.loc,
      `too many vCPUs in VM ${vm}: ${n} (the model runs at most ${MAX_VCPUS_PER_VM} in one VM, the most x86 KVM allows with CONFIG_KVM_MAX_NR_VCPUS; ` +
        'a modelled kernel refuses each vCPU beyond its KVM_MAX_VCPUS, 288 before v5.15 and 1024 from v5.15, with -EINVAL)',
    );
    return undefined;
  }
  return readArray(field, out, 'expected an array of vCPUs', MAX_VCPUS_PER_VM);
}

export function readVms(field: Field | undefined, cpus: number | undefined, vendor: Vendor, out: Problems): VmsSpec {
  if (field === undefined) return { vcpus: [], vsock: [] };
  const specs: VcpuSpec[] = [];
  const devices: VsockSpec[] = [];
  const vms = readArray(field, out, 'expected an array of VMs', MAX_VMS) ?? [];
  const budget = newCallBudget();
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
    /** The vCPU ids of this VM so far, each with the vCPU that has it. */
    const ids = new Map<number, number>();
    const vcpuFields = readVcpuArray(vcpusField, vm, out);
    (vcpuFields ?? []).forEach((vcpuField, n) => {
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
      // Any u32, as KVM_CREATE_VCPU's argument: an id the kernel does not take (KVM_MAX_VCPU_ID(S) or
      // more: 1023 before v5.15, 4096 after) is its -EINVAL when the thread creates the vCPU.
      const vcpuId = idField === undefined ? n : (readInteger(idField, 0, U32_MAX, out) ?? n);
      // kvm_vm_ioctl_create_vcpu() (virt/kvm/kvm_main.c): an id kvm_get_vcpu_by_id() finds is -EEXIST.
      // Each vCPU here is created by its own thread, so the second of two would be created too.
      const holder = ids.get(vcpuId);
      if (holder !== undefined) {
        const what = idField === undefined ? `vCPU id ${vcpuId} (its place in the list)` : `vCPU id ${vcpuId}`;
        out.add((idField ?? vcpuField).loc, `${what} is vms[${vm}].vcpus[${holder}]'s already: KVM_CREATE_VCPU of a second vCPU with an id in use fails with -EEXIST`);
      } else ids.set(vcpuId, n);
      const program = readProgram(f.get('guest'), vendor, out);
      const usesVsock = [...program.l1, ...program.l2, ...program.smm].some((i) => VSOCK_OPS.includes(i.op));
      if (usesVsock && vsock === undefined) out.add(f.get('guest')?.loc ?? vcpuField.loc, `vsock-ready / vsock-send need a vhost-vsock device: VM ${vm} has no 'vsock'`);
      const vmmField = f.get('vmm');
      let calls = vmmField === undefined ? defaultCalls(vcpuId) : readCalls(vmmField, vcpuId, vm, vsock, budget, out);
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
        // A VM whose vCPUs were all refused (a CPU out of range, …) has its cause reported there already.
        if (vcpuFields?.length === 0) out.add(vsockField?.loc ?? vmField.loc, 'a vsock device needs a vCPU whose VMM thread drives it');
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
