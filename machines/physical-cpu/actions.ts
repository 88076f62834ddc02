/**
 * Actions of the physical CPU chart. Context changes go through `assign` updaters built from the
 * pure rules of `src/hw/`; shared kernel memory through the memory every event carries, and every
 * other effect on the world (the interconnect, timers, the console, records) as a `CpuEffect` value
 * put in the step's outbox through the port the event carries (`io.out`).
 */
import { assign } from 'xstate';
import { fatalMessage, type CpuContext, type CpuEvent, type Region } from './types.js';
import type { CpuHw, ExecContext } from '../../src/hw/cpu-state.js';
import type { InsnResult } from '../../src/hw/vmx.js';
import { vmlaunch, vmptrld, vmresume, writeCr4Vmxe } from '../../src/hw/vmx.js';
import { vmrun, writeEfer, writeVmHsavePa } from '../../src/hw/svm.js';
import {
  addToIrr,
  exceptionReturn,
  leaveGuest,
  cli,
  hlt,
  holdInit,
  latchNmi,
  latchSmi,
  sti,
  smiEntry,
  iret,
  pendingIrqDeliverable,
  takeInit,
  takeIrq,
  takeLatchedNmi,
  takeNmi,
  takeNestedNmi,
  takeSipi,
  takeSmi,
  rsm,
} from '../../src/hw/interrupts.js';
import { NMI_VECTOR, type DeliveryMode, type MessageSource } from '../../src/hw/apic.js';
import type { Disposition, FaultHandling } from '../../src/kernel/port.js';
import type { ShootdownCallback, NmiHandlerName } from '../../src/kernel/memory.js';
import { arrivalOf, nextAp, rebootCpu, ruleMemo, walkTarget, type RuleOf, type WorldOf } from './guards.js';

type Args = { context: CpuContext; event: CpuEvent };

/** assign() with the chart's event type, so updaters can live outside setup(). */
function upd<P = undefined>(fn: (args: Args, params: P) => Partial<CpuContext>) {
  return assign<CpuContext, CpuEvent, P, CpuEvent, never>(fn);
}

/** Where a message goes, named the way the kernel names the send. */
export type SendTo = 'all-but-self' | 'stop-mask' | 'next-ap' | 'self' | 'reboot-cpu';

function result(r: InsnResult, insn: string, args: Args, world: WorldOf): CpuHw {
  world(args.event).io.out({ kind: 'insn', cpu: args.context.id, insn, result: r.kind === 'ok' ? 'ok' : r.kind === 'fault' ? r.fault : r.kind });
  return r.kind === 'ok' ? r.hw : args.context.hw;
}

function top(context: CpuContext): ExecContext {
  return context.ctx[context.ctx.length - 1] ?? 'task';
}

/** Interrupt or NMI entry: push the context, remember IF for the IRET, end a scripted stall. */
function enter(context: CpuContext, ctx: ExecContext, hw: CpuHw): Partial<CpuContext> {
  return {
    hw,
    ctx: [...context.ctx, ctx],
    savedIf: [...context.savedIf, context.hw.if],
    stalled: false,
  };
}

function kernelOopsHeader(context: CpuContext, count: number): string {
  // dumpstack.c __die_header(); from ~6.10 the line starts with "Oops: ".
  const prefix = context.features['emergency-nmi-handler-slot'] ? 'Oops: ' : '';
  return `${prefix}invalid opcode: 0000 [#${count}] SMP NOPTI`;
}

export function makeActions(world: WorldOf, rule: RuleOf = ruleMemo()) {
  return {
  // ---- plain kernel steps ---------------------------------------------------------------------
  cli: upd(({ context }: Args) => ({ hw: cli(context.hw) })),
  sti: upd(({ context }: Args) => ({ hw: sti(context.hw) })),
  print: ({ context, event }: Args, p: { text: string }) => world(event).io.out({ kind: 'console', cpu: context.id, text: p.text }),
  'print panic header': ({ context, event }: Args, p: { r: Region }) =>
    world(event).io.out({ kind: 'console', cpu: context.id, text: `Kernel panic - not syncing: ${context.panicMsg[p.r]}` }),
  'print panic end': ({ context, event }: Args, p: { r: Region }) =>
    world(event).io.out({ kind: 'console', cpu: context.id, text: `---[ end Kernel panic - not syncing: ${context.panicMsg[p.r]} ]---` }),
  'print rebooting in': ({ context, event }: Args) =>
    world(event).io.out({ kind: 'console', cpu: context.id, text: `Rebooting in ${context.opts.panicTimeout} seconds..` }),
  'print unknown NMI': ({ context, event }: Args) => {
    world(event).io.out({ kind: 'console', cpu: context.id, text: `Uhhuh. NMI received for unknown reason 00 on CPU ${context.id}.` });
    world(event).io.out({ kind: 'console', cpu: context.id, text: 'Dazed and confused, but trying to continue' });
  },
  'print oops': ({ context, event }: Args) =>
    world(event).io.out({ kind: 'console', cpu: context.id, text: kernelOopsHeader(context, world(event).k.nextDieCount(context.id)) }),
  'print shootdown WARN': ({ context, event }: Args, p: { where: string }) =>
    world(event).io.out({ kind: 'warn', cpu: context.id, where: p.where, text: `WARNING: CPU: ${context.id} PID: 0 at ${p.where}` }),
  'print AP not responding': ({ context, event }: Args) =>
    world(event).io.out({
      kind: 'console',
      cpu: context.id,
      text: context.features['stop-cpus-mask']
        ? `CPU${nextAp(context)} failed to report alive state`
        : `smpboot: do_boot_cpu failed(-1) to wakeup CPU#${nextAp(context)}`,
    }),
  'set panic message': upd(({ context, event }: Args, p: { r: Region }) => {
    const message =
      event.type === 'script.panic' || event.type === 'script.nmi-panic'
        ? event.message
        : p.r === 'irq'
          ? context.irqActionMsg
          : context.nmiActionMsg;
    return { panicMsg: { ...context.panicMsg, [p.r]: message } };
  }),
  'set fatal exception message': upd(({ context }: Args, p: { r: Region }) => ({
    panicMsg: { ...context.panicMsg, [p.r]: fatalMessage(p.r) },
  })),
  'task dies': upd(({ context }: Args) => ({ hw: { ...context.hw, if: true } })),
  stall: upd(() => ({ stalled: true })),

  // ---- shared kernel memory: one atomic operation each ----------------------------------------
  /** KVM's reboot hook and E3–E5 callbacks; from E6 kvm_arch_shutdown() sets the core flag, virt_rebooting. */
  'set kvm_rebooting': ({ context, event }: Args) =>
    world(event).k.setRebooting(context.features['emergency-virt-in-virt-subsystem'] ? 'virt_rebooting' : 'kvm_rebooting', context.id),
  /** E6 x86_{vmx,svm}_emergency_disable_virtualization_cpu(): `virt_rebooting = true;` first. */
  'set virt_rebooting': ({ context, event }: Args) => world(event).k.setRebooting('virt_rebooting', context.id),
  'set reboot_emergency': ({ context, event }: Args, p: { value: 0 | 1 }) =>
    world(event).k.write('reboot_emergency', p.value, context.id),
  'set crashing_cpu': ({ context, event }: Args) => world(event).k.write('crashing_cpu', context.id, context.id),
  'set shootdown_callback': ({ context, event }: Args, p: { site: 'restart' | 'kdump' }) => {
    // E2+ passes NULL on restart: the core handler disables virtualization itself.
    const callback: ShootdownCallback =
      p.site === 'kdump' ? 'kdump_nmi_callback' : context.features['core-nmi-handler-disables-virt'] ? null : 'vmxoff_nmi';
    world(event).k.write('shootdown_callback', callback, context.id);
  },
  'set waiting_for_crash_ipi': ({ context, event }: Args) =>
    world(event).k.write('waiting_for_crash_ipi', world(event).k.state.onlineCount - 1, context.id),
  'set crash_ipi_issued': ({ context, event }: Args) => world(event).k.write('crash_ipi_issued', 1, context.id),
  'ack crash IPI': ({ context, event }: Args) => world(event).k.atomicDec('waiting_for_crash_ipi', context.id),
  'register NMI handler': ({ context, event }: Args, p: { name: NmiHandlerName }) =>
    world(event).k.addNmiHandler(p.name, context.id),
  /** set_emergency_nmi_handler(NMI_LOCAL, crash_nmi_callback): WARNs once if the slot already holds it, and goes on. */
  'set emergency NMI handler': ({ context, event }: Args) => {
    const w = world(event);
    if (w.k.setEmergencyNmiHandler('crash', context.id)) {
      const where = 'arch/x86/kernel/nmi.c set_emergency_nmi_handler';
      w.io.out({ kind: 'warn', cpu: context.id, where, text: `WARNING: CPU: ${context.id} PID: 0 at ${where}` });
    }
  },
  'claim panic_cpu': ({ context, event }: Args) => world(event).k.cmpxchg('panic_cpu', -1, context.id, context.id),
  'claim stopping_cpu': ({ context, event }: Args) => world(event).k.cmpxchg('stopping_cpu', -1, context.id, context.id),
  'take kexec lock': ({ context, event }: Args) => world(event).k.cmpxchg('kexec_lock', -1, context.id, context.id),
  'set cpus_stopped': ({ context, event }: Args) => world(event).k.write('cpus_stopped', true, context.id),
  'fill cpus_stop_mask': ({ context, event }: Args) => world(event).k.fillStopMask(context.id),
  'clear cpus_stop_mask': ({ context, event }: Args) => world(event).k.clearStopMask(context.id),
  'clear own cpus_stop_mask bit': ({ context, event }: Args) => world(event).k.clearStopMaskCpu(context.id),
  'set cpu offline': ({ context, event }: Args) => world(event).k.setOnline(context.id, false),
  'start call function': ({ context, event }: Args) =>
    world(event).k.write('call_function_pending', world(event).k.state.onlineCount - 1, context.id),
  'complete call function': ({ context, event }: Args) => world(event).k.atomicDec('call_function_pending', context.id),
  'lock system_transition_mutex': ({ context, event }: Args) => world(event).k.cmpxchg('system_transition_mutex', -1, context.id, context.id),
  'migrate reboot task': ({ context, event }: Args) => world(event).k.queueRebootTask(context.id, rebootCpu(world(event).k.state.online)),
  'take reboot task': upd(({ context, event }: Args) => (world(event).k.takeRebootTask(context.id), { rebootQueued: true })),
  'run queued reboot task': upd(() => ({ rebootQueued: false })),
  'crash kernel callin': ({ context, event }: Args) => world(event).k.crashKernelCallin(context.id),

  // ---- the world outside -------------------------------------------------------------------------
  send: (
    { context, event }: Args,
    p: { mode: DeliveryMode; vector?: number; to: SendTo; source?: MessageSource },
  ) => {
    // apic_send_IPI_allbutself() (arch/x86/kernel/apic/ipi.c, since v5.5): `if (num_online_cpus() < 2)
    // return;` — with every other CPU offline (stopped by smp_send_stop(), say) nothing is sent, not
    // even to the parked CPUs the shorthand would otherwise reach.
    if (p.to === 'all-but-self' && world(event).k.state.onlineCount < 2) return;
    const dest =
      p.to === 'all-but-self'
        ? ({ kind: 'all-but-self' } as const)
        : p.to === 'stop-mask'
          ? ({ kind: 'mask', cpus: world(event).k.stopMaskCpus() } as const)
          : ({ kind: 'cpu', cpu: p.to === 'self' ? context.id : p.to === 'reboot-cpu' ? rebootCpu(world(event).k.state.online) : nextAp(context) } as const);
    world(event).io.out({
      kind: 'send',
      cpu: context.id,
      message: { mode: p.mode, vector: p.vector ?? (p.mode === 'nmi' ? NMI_VECTOR : null), dest, source: p.source ?? 'kernel' },
    });
  },
  'arm timer': ({ context, event }: Args, p: { name: string; ns: number }) =>
    world(event).io.out({ kind: 'arm timer', cpu: context.id, name: p.name, ns: p.ns }),
  'arm panic timer': ({ context, event }: Args, p: { name: string }) =>
    world(event).io.out({ kind: 'arm timer', cpu: context.id, name: p.name, ns: context.opts.panicTimeout * 1_000_000_000 }),
  'cancel timer': ({ context, event }: Args, p: { name: string }) => world(event).io.out({ kind: 'cancel timer', cpu: context.id, name: p.name }),
  'begin wait': upd(({ event }: Args) => ({ waitStart: world(event).io.now() })),
  /** A kernel-level event for the outcome; `waitedNs` is how long the wait the CPU is leaving took. */
  'kernel event': ({ context, event }: Args, p: { what: string }) =>
    world(event).io.out({
      kind: 'kernel event',
      cpu: context.id,
      what: p.what,
      data: p.what.endsWith('-acked') || p.what.endsWith('-timeout') ? { waitedNs: world(event).io.now() - context.waitStart } : {},
    }),
  /** BOOT_TRIPLE (reboot.c): `idt_invalidate(); int3` triple-faults into shutdown, which in an NMI handler only RESET leaves (hw/interrupts.ts shutdownNeedsReset). */
  'triple fault if BOOT_TRIPLE': upd(({ context }: Args) => (context.opts.resetMethod === 'triple' ? { hw: { ...context.hw, activity: 'shutdown' } } : {})),
  'platform reset': ({ context, event }: Args) => world(event).io.out({ kind: 'platform reset', cpu: context.id, method: context.opts.resetMethod }),
  kexec: upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'kexec', cpu: context.id });
    // The crash kernel starts on this CPU in task context with a fresh CPU state for the kernel.
    return { ctx: ['task'] as ExecContext[], savedIf: [], hw: { ...context.hw, if: false }, nextAp: 0, rebootQueued: false };
  }),
  'next AP': upd(({ context }: Args) => ({ nextAp: nextAp(context) + 1 })),

  // ---- virtualization instructions -------------------------------------------------------------
  'reset VMCLEAR walk': upd(({ context }: Args, p: { r: Region }) => ({ walk: { ...context.walk, [p.r]: 0 } })),
  VMCLEAR: upd((args: Args, p: { r: Region; unlink: boolean }) => {
    const { context } = args;
    const addr = walkTarget(context, p.r);
    const hw = result(rule(context.hw, 'VMCLEAR', addr), 'VMCLEAR', args, world);
    if (p.unlink) {
      // __loaded_vmcs_clear(): VMCLEAR, then list_del; the walk index stays where it is.
      return { hw, loadedVmcss: context.loadedVmcss.filter((a) => a !== addr) };
    }
    return { hw, walk: { ...context.walk, [p.r]: context.walk[p.r] + 1 } };
  }),
  VMXOFF: upd((args: Args) => ({ hw: result(rule(args.context.hw, 'VMXOFF'), 'VMXOFF', args, world) })),
  'clear CR4.VMXE': upd((args: Args) => ({ hw: result(writeCr4Vmxe(args.context.hw, false), 'MOV CR4 (clear VMXE)', args, world) })),
  'write VM_HSAVE_PA 0': upd((args: Args) => ({ hw: result(writeVmHsavePa(args.context.hw, 0), 'WRMSR VM_HSAVE_PA', args, world) })),
  STGI: upd((args: Args) => ({ hw: result(rule(args.context.hw, 'STGI'), 'STGI', args, world) })),
  'clear EFER.SVME': upd((args: Args) => ({ hw: result(writeEfer(args.context.hw, false), 'WRMSR EFER (clear SVME)', args, world) })),
  /** A fault on a virtualization instruction, and what the kernel made of it; an eaten one IRETs (§3.4). */
  fault: upd(({ context, event }: Args, p: { insn: string; fault: '#UD' | '#GP'; handling: FaultHandling }) => {
    world(event).io.out({ kind: 'insn', cpu: context.id, insn: p.insn, result: p.fault });
    world(event).io.out({ kind: 'fault', cpu: context.id, report: { insn: p.insn, fault: p.fault, context: top(context), handling: p.handling } });
    return p.handling === 'eaten' ? { hw: exceptionReturn(context.hw) } : {};
  }),
  'skip faulting VMCLEAR': upd(({ context }: Args, p: { r: Region }) => ({
    walk: { ...context.walk, [p.r]: context.walk[p.r] + 1 },
  })),
  hlt: upd((args: Args) => ({ hw: result(hlt(args.context.hw), 'HLT', args, world) })),
  'disable local APIC': upd(({ context }: Args) => ({ hw: { ...context.hw, lapicEnabled: false } })),

  // ---- arrivals from the interconnect ------------------------------------------------------------
  /** A message the CPU does not take now: latch, hold or drop it, and say which. */
  'hold or drop': upd(({ context, event }: Args) => {
    const a = arrivalOf(context, event);
    let hw = context.hw;
    if (a.kind === 'latched' || a.kind === 'pending') {
      if (event.type === 'bus.nmi') hw = latchNmi(hw);
      else if (event.type === 'bus.ipi') hw = addToIrr(hw, event.vector);
      else if (event.type === 'bus.init') hw = holdInit(hw);
      else if (event.type === 'bus.smi') hw = latchSmi(hw);
    }
    const account = (disposition: Disposition) => world(event).io.out({ kind: 'account', cpu: context.id, disposition });
    if (a.kind === 'take') account({ status: 'dropped', reason: `not accepted in this state` });
    else if (a.kind === 'vmexit') account({ status: 'dropped', reason: 'VM exit (no guest modelled)' });
    else if (a.kind === 'latched' || a.kind === 'pending' || a.kind === 'dropped') account({ status: a.kind, reason: a.why });
    return { hw };
  }),
  'take NMI': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    const source = event.type === 'bus.nmi' ? event.source : 'kernel';
    return { ...enter(context, 'nmi', takeNmi(context.hw)), nmiSource: source, nmiHandled: false };
  }),
  'take nested NMI': upd(({ context, event }: Args) => { // an NMI in a handler an eaten fault unblocked (§3.4)
    const io = world(event).io;
    if (event.type === 'bus.nmi') io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    io.out({ kind: 'kernel event', cpu: context.id, what: 'nested-nmi', data: {} });
    return { hw: takeNestedNmi(context.hw, event.type !== 'bus.nmi') };
  }),
  'take latched NMI': upd(({ context }: Args) => ({
    ...enter(context, 'nmi', takeLatchedNmi(context.hw)),
    nmiSource: 'kernel' as const,
    nmiHandled: false,
  })),
  'NMI handled': upd(() => ({ nmiHandled: true })),
  'take IRQ': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    const vector = event.type === 'bus.ipi' ? event.vector : 0;
    return { ...enter(context, 'irq', takeIrq(context.hw, vector)), irqVector: vector };
  }),
  'take pending IRQ': upd(({ context }: Args) => {
    const vector = pendingIrqDeliverable(context.hw) ?? 0;
    return { ...enter(context, 'irq', takeIrq(context.hw, vector)), irqVector: vector };
  }),
  /** IRET: NMIs unblocked (SDM 6.7.1), the interrupted context's IF restored. */
  IRET: upd(({ context }: Args) => {
    const savedIf = context.savedIf[context.savedIf.length - 1] ?? true;
    return {
      hw: iret(context.hw, savedIf),
      ctx: context.ctx.slice(0, -1),
      savedIf: context.savedIf.slice(0, -1),
    };
  }),
  'take INIT': upd(({ context, event }: Args) => {
    if (event.type === 'bus.init') world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    return { hw: takeInit(context.hw), ctx: ['task'] as ExecContext[], savedIf: [], loadedVmcss: [], stalled: false, rebootQueued: false };
  }),
  /** The crash kernel's default_do_nmi() (boot CPU or AP): nothing claims it, unknown_nmi_error() prints, IRET. */
  'crash kernel takes NMI': upd(({ context, event }: Args) => {
    const io = world(event).io;
    io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    io.out({ kind: 'console', cpu: context.id, text: `Uhhuh. NMI received for unknown reason 00 on CPU ${context.id}.` });
    io.out({ kind: 'console', cpu: context.id, text: 'Dazed and confused, but trying to continue' });
    return { hw: iret(takeNmi(context.hw), context.hw.if) };
  }),
  /** An SMI outside the old kernel: SMM entry, the firmware's handler, RSM (SDM Vol. 3C "Entering SMM"); nothing the kernel sees. */
  'SMI handled by firmware': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    const r = rsm(takeSmi(context.hw), true);
    return { hw: r.kind === 'ok' ? r.hw : context.hw };
  }),
  // ---- a guest on this CPU ----------------------------------------------------------------------
  /**
   * SDM Vol. 3C "Other Causes of VM Exits" (NMI exiting) / APM NMI intercept: the NMI is a VM exit;
   * KVM then runs the host NMI handler on this CPU at once (vmx_do_nmi_irqoff; on SVM the NMI is
   * taken at STGI), with NMIs blocked until its IRET. The vCPU thread resumes only after that.
   */
  'VM exit, take NMI': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    world(event).io.out({ kind: 'guest exit', cpu: context.id, reason: 'nmi' });
    const source = event.type === 'bus.nmi' ? event.source : 'kernel';
    return { ...enter(context, 'nmi', takeNmi(leaveGuest(context.hw))), nmiSource: source, nmiHandled: false };
  }),
  /**
   * External-interrupt exiting / INTR intercept: a VM exit, then KVM hands the interrupt to the host
   * handler (handle_external_interrupt_irqoff; SVM: local_irq_enable after #VMEXIT).
   */
  'VM exit, take IRQ': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    world(event).io.out({ kind: 'guest exit', cpu: context.id, reason: 'intr' });
    const vector = event.type === 'bus.ipi' ? event.vector : 0;
    return { ...enter(context, 'irq', takeIrq(leaveGuest(context.hw), vector)), irqVector: vector };
  }),
  /**
   * INIT in VMX non-root is consumed by a VM exit (SDM Vol. 3C "Other Causes of VM Exits": exit reason 3); a later
   * INIT is blocked in VMX root. KVM has no handler for reason 3 (docs/model.md §4.6); an SVM guest takes INIT itself.
   */
  'VM exit for INIT': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'dropped', reason: 'INIT signal VM exit (reason 3): consumed by the exit' } });
    world(event).io.out({ kind: 'guest exit', cpu: context.id, reason: 'init' });
    return { hw: leaveGuest(context.hw) };
  }),
  /**
   * A vCPU thread's VMX/SVM instruction on this CPU. vmx_vcpu_load_vmcs: a VMCS loaded here for the
   * first time goes on this CPU's loaded_vmcss_on_cpu list, which the emergency VMCLEAR walks.
   */
  'host instruction': upd((args: Args) => {
    const { context, event } = args;
    if (event.type !== 'kvm.insn') return {};
    const io = world(event).io;
    if (event.insn === 'vmexit') {
      io.out({ kind: 'insn', cpu: context.id, insn: `VM exit (${event.why})`, result: 'ok' });
      io.out({ kind: 'host insn done', cpu: context.id, result: 'ok' });
      // KVM re-enables interrupts after handling the exit (vcpu_enter_guest: local_irq_enable()).
      return { hw: { ...leaveGuest(context.hw), if: context.hw.if } };
    }
    const r: InsnResult =
      event.insn === 'VMPTRLD'
        ? vmptrld(context.hw, event.addr)
        : event.insn === 'VMLAUNCH'
          ? vmlaunch(context.hw)
          : event.insn === 'VMRESUME'
            ? vmresume(context.hw)
            : vmrun(context.hw, event.addr);
    const shown =
      r.kind === 'ok' ? 'ok' : r.kind === 'fault' ? r.fault : r.kind === 'vmfail-valid' ? `VMfailValid(${r.error})` : r.kind === 'vmfail-invalid' ? 'VMfailInvalid' : 'vmexit';
    io.out({ kind: 'insn', cpu: context.id, insn: event.insn === 'VMPTRLD' || event.insn === 'VMRUN' ? `${event.insn} ${event.addr.toString(16)}` : event.insn, result: shown });
    io.out({ kind: 'host insn done', cpu: context.id, result: shown });
    if (r.kind !== 'ok') return {};
    const listed = event.insn === 'VMPTRLD' && !context.loadedVmcss.includes(event.addr);
    return { hw: r.hw, ...(listed ? { loadedVmcss: [...context.loadedVmcss, event.addr] } : {}) };
  }),
  'take SIPI': upd(({ context, event }: Args) => {
    world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    return { hw: takeSipi(context.hw) };
  }),
  /** From the bus, or latched in SMM and serviced after RSM (SDM 34.3); in an SVM guest a #VMEXIT first (smiEntry). */
  'take SMI': upd(({ context, event }: Args) => {
    if (event.type === 'bus.smi') world(event).io.out({ kind: 'account', cpu: context.id, disposition: { status: 'delivered' } });
    const r = smiEntry(context.hw, event.type !== 'bus.smi');
    if (r.vmexit) world(event).io.out({ kind: 'guest exit', cpu: context.id, reason: 'smi' });
    return enter(context, 'smm', r.hw);
  }),
  RSM: upd((args: Args) => {
    const { context } = args;
    const hw = result(rsm(context.hw, true), 'RSM', args, world);
    return { hw, ctx: context.ctx.slice(0, -1), savedIf: context.savedIf.slice(0, -1) };
  }),

  // ---- scripted actions ------------------------------------------------------------------------
  /** A device interrupt whose handler will run the scripted action in IRQ context. */
  'arm script IRQ': upd(({ event }: Args) => ({
    irqAction: event.type === 'script.panic' ? ('panic' as const) : ('emergency-restart' as const),
    irqActionMsg: event.type === 'script.panic' ? event.message : '',
  })),
  /** The perf NMI watchdog of this CPU will fire; its handler runs the scripted action. */
  'arm watchdog NMI': upd(({ event }: Args) => ({
    nmiAction: event.type === 'script.emergency-restart' ? ('emergency-restart' as const) : ('panic' as const),
    nmiActionMsg: event.type === 'script.panic' || event.type === 'script.nmi-panic' ? event.message : '',
  })),
  'disarm NMI action': upd(() => ({ nmiAction: null })),
  };
}
