/**
 * An x86 physical CPU and the host kernel code it runs (docs/model.md §0.1, §1, §2, §3).
 *
 * While the kernel runs (`os`), one parallel region per execution context holds that context's
 * program point: `task`, `irq`, `nmi`, `smm`. An interrupt or NMI moves its region out of `idle`
 * and pushes the context; the interrupted region keeps its state, so an IRET resumes it exactly
 * where it stopped. The scheduler steps a CPU with the step event of the context on top
 * (`sched.task`, `sched.nmi`, …); one step is one instruction or one atomic kernel operation.
 * INIT leaves `os` for wait-for-SIPI; after kexec the CPU runs the crash kernel.
 */
import { and } from 'xstate';
import type { CpuContext, CpuInput } from './physical-cpu/types.js';
import { MS } from './physical-cpu/dsl.js';
import { action, blocked, call, cpuImplementations, cpuSetup, decide, guard, op, sleep, wait, type CpuState, type CpuTransition } from './physical-cpu/setup.js';
import { disableVirt, hardwareDisable } from './physical-cpu/flows-virt.js';
import { crashNmiCallback, neverReturns, smpStopNmiCallback, stopThisCpu } from './physical-cpu/flows-stop.js';
import { die, emergencyRestart, kdump, panic, reboot } from './physical-cpu/flows-panic.js';
import { CALL_FUNCTION_VECTOR, REBOOT_VECTOR, RESCHEDULE_VECTOR, SCRIPT_DEVICE_VECTOR, type DeliveryMode, type MessageSource } from '../src/hw/apic.js';

const ctxIs = (context: string) => guard('script context is', { context });
const take = guard('arrival', { kind: 'take' });
const vmexit = guard('arrival', { kind: 'vmexit' });
const sendSelf = (mode: DeliveryMode, extra: { vector?: number; source?: MessageSource } = {}) => action('send', { mode, to: 'self', ...extra });

const taskRegion: CpuState = {
  initial: 'idle',
  states: {
    idle: {
      ...blocked('running its workload (IRQs on)', {
        'script.reboot': { target: 'reboot' },
        'script.emergency-restart': { guard: ctxIs('task'), target: 'emergencyRestart' },
        'script.panic': { guard: ctxIs('task'), target: 'panic', actions: { type: 'set panic message', params: { r: 'task' } } },
        'script.irqs-off': { target: 'irqsOff', actions: 'cli' },
        // A CPU that starts with IF clear (`initial … if: false`) runs its workload with IRQs off until
        // this (an interrupted context restores IF on IRET, so only the start leaves it clear here).
        'script.irqs-on': { guard: 'task runs with IRQs off', actions: 'sti' },
        // A thread of the workload (a vCPU's ioctl) oopsed with panic_on_oops: the rest of oops_end()
        // (kexec_should_crash() is true, then panic("Fatal exception")) runs here, in its task context.
        'kvm.oops': { guard: 'panic_on_oops', target: 'die.crashKexec' },
      }),
      // The reboot task another CPU's migrate_to_reboot_cpu() queued here: schedule() runs it next
      // (after the reschedule IPI's IRET, if the IRQ is still on top).
      always: { guard: 'reboot task queued', target: 'reboot.syscoreOps', actions: 'run queued reboot task' },
    },
    irqsOff: blocked('local_irq_disable(); for (;;) cpu_relax();', {
      'script.irqs-on': { target: 'idle', actions: 'sti' },
      'script.emergency-restart': { guard: ctxIs('task'), target: 'emergencyRestart' },
      'script.panic': { guard: ctxIs('task'), target: 'panic', actions: { type: 'set panic message', params: { r: 'task' } } },
    }),
    reboot: reboot(),
    emergencyRestart: emergencyRestart('task'),
    panic: panic('task'),
    kdump: kdump('task'),
    die: die('task'),
  },
};

const irqRegion: CpuState = {
  initial: 'idle',
  on: { 'bus.ipi': { actions: 'hold or drop' } },
  states: {
    idle: {
      tags: ['blocked'],
      description: 'no interrupt being handled',
      on: {
        'bus.ipi': [
          { guard: take, target: 'dispatch', actions: 'take IRQ' },
          { guard: vmexit, target: 'dispatch', actions: 'VM exit, take IRQ' },
        ],
      },
      always: { guard: 'pending IRQ deliverable', target: 'dispatch', actions: 'take pending IRQ' },
    },
    dispatch: decide(
      'irq',
      [
        { if: { type: 'IRQ vector is', params: { vector: REBOOT_VECTOR } }, to: 'rebootVector' },
        { if: { type: 'IRQ vector is', params: { vector: CALL_FUNCTION_VECTOR } }, to: 'callFunction' },
        // scheduler_ipi(): schedule() on the way out runs what is on this CPU's runqueue — the reboot
        // task another CPU's migrate_to_reboot_cpu() moved here, if it is here; a KVM kick
        // (kvm_vcpu_kick) only returns.
        {
          if: and([{ type: 'IRQ vector is', params: { vector: RESCHEDULE_VECTOR } }, 'reboot task on this runqueue']),
          to: 'iret',
          do: 'take reboot task',
        },
        {
          if: { type: 'IRQ action is', params: { action: 'panic' } },
          to: 'panic',
          do: { type: 'set panic message', params: { r: 'irq' } },
        },
        { if: { type: 'IRQ action is', params: { action: 'emergency-restart' } }, to: 'emergencyRestart' },
        { to: 'iret' },
      ],
      'common_interrupt / sysvec_*: dispatch by vector',
    ),
    rebootVector: {
      initial: 'ack',
      description: 'sysvec_reboot()',
      states: {
        ack: op('irq', 'virt', [], 'ack_APIC_irq()'),
        virt: call(disableVirt('irq', 'stop'), 'stop'),
        stop: stopThisCpu('irq'),
      },
    },
    callFunction: call(hardwareDisable('irq'), 'complete'),
    complete: op('irq', 'iret', 'complete call function', 'csd_unlock()'),
    iret: op('irq', 'idle', 'IRET', 'IRET'),
    panic: panic('irq'),
    emergencyRestart: emergencyRestart('irq'),
    kdump: kdump('irq'),
    die: die('irq'),
  },
};

const nmiRegion: CpuState = {
  initial: 'idle',
  // Outside `idle` a handler runs; NMIs are blocked unless an eaten fault's IRET unblocked them
  // (docs/model.md §3.4). Then an NMI, or the one latched before, is a nested NMI: taken and
  // returned from at once by the entry code, the handler left where it was (a HLT is left).
  on: { 'bus.nmi': [{ guard: take, actions: 'take nested NMI' }, { actions: 'hold or drop' }] },
  always: { guard: 'latched NMI deliverable', actions: 'take nested NMI' },
  states: {
    idle: {
      tags: ['blocked'],
      description: 'no NMI being handled',
      on: {
        'bus.nmi': [
          { guard: take, target: 'dispatch', actions: 'take NMI' },
          { guard: vmexit, target: 'dispatch', actions: 'VM exit, take NMI' },
        ],
      },
      always: { guard: 'latched NMI deliverable', target: 'dispatch', actions: 'take latched NMI' },
    },
    dispatch: decide(
      'nmi',
      [{ if: 'emergency NMI handler set', to: 'emergencyHandler' }, { to: 'crashCheck' }],
      'nmi_handle(NMI_LOCAL): desc->emerg_handler (E5+) first and alone',
    ),
    emergencyHandler: call(crashNmiCallback('nmi'), 'iret'),
    // Both register with NMI_FLAG_FIRST, which list_add_rcu()s at the head: the later one runs first.
    crashCheck: decide(
      'nmi',
      [
        { if: { type: 'NMI handler ahead of', params: { name: 'smp_stop', other: 'crash' } }, to: 'stopFirstHandler' },
        { if: { type: 'NMI handler registered', params: { name: 'crash' } }, to: 'crashHandler' },
        { to: 'stopCheck' },
      ],
      'list_for_each_entry_rcu(a, &desc->head): "crash"',
    ),
    crashHandler: call(crashNmiCallback('nmi'), 'stopCheck'),
    stopFirstHandler: call(smpStopNmiCallback('nmi'), 'crashAfterStop'),
    crashAfterStop: call(crashNmiCallback('nmi'), 'watchdogCheck'),
    stopCheck: decide('nmi', [{ if: { type: 'NMI handler registered', params: { name: 'smp_stop' } }, to: 'stopHandler' }, { to: 'watchdogCheck' }], '"smp_stop"'),
    stopHandler: call(smpStopNmiCallback('nmi'), 'watchdogCheck'),
    watchdogCheck: decide(
      'nmi',
      [
        {
          if: { type: 'NMI came from', params: { source: 'watchdog' } },
          to: 'watchdogAction',
          do: 'NMI handled',
        },
        { if: 'NMI handled', to: 'iret' },
        { to: 'unknown' },
      ],
      'perf NMI handler: watchdog overflow?',
    ),
    watchdogAction: decide(
      'nmi',
      [
        { if: { type: 'NMI action is', params: { action: 'emergency-restart' } }, to: 'emergencyRestart', do: 'disarm NMI action' },
        { if: { type: 'NMI action is', params: { action: 'panic' } }, to: 'nmiPanic', do: 'disarm NMI action' },
        { to: 'iret' },
      ],
      'watchdog_overflow_callback(): hard lockup → nmi_panic()',
    ),
    nmiPanic: {
      initial: 'claim',
      description: 'nmi_panic()',
      states: {
        claim: decide(
          'nmi',
          [
            { if: 'panic_cpu free', to: '#cpu.os.nmi.panic', do: ['claim panic_cpu', { type: 'set panic message', params: { r: 'nmi' } }] },
            { if: 'panic_cpu is me', to: 'done' },
            { to: 'selfStop' },
          ],
          'atomic_cmpxchg(&panic_cpu, PANIC_CPU_INVALID, cpu)',
        ),
        selfStop: neverReturns(wait('nmi', {
          until: 'crash_ipi_issued set',
          to: 'crashCallback',
          watch: ['crash_ipi_issued'],
          description: 'nmi_panic_self_stop(): for (;;) { run_crash_ipi_callback(regs); cpu_relax(); }',
        })),
        crashCallback: call(crashNmiCallback('nmi'), 'spin'),
        spin: neverReturns(blocked('nmi_panic_self_stop() loop after run_crash_ipi_callback() returned')),
        done: { type: 'final' },
      },
      onDone: 'iret',
    },
    unknown: op('nmi', 'iret', 'print unknown NMI', 'unknown_nmi_error()'),
    iret: op('nmi', 'idle', 'IRET', 'IRET (NMIs unblocked)'),
    panic: panic('nmi'),
    emergencyRestart: emergencyRestart('nmi'),
    kdump: kdump('nmi'),
    die: die('nmi'),
  },
};

const smmRegion: CpuState = {
  initial: 'idle',
  on: { 'bus.smi': { actions: 'hold or drop' } },
  states: {
    idle: {
      tags: ['blocked'],
      description: 'not in SMM',
      on: {
        'bus.smi': [
          { guard: take, target: 'firmware', actions: 'take SMI' },
          // AMD: KVM's INTERCEPT_SMI — a #VMEXIT, then the SMI at KVM's STGI, in host context.
          { guard: vmexit, target: 'firmware', actions: 'take SMI' },
        ],
      },
      always: { guard: 'latched SMI deliverable', target: 'firmware', actions: 'take SMI' },
    },
    firmware: op('smm', 'rsm', [], 'SMI handler (firmware, in SMRAM)'),
    rsm: op('smm', 'idle', 'RSM', 'RSM'),
  },
};

const scriptedInterrupt: CpuTransition[] = [
  { guard: ctxIs('irq'), actions: ['arm script IRQ', sendSelf('fixed', { vector: SCRIPT_DEVICE_VECTOR, source: 'script' })] },
  { guard: ctxIs('nmi'), actions: ['arm watchdog NMI', sendSelf('nmi', { source: 'watchdog' })] },
];

const crashKernel: CpuState = {
  initial: 'bringUp',
  description: 'the crash kernel boots on this CPU and starts the APs (INIT-SIPI-SIPI)',
  states: {
    bringUp: decide('task', [{ if: 'AP left to bring up', to: 'sendInit' }, { to: 'booted', do: { type: 'kernel event', params: { what: 'crash-kernel-booted' } } }], 'for_each_present_cpu(cpu) do_boot_cpu()'),
    sendInit: op('task', 'initDelay', { type: 'send', params: { mode: 'init', to: 'next-ap' } }, 'wakeup_secondary_cpu_via_init(): INIT assert/deassert'),
    initDelay: sleep('task', 'init-delay', 10 * MS, 'sendSipi', 'mdelay(10)'),
    sendSipi: op('task', 'waitCallin', { type: 'send', params: { mode: 'sipi', vector: 0x9a, to: 'next-ap' } }, 'STARTUP IPI'),
    waitCallin: wait('task', {
      until: 'AP called in',
      to: 'nextAp',
      watch: ['crash_kernel_callin'],
      timer: { name: 'callin', ns: 10_000 * MS },
      onTimeout: { to: 'nextAp', do: 'print AP not responding' },
      description: 'wait up to 10 s for the AP to call in',
    }),
    nextAp: op('task', 'bringUp', 'next AP', 'next CPU'),
    booted: blocked('the crash kernel is up; the dump can be taken'),
  },
};

export const physicalCpuMachine = cpuSetup.createMachine({
  id: 'cpu',
  initial: 'os',
  context: ({ input }: { input: CpuInput }): CpuContext => ({
    id: input.id,
    hw: input.hw,
    ctx: ['task'],
    savedIf: [],
    loadedVmcss: input.loadedVmcss,
    walk: { task: 0, irq: 0, nmi: 0, smm: 0 },
    features: input.features,
    opts: input.opts,
    stalled: false,
    panicMsg: { task: '', irq: '', nmi: '', smm: '' },
    nmiSource: 'kernel',
    nmiHandled: false,
    nmiAction: null,
    nmiActionMsg: '',
    irqAction: null,
    irqActionMsg: '',
    irqVector: 0,
    waitStart: 0,
    nextAp: 0,
    rebootQueued: false,
  }),
  // Outside the old kernel (`os` has its own): wait-for-SIPI, an AP of the crash kernel, the crash
  // kernel's boot CPU. The same arrival rules decide (src/hw/interrupts.ts): a CPU out of VMX root
  // with GIF=1 and not in SMM takes INIT and waits for SIPI, whatever it was running — in
  // wait-for-SIPI an INIT reset again. An NMI the crash kernel takes goes to its NMI handler, where
  // nothing claims it; an SMI runs the firmware's handler and RSM.
  on: {
    'bus.nmi': [{ guard: take, actions: 'crash kernel takes NMI' }, { actions: 'hold or drop' }],
    'bus.ipi': { actions: 'hold or drop' },
    'bus.init': [{ guard: take, target: '.waitForSipi', actions: 'take INIT' }, { actions: 'hold or drop' }],
    'bus.sipi': { actions: 'hold or drop' },
    'bus.smi': [{ guard: take, actions: 'SMI handled by firmware' }, { actions: 'hold or drop' }],
  },
  states: {
    os: {
      type: 'parallel',
      description: 'the kernel runs: one region per execution context',
      on: {
        'bus.init': [
          { guard: take, target: 'waitForSipi', actions: 'take INIT' },
          { guard: vmexit, actions: 'VM exit for INIT' },
          { actions: 'hold or drop' },
        ],
        'kvm.insn': { actions: 'host instruction' },
        'bus.sipi': { actions: 'hold or drop' },
        'platform.reset': { target: 'reset' },
        'script.stall': { actions: 'stall' },
        'script.panic': scriptedInterrupt,
        'script.emergency-restart': scriptedInterrupt,
        'script.nmi-panic': { actions: ['arm watchdog NMI', sendSelf('nmi', { source: 'watchdog' })] },
        'script.smi': { actions: sendSelf('smi', { source: 'script' }) },
      },
      always: { guard: 'pending INIT deliverable', target: 'waitForSipi', actions: 'take INIT' },
      states: { task: taskRegion, irq: irqRegion, nmi: nmiRegion, smm: smmRegion },
    },
    waitForSipi: {
      tags: ['blocked'],
      description: 'wait-for-SIPI after INIT: only a SIPI starts it',
      on: { 'bus.sipi': { target: 'apBoot', actions: 'take SIPI' }, 'platform.reset': { target: 'reset' } },
    },
    apBoot: op('task', 'apRunning', 'crash kernel callin', 'start_secondary() → cpu_callin'),
    apRunning: { tags: ['blocked'], description: 'an AP of the crash kernel', on: { 'platform.reset': { target: 'reset' } } },
    crashKernel,
    reset: { type: 'final', description: 'the platform reset the machine' },
  },
});

export type PhysicalCpuMachine = typeof physicalCpuMachine;

export { cpuImplementations };
