import { createActor } from 'xstate';
import { vcpuImplementations, vcpuMachine, type GuestProgram, type VcpuInput } from '../../machines/vcpu.machine.js';
import type { VcpuEffect, VcpuEvent, VcpuPort } from '../../machines/vcpu/types.js';
import type { HostInsnResult } from '../../src/kvm/types.js';
import type { KvmIoctlArg, KvmIoctlName, KvmIoctlReturn, KvmExitName } from '../../src/kvm/uapi.js';
import { KernelMemory } from '../../src/kernel/memory.js';
import { resolveFeatures } from '../../src/kernel/variants.js';

export function fakeWorld(result: (insn: string) => HostInsnResult = () => 'ok') {
  const k = new KernelMemory(2);
  const log: string[] = [];
  const warns: string[] = [];
  const oopses: string[][] = [];
  const events: { what: string; data: Record<string, unknown> }[] = [];
  const returns: { name: KvmIoctlName; ret: KvmIoctlReturn; exit: KvmExitName | null }[] = [];
  /** Every effect the chart put out, in order. */
  const effects: VcpuEffect[] = [];
  const io: VcpuPort = {
    hostInsn: (_v, insn) => {
      const r = result(insn.insn);
      log.push(`${insn.insn}${'vmcs' in insn ? ` ${insn.vmcs.toString(16)}` : ''}${'vmcb' in insn ? ` ${insn.vmcb.toString(16)}` : ''} → ${r}`);
      return r;
    },
    out: (e) => {
      effects.push(e);
      if (e.kind === 'return') returns.push({ name: e.name, ret: e.ret, exit: e.exit });
      else if (e.kind === 'kvm warn') warns.push(e.where);
      else if (e.kind === 'kvm oops') oopses.push([...e.lines]);
      else if (e.kind === 'kvm event') events.push({ what: e.what, data: e.data });
    },
  };
  return { k, io, log, warns, oopses, events, returns, effects };
}

export function vcpuInput(vendor: 'intel' | 'amd', preset: string, fix: string[], noFix: string[], program: Partial<GuestProgram>): VcpuInput {
  return {
    id: 0,
    vm: 0,
    vcpuId: 0,
    pcpu: 1,
    vendor,
    features: resolveFeatures(preset, fix, noFix),
    program: { l1: [], l2: [], smm: [{ op: 'rsm' }], l1InterceptsIrq: false, l1InterceptsShutdown: false, l1InterceptsUd: false, ...program },
    vmcs: { l1: 0x10000, l2: 0x20000 },
  };
}

export function startVcpu(input: VcpuInput, world = fakeWorld()) {
  const actor = createActor(vcpuMachine.provide(vcpuImplementations(() => world) as never), { input });
  actor.start();
  const send = (e: VcpuEvent) => actor.send(e);
  const ioctl = (name: KvmIoctlName, arg: KvmIoctlArg = {}) => {
    const before = world.returns.length;
    send({ type: 'ioctl', name, arg });
    return world.returns.length > before ? world.returns[world.returns.length - 1] : undefined;
  };
  /** Step the thread until it blocks (or a step limit). */
  const runUntilBlocked = (limit = 200) => {
    let n = 0;
    while (actor.getSnapshot().can({ type: 'sched.vcpu' }) && n < limit) {
      send({ type: 'sched.vcpu' });
      n += 1;
    }
    return n;
  };
  /** KVM_RUN and step until the thread is blocked again. */
  const kvmRun = () => {
    const before = world.returns.length;
    send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    runUntilBlocked();
    return world.returns.length > before ? world.returns[world.returns.length - 1] : undefined;
  };
  return { actor, world, send, ioctl, kvmRun, runUntilBlocked, ctx: () => actor.getSnapshot().context, snap: () => actor.getSnapshot() };
}
