/**
 * Guards of the physical CPU chart. Each one reads the CPU's context, the shared kernel memory the
 * event carries, or asks a pure rule of `src/hw/`; none holds a hardware rule of its own.
 */
import { fatalMessage, type CpuContext, type CpuEvent, type Region } from './types.js';
import type { SwitchName } from '../../src/kernel/variants.js';
import type { World } from '../../src/kernel/port.js';
import type { NmiHandlerName, ShootdownCallback } from '../../src/kernel/memory.js';
import { virtBlocks, emergencyRestartDisablesVirt, x86VirtBackend, type VirtBlocks, type VirtDisableSite } from '../../src/kernel/virt-disable.js';
import { vmclear, vmxoff, type InsnResult } from '../../src/hw/vmx.js';
import type { CpuHw } from '../../src/hw/cpu-state.js';
import { stgi } from '../../src/hw/svm.js';
import {
  fixedIpiArrival,
  initArrival,
  initDeliverable,
  nmiArrival,
  nmiLatchedDeliverable,
  pendingIrqDeliverable,
  sipiArrival,
  smiArrival,
  smiLatchedDeliverable,
  type Arrival,
} from '../../src/hw/interrupts.js';

type Args = { context: CpuContext; event: CpuEvent };

/**
 * Where the shared kernel memory and the port come from. XState's own events (a compound state's
 * done event, the init event) carry nothing, so the simulator provides one world per run with
 * `physicalCpuMachine.provide(cpuImplementations(…))`; the default reads it from the event, for
 * tests that drive the chart with hand-made events.
 */
export type WorldOf = (event: CpuEvent) => World;

export const worldFromEvent: WorldOf = (event) => {
  if (event.k && event.io) return event as World;
  throw new Error(`event '${event.type}' carries no kernel memory and port, and none was provided`);
};


export function arrivalOf(context: CpuContext, event: CpuEvent): Arrival {
  const hw = context.hw;
  switch (event.type) {
    case 'bus.nmi':
      return nmiArrival(hw);
    case 'bus.ipi':
      return fixedIpiArrival(hw, event.vector);
    case 'bus.init':
      return initArrival(hw);
    case 'bus.sipi':
      return sipiArrival(hw, event.vector);
    case 'bus.smi':
      return smiArrival(hw);
    default:
      return { kind: 'dropped', why: `not an interconnect message: ${event.type}` };
  }
}

/**
 * What an instruction does to a given CPU state: a pure rule of src/hw/, asked by a step's guard
 * ("does VMCLEAR fault here?") and again by its action (execute VMCLEAR) on the same `hw`.
 */
export function ruleResult(hw: CpuHw, insn: 'VMCLEAR' | 'VMXOFF' | 'STGI', addr = -1): InsnResult {
  return insn === 'VMCLEAR' ? vmclear(hw, addr) : insn === 'VMXOFF' ? vmxoff(hw) : stgi(hw);
}

/** `ruleResult`, as the guards and actions of one chart binding share it (`ruleMemo`). */
export type RuleOf = typeof ruleResult;

/**
 * `ruleResult` remembering its last answer: the guard of a step ("does VMCLEAR fault here?") and its
 * action (execute it) ask the same question of the same `hw` object one after the other, and VMCLEAR's
 * answer copies `vmcsLaunch`. A CpuHw is never changed in place (each rule returns a new one), so the
 * same object, instruction and address give the same answer.
 */
export function ruleMemo(): RuleOf {
  let lastHw: CpuHw | null = null;
  let lastInsn = '';
  let lastAddr = 0;
  let last: InsnResult | null = null;
  return (hw, insn, addr = -1) => {
    if (hw === lastHw && insn === lastInsn && addr === lastAddr) return last as InsnResult;
    last = ruleResult(hw, insn, addr);
    lastHw = hw;
    lastInsn = insn;
    lastAddr = addr;
    return last;
  };
}

/** The VMCS the VMCLEAR walk of region r is at. */
export function walkTarget(context: CpuContext, r: Region): number {
  return context.loadedVmcss[context.walk[r]] ?? -1;
}

export function stopTargetsRemain({ context, event }: Args, world: WorldOf): boolean {
  const k = world(event).k.state;
  // smp.c: E0–E2 wait while num_online_cpus() > 1; E2b waits on cpus_stop_mask.
  return context.features['stop-cpus-mask'] ? k.stopMaskCount > 0 : k.onlineCount > 1;
}

export function makeGuards(world: WorldOf, rule: RuleOf = ruleMemo()) {
  return {
  feature: ({ context }: Args, p: { name: SwitchName }) => context.features[p.name],
  'kvm loaded': ({ context }: Args) => context.opts.kvmLoaded,
  'debug list': ({ context }: Args) => context.opts.debugList,
  'vendor is': ({ context }: Args, p: { vendor: 'intel' | 'amd' }) => context.hw.vendor === p.vendor,
  'CR4.VMXE set': ({ context }: Args) => context.hw.cr4Vmxe,
  'EFER.SVME set': ({ context }: Args) => context.hw.svme,
  'kvm_rebooting set': ({ event }: Args) => world(event).k.state.kvm_rebooting,

  // nmi_shootdown_cpus()
  'shootdown already issued': ({ context, event }: Args) =>
    context.features['shootdown-only-once'] && world(event).k.state.crash_ipi_issued === 1,
  'restart shootdown skipped': ({ context, event }: Args) =>
    context.features['shootdown-only-once'] && world(event).k.state.crash_ipi_issued === 1,
  'crash handler on the list': ({ event }: Args) => world(event).k.state.nmi_local.includes('crash'),
  /**
   * crash_na is the first entry of NMI_LOCAL: list_add_rcu(&crash_na.list, &desc->head) then has
   * next == new, the one double add __list_add_valid() (lib/list_debug.c) sees. Behind another entry
   * (smp_stop, also NMI_FLAG_FIRST) prev = &desc->head and next = that entry: the check passes.
   */
  'crash handler first on the list': ({ event }: Args) => world(event).k.state.nmi_local[0] === 'crash',
  'all crash IPIs acked': ({ event }: Args) => world(event).k.state.waiting_for_crash_ipi <= 0,
  'timer is': ({ event }: Args, p: { name: string }) => event.type === 'timer.expired' && event.name === p.name,

  // crash_nmi_callback()
  'I am crashing_cpu': ({ context, event }: Args) => world(event).k.state.crashing_cpu === context.id,
  'shootdown callback is': ({ event }: Args, p: { callback: ShootdownCallback }) =>
    world(event).k.state.shootdown_callback === p.callback,
  'crash_ipi_issued set': ({ event }: Args) => world(event).k.state.crash_ipi_issued === 1,

  // NMI dispatch
  'emergency NMI handler set': ({ event }: Args) => world(event).k.state.nmi_emergency !== null,
  'NMI handler registered': ({ event }: Args, p: { name: NmiHandlerName }) => world(event).k.state.nmi_local.includes(p.name),
  /** Both on the NMI_LOCAL list, `name` nearer the head: nmi_handle() calls it first. */
  'NMI handler ahead of': ({ event }: Args, p: { name: NmiHandlerName; other: NmiHandlerName }) => {
    const list = world(event).k.state.nmi_local;
    const at = list.indexOf(p.name);
    return at >= 0 && list.indexOf(p.other) > at;
  },
  'I am stopping_cpu': ({ context, event }: Args) => world(event).k.state.stopping_cpu === context.id,
  'NMI came from': ({ context }: Args, p: { source: string }) => context.nmiSource === p.source,
  'NMI handled': ({ context }: Args) => context.nmiHandled,
  'NMI action is': ({ context }: Args, p: { action: string }) => context.nmiAction === p.action,

  // panic()
  'panic_cpu free': ({ event }: Args) => world(event).k.state.panic_cpu === -1,
  'panic_cpu is me': ({ context, event }: Args) => world(event).k.state.panic_cpu === context.id,
  /** __crash_kexec(): a crash image is loaded and the kexec mutex trylock succeeds. */
  'crash kernel loaded and kexec lock free': ({ context, event }: Args) =>
    context.opts.kdump && world(event).k.state.kexec_lock === -1,
  'crash_kexec_post_notifiers': ({ context }: Args) => context.opts.crashKexecPostNotifiers,
  'cpus_stopped set': ({ event }: Args) => world(event).k.state.cpus_stopped,
  'panic_timeout positive': ({ context }: Args) => context.opts.panicTimeout > 0,
  'panic_timeout negative': ({ context }: Args) => context.opts.panicTimeout < 0,
  /**
   * die() on the CPU that owns panic_cpu, inside the panic() an earlier oops in this same context started
   * (interrupt context, or task context with panic_on_oops): oops_end() releases die_lock before its
   * panic(), and panic() lets its owner in again (`old_cpu == this_cpu`), so the next panic() runs the
   * path that just oopsed once more.
   */
  'oops inside a panic from an oops': ({ context, event }: Args, p: { r: Region }) =>
    (p.r !== 'task' || context.opts.panicOnOops) &&
    context.panicMsg[p.r] === fatalMessage(p.r) &&
    world(event).k.state.panic_cpu === context.id &&
    // An oops inside __crash_kexec() (this CPU holds kexec_mutex, never given back): the panic() it
    // calls skips __crash_kexec() (mutex_trylock fails), so it does not come back here; it runs on.
    world(event).k.state.kexec_lock !== context.id,
  /**
   * kexec_should_crash() (kernel/kexec_core.c, later crash_core.c): not with crash_kexec_post_notifiers;
   * then in interrupt context, or with panic_on_oops (the task's pid 0 and global-init cases do not arise:
   * the modelled tasks are ordinary ones).
   */
  'oops should kexec': ({ context }: Args, p: { r: Region }) => !context.opts.crashKexecPostNotifiers && (p.r !== 'task' || context.opts.panicOnOops),
  /** panic_on_oops (oops=panic, sysctl kernel.panic_on_oops). */
  'panic_on_oops': ({ context }: Args) => context.opts.panicOnOops,

  // native_stop_other_cpus()
  'reboot_force set': ({ context }: Args) => context.opts.rebootForce,
  'stopping_cpu free': ({ event }: Args) => world(event).k.state.stopping_cpu === -1,
  /** 5.10 takes stopping_cpu only inside `if (num_online_cpus() > 1)`; 6.5 always. */
  'stop has work': ({ context, event }: Args) => context.features['stop-cpus-mask'] || world(event).k.state.onlineCount > 1,
  'stop targets remain': (args: Args) => stopTargetsRemain(args, world),
  'no stop targets remain': (args: Args) => !stopTargetsRemain(args, world),
  'call function done': ({ event }: Args) => world(event).k.state.call_function_pending <= 0,

  // virtualization disable
  'block runs': ({ context }: Args, p: { site: VirtDisableSite; block: keyof VirtBlocks }) =>
    virtBlocks(p.site, context.features)[p.block],
  'emergency restart disables virt': ({ context }: Args) =>
    emergencyRestartDisablesVirt(context.features, context.hw.vendor, context.hw.cr4Vmxe, context.opts.kvmLoaded, backendOf(context)),
  /** E6 x86_virt_emergency_disable_virtualization_cpu(): `if (!virt_ops.feature) return -EOPNOTSUPP;` */
  'virt backend': ({ context }: Args) => backendOf(context) !== null,
  'VMCLEAR walk has next': ({ context }: Args, p: { r: Region }) => context.walk[p.r] < context.loadedVmcss.length,
  'VMCLEAR faults': ({ context }: Args, p: { r: Region }) =>
    rule(context.hw, 'VMCLEAR', walkTarget(context, p.r)).kind === 'fault',
  'VMXOFF faults': ({ context }: Args) => rule(context.hw, 'VMXOFF').kind === 'fault',
  'STGI faults': ({ context }: Args) => rule(context.hw, 'STGI').kind === 'fault',

  // halt loops
  'not halted': ({ context }: Args) => context.hw.activity === 'running',

  // interconnect arrivals (docs/model.md §3.3–§3.5); the rule is in src/hw/interrupts.ts
  arrival: ({ context, event }: Args, p: { kind: Arrival['kind'] }) => arrivalOf(context, event).kind === p.kind,
  'arrival not': ({ context, event }: Args, p: { kind: Arrival['kind'] }) => arrivalOf(context, event).kind !== p.kind,
  'latched NMI deliverable': ({ context }: Args) => nmiLatchedDeliverable(context.hw),
  'pending IRQ deliverable': ({ context }: Args) => pendingIrqDeliverable(context.hw) !== null,
  'pending INIT deliverable': ({ context }: Args) => initDeliverable(context.hw),
  'latched SMI deliverable': ({ context }: Args) => smiLatchedDeliverable(context.hw),
  'IRQ vector is': ({ context }: Args, p: { vector: number }) => context.irqVector === p.vector,
  'reboot task stays here': ({ context, event }: Args) => {
    const cpu = rebootCpu(world(event).k.state.online);
    return cpu === context.id || cpu < 0;
  },
  /** reboot(2): mutex_lock(&system_transition_mutex) finds it free (its fast path, one cmpxchg). */
  'system_transition_mutex free': ({ event }: Args) => world(event).k.state.system_transition_mutex === -1,
  'reboot task queued': ({ context }: Args) => context.rebootQueued,
  'task runs with IRQs off': ({ context }: Args) => context.ctx.length === 1 && !context.hw.if,
  'reboot task on this runqueue': ({ context, event }: Args) => world(event).k.state.reboot_task_cpu === context.id,
  'IRQ action is': ({ context }: Args, p: { action: string }) => context.irqAction === p.action,
  'script context is': ({ event }: Args, p: { context: string }) =>
    'context' in event && event.context === p.context,

  // crash kernel AP bring-up
  'AP left to bring up': ({ context }: Args) =>
    context.opts.kdumpBringsUpAps && nextAp(context) < context.opts.cpus,
  'AP called in': ({ context, event }: Args) => world(event).k.state.crashKernelCallin[nextAp(context)] === 1,
  };
}

/** The VMX/SVM backend x86_virt_init() found on this CPU at boot. */
function backendOf(context: CpuContext): 'vmx' | 'svm' | null {
  return x86VirtBackend(context.hw.vendor, context.hw.mode.featureControlOk);
}

/** The next CPU id the crash kernel should start, skipping itself. */
/**
 * migrate_to_reboot_cpu() (kernel/reboot.c): reboot_cpu (0 unless `reboot=s<N>`, not modelled) if it
 * is online, else the first online CPU; none online (cpumask_first() gives nr_cpu_ids, and
 * set_cpus_allowed_ptr() fails): the task stays where it is (-1).
 */
export function rebootCpu(online: readonly number[]): number {
  return online[0] === 1 ? 0 : online.indexOf(1);
}

/**
 * The next CPU the crash kernel starts from `context.nextAp` on: not itself, and not the real boot
 * CPU (CPU 0) when the crash kernel runs elsewhere, since INIT to the BSP resets the machine. Until
 * the x86 topology rework kdump's tooling passes `disable_cpu_apicid=<BSP's APIC id>` ("mostly used
 * for the kdump 2nd kernel to avoid undefined behaviour caused by sending INIT from AP to BSP",
 * arch/x86/kernel/apic/apic.c); after it the kernel finds the real BSP as the lowest APIC id and
 * leaves it out of the present map (tglx, "x86/cpu: Detect real BSP on crash kernels",
 * arch/x86/kernel/cpu/topology.c check_for_kdump_kernel()). Either way CPU 0 gets no INIT.
 */
export function nextAp(context: CpuContext): number {
  let n = context.nextAp;
  while (n === context.id || (n === 0 && context.id !== 0)) n++;
  return n;
}
