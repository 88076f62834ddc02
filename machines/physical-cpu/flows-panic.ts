/**
 * The flows that end a kernel: panic() (docs/model.md §1.6), kdump's crash shutdown and kexec (§1.7), emergency
 * restart (§1.2), reboot(2) (§1.1) and die() after an oops or BUG. Each runs in the context it was
 * entered from, so each region of the chart has its own copy.
 */
import { and } from 'xstate';
import { fatalMessage, type Region } from './types.js';
import { blocked, call, decide, feature, op, route, sleep, wait, type CpuState } from './setup.js';
import { disableVirt, hardwareDisable } from './flows-virt.js';
import { neverReturns, shootdown, stopOtherCpus } from './flows-stop.js';
import { CALL_FUNCTION_VECTOR, RESCHEDULE_VECTOR } from '../../src/hw/apic.js';

const at = (r: Region, path: string) => `#cpu.os.${r}.${path}`;

/** panic(): never returns. */
export function panic(r: Region): CpuState {
  return {
    initial: 'irqOff',
    description: 'panic()',
    states: {
      irqOff: op(r, 'claim', 'cli', 'local_irq_disable(); preempt_disable_notrace()'),
      claim: decide(
        r,
        [
          { if: 'panic_cpu free', to: 'header', do: 'claim panic_cpu' },
          { if: 'panic_cpu is me', to: 'header' },
          { to: 'selfStop' },
        ],
        'atomic_cmpxchg(&panic_cpu, PANIC_CPU_INVALID, this_cpu)',
      ),
      selfStop: neverReturns(blocked('panic_smp_self_stop(): for (;;) cpu_relax();  (IRQs off, NMIs still taken)')),
      header: op(r, 'kexecCheck', { type: 'print panic header', params: { r } }, 'pr_emerg("Kernel panic - not syncing: %s")'),
      kexecCheck: decide(
        r,
        [
          { if: 'crash_kexec_post_notifiers', to: 'crashStop' },
          { if: 'crash kernel loaded and kexec lock free', to: at(r, 'kdump'), do: 'take kexec lock' },
          { to: 'smpSendStop' },
        ],
        'if (!crash_kexec_post_notifiers) __crash_kexec(NULL)',
      ),
      smpSendStop: call(stopOtherCpus(r, false), 'notifiers'),
      crashStop: decide(r, [{ if: 'cpus_stopped set', to: 'notifiers' }, { to: 'crashShootdown', do: 'set cpus_stopped' }], 'crash_smp_send_stop(): once only'),
      crashShootdown: call(shootdown(r, 'kdump'), 'crashApicOff'),
      crashApicOff: op(r, 'notifiers', 'disable local APIC', 'disable_local_APIC()'),
      notifiers: op(r, 'postKexec', [], 'atomic_notifier_call_chain(&panic_notifier_list); kmsg_dump(KMSG_DUMP_PANIC)'),
      postKexec: decide(
        r,
        [
          { if: and(['crash_kexec_post_notifiers', 'crash kernel loaded and kexec lock free']), to: at(r, 'kdump'), do: 'take kexec lock' },
          { to: 'flush' },
        ],
        'if (crash_kexec_post_notifiers) __crash_kexec(NULL)',
      ),
      flush: op(r, 'timeout', [], 'console_flush_on_panic()'),
      timeout: decide(
        r,
        [
          { if: 'panic_timeout positive', to: 'rebootDelay', do: 'print rebooting in' },
          { if: 'panic_timeout negative', to: at(r, 'emergencyRestart') },
          { to: 'end' },
        ],
        'if (panic_timeout > 0) … if (panic_timeout != 0) emergency_restart()',
      ),
      rebootDelay: sleep(r, 'panic-timeout', 'panic_timeout', at(r, 'emergencyRestart'), 'mdelay(PANIC_TIMER_STEP) × panic_timeout·10'),
      end: op(r, 'spin', [{ type: 'print panic end', params: { r } }, 'sti'], 'pr_emerg("---[ end Kernel panic …"); local_irq_enable()'),
      spin: neverReturns(blocked('for (;;) mdelay(PANIC_TIMER_STEP)  (IRQs on)')),
    },
  };
}

/** __crash_kexec() with an image loaded: machine_crash_shutdown() then machine_kexec(); no return. */
export function kdump(r: Region): CpuState {
  return {
    initial: 'saveRegs',
    description: '__crash_kexec() → native_machine_crash_shutdown() → machine_kexec()',
    states: {
      saveRegs: op(r, 'irqOff', [{ type: 'kernel event', params: { what: 'kdump-start' } }], 'crash_setup_regs(); crash_save_vmcoreinfo()'),
      irqOff: op(r, 'stop', 'cli', 'local_irq_disable()'),
      stop: decide(r, [{ if: 'cpus_stopped set', to: 'selfVirt' }, { to: 'shoot', do: 'set cpus_stopped' }], 'crash_smp_send_stop(): once only'),
      shoot: call(shootdown(r, 'kdump'), 'apicOff'),
      apicOff: op(r, 'selfVirt', 'disable local APIC', 'disable_local_APIC()'),
      selfVirt: call(disableVirt(r, 'kdump-self'), 'hwShutdown'),
      hwShutdown: op(r, 'kexec', [], 'intel_pt_crash_stop(); clear_IO_APIC(); lapic_shutdown(); hpet_disable()'),
      kexec: op(r, '#cpu.crashKernel', 'kexec', 'machine_kexec(image)'),
    },
  };
}

/** emergency_restart() → native_machine_emergency_restart(); no return. */
export function emergencyRestart(r: Region): CpuState {
  return {
    initial: 'kmsgDump',
    description: 'emergency_restart()',
    states: {
      kmsgDump: op(r, 'setEmergency', [], 'kmsg_dump(KMSG_DUMP_EMERG)'),
      setEmergency: op(r, 'irqOff', { type: 'set reboot_emergency', params: { value: 1 } }, 'reboot_emergency = 1'),
      irqOff: op(r, 'gate', 'cli', 'local_irq_disable()'),
      gate: decide(
        r,
        [{ if: 'emergency restart disables virt', to: 'selfVirt' }, { to: 'reset' }],
        'emergency_reboot_disable_virtualization(): if (VMX/SVM supported / callback registered)',
      ),
      selfVirt: call(disableVirt(r, 'emergency-self'), 'shootRoute'),
      shootRoute: route([{ if: feature('shootdown-only-once'), to: 'onRestart' }, { to: 'shoot' }]),
      onRestart: decide(r, [{ if: 'restart shootdown skipped', to: 'reset' }, { to: 'shoot' }], 'nmi_shootdown_cpus_on_restart(): if (!crash_ipi_issued)'),
      shoot: call(shootdown(r, 'restart'), 'reset'),
      reset: op(r, 'resetTry', [], 'tboot_shutdown(); *((u16 *)0x472) = reboot_mode'),
      resetTry: op(r, 'resetting', ['triple fault if BOOT_TRIPLE', 'platform reset'], 'for (;;) { switch (reboot_type) { case BOOT_ACPI: acpi_reboot(); … } }'),
      resetting: neverReturns(blocked('the reset method loop; the platform resets the machine')),
    },
  };
}

/**
 * die(): oops_begin/oops_end (arch/x86/kernel/dumpstack.c). In interrupt context the kernel panics
 * ("Fatal exception in interrupt"); in task context it panics ("Fatal exception") with panic_on_oops,
 * else the task is killed. An oops inside the panic() an earlier oops of this context started is the
 * start of a loop (docs/model.md §1.6): the panic() it calls would run the path that just oopsed again,
 * nesting deeper each time.
 */
export function die(r: Region): CpuState {
  const message = fatalMessage(r);
  const branches: Parameters<typeof decide>[1] = [
    {
      if: { type: 'oops inside a panic from an oops', params: { r } },
      to: 'recursion',
      do: { type: 'kernel event', params: { what: 'panic-recursion' } },
    },
  ];
  const fatal = { to: at(r, 'panic'), do: { type: 'set fatal exception message', params: { r } } } as const;
  if (r === 'task') branches.push({ ...fatal, if: 'panic_on_oops' }, { to: '#cpu.os.task.idle', do: 'task dies' });
  else branches.push(fatal);
  const end: CpuState = decide(
    r,
    branches,
    r === 'task' ? `if (panic_on_oops) panic("${message}"); make_task_dead(SIGSEGV)` : `panic("${message}")`,
  );
  const recursion: Record<string, CpuState> = {
    recursion: neverReturns(
      blocked(
        `panic("${message}") again: panic_cpu is this CPU, so panic() runs on, down the path that ` +
          'just oopsed, to the same oops — a loop that nests deeper each time until the stack overflows (not modelled); ' +
          'the machine is not reset',
      ),
    ),
  };
  return {
    initial: 'header',
    description: 'die() → oops_end()',
    states: {
      ...recursion,
      header: op(r, 'crashKexec', 'print oops', '__die(): "invalid opcode: 0000 [#1] SMP"'),
      crashKexec: decide(
        r,
        [
          {
            if: and([{ type: 'oops should kexec', params: { r } }, 'panic_cpu free', 'crash kernel loaded and kexec lock free']),
            to: at(r, 'kdump'),
            do: ['claim panic_cpu', 'take kexec lock'],
          },
          { to: 'end' },
        ],
        'if (kexec_should_crash(current)) crash_kexec(regs)',
      ),
      end,
    },
  };
}

/** reboot(2) LINUX_REBOOT_CMD_RESTART: kernel_restart(NULL), the orderly path `reboot -f` takes. */
export function reboot(): CpuState {
  const r: Region = 'task';
  return {
    initial: 'mutex',
    description: 'reboot(2) → kernel_restart(NULL)',
    states: {
      // SYSCALL_DEFINE4(reboot): mutex_lock(&system_transition_mutex) before kernel_restart(). A
      // second reboot(2) finds it held by the first, whose kernel_restart() never returns: its task
      // sleeps in mutex_lock() for good (after spinning on the owner, at most while the owner is
      // on a CPU), and this CPU goes back to its work — it can still run a migrated reboot task.
      mutex: decide(
        r,
        [
          { if: 'system_transition_mutex free', to: 'notifier', do: 'lock system_transition_mutex' },
          { to: '#cpu.os.task.idle', do: { type: 'kernel event', params: { what: 'reboot-blocked-on-mutex' } } },
        ],
        'mutex_lock(&system_transition_mutex)',
      ),
      // KVM's hook is a reboot notifier in kernel_restart_prepare() until v6.4, then a syscore op
      // (kvm_shutdown(), 6735150b6997): after migrate_to_reboot_cpu(), on the CPU the reboot runs on.
      notifier: decide(
        r,
        [
          { if: feature('kvm-shutdown-syscore'), to: 'systemRestart' },
          { if: 'kvm loaded', to: 'kvmRebooting', do: { type: 'print', params: { text: 'kvm: exiting hardware virtualization' } } },
          { to: 'systemRestart' },
        ],
        'kernel_restart_prepare(): blocking_notifier_call_chain(&reboot_notifier_list) — kvm_reboot() until v6.4',
      ),
      kvmRebooting: op(r, 'onEachCpu', 'set kvm_rebooting', 'kvm_rebooting = true  (E6: kvm_arch_shutdown(): virt_rebooting = true)'),
      // on_each_cpu(hardware_disable_nolock, NULL, 1), kernel/smp.c. Until v5.13 it is
      // smp_call_function(func, info, 1) — send the IPIs and wait for every other CPU — and only
      // then local_irq_save(); func(info); local_irq_restore(). From v5.13 (a5aa5ce30059, with
      // a32a4d8a815c) it is smp_call_function_many_cond(SCF_WAIT | SCF_RUN_LOCAL): send, run func
      // here with IRQs off, then csd_lock_wait() for the others. With a CPU that never takes the
      // IPI, the old order hangs with this CPU still in VMX root; the new one after its own disable.
      onEachCpu: op(
        r,
        'localFirst',
        ['start call function', { type: 'send', params: { mode: 'fixed', vector: CALL_FUNCTION_VECTOR, to: 'all-but-self' } }],
        'on_each_cpu(hardware_disable_nolock, NULL, 1): IPI the others',
      ),
      localFirst: route([{ if: feature('on-each-cpu-local-before-wait'), to: 'selfIrqOff' }, { to: 'waitOthers' }]),
      selfIrqOff: op(r, 'selfDisable', 'cli', 'local_irq_save()'),
      selfDisable: call(hardwareDisable(r), 'afterSelf', 'sti'),
      afterSelf: route([{ if: feature('on-each-cpu-local-before-wait'), to: 'waitOthers' }, { to: 'afterKvm' }]),
      waitOthers: wait(r, {
        until: 'call function done',
        to: 'afterWait',
        watch: ['call_function_pending'],
        description: 'csd_lock_wait() for every other CPU',
      }),
      afterWait: route([{ if: feature('on-each-cpu-local-before-wait'), to: 'afterKvm' }, { to: 'selfIrqOff' }]),
      afterKvm: route([{ if: feature('kvm-shutdown-syscore'), to: 'machineShutdown' }, { to: 'systemRestart' }]),
      systemRestart: op(r, 'syscore', [], 'system_state = SYSTEM_RESTART; usermodehelper_disable(); device_shutdown()'),
      syscore: decide(r, [{ if: 'reboot task stays here', to: 'syscoreOps' }, { to: 'migrate' }], 'migrate_to_reboot_cpu(); syscore_shutdown()'),
      syscoreOps: route([{ if: feature('kvm-shutdown-syscore'), to: 'kvmShutdown' }, { to: 'machineShutdown' }]),
      kvmShutdown: decide(
        r,
        [{ if: 'kvm loaded', to: 'kvmRebooting', do: { type: 'print', params: { text: 'kvm: exiting hardware virtualization' } } }, { to: 'machineShutdown' }],
        'syscore_shutdown() → kvm_shutdown() (v6.4+)',
      ),
      // set_cpus_allowed_ptr(current, cpumask_of(reboot_cpu)): the task goes to reboot_cpu's runqueue
      // (a reschedule IPI wakes that CPU), this CPU goes back to its work, and the rest of the
      // reboot runs there once it schedules (physical-cpu.machine.ts: the task region's idle).
      migrate: op(r, '#cpu.os.task.idle', ['migrate reboot task', { type: 'kernel event', params: { what: 'reboot-task-migrated' } }, { type: 'send', params: { mode: 'fixed', vector: RESCHEDULE_VECTOR, to: 'reboot-cpu' } }], 'set_cpus_allowed_ptr(current, cpumask_of(reboot_cpu)): the task moves; syscore_shutdown() runs there'),
      machineShutdown: decide(r, [{ if: 'reboot_force set', to: 'restart' }, { to: 'irqOff' }], 'if (!reboot_force) machine_shutdown()'),
      irqOff: op(r, 'stop', 'cli', 'local_irq_disable()'),
      stop: call(stopOtherCpus(r, true), 'lapicShutdown'),
      lapicShutdown: op(r, 'restart', 'disable local APIC', 'lapic_shutdown(); hpet_disable(); x86_platform.iommu_shutdown()'),
      restart: op(r, at(r, 'emergencyRestart.reset'), { type: 'set reboot_emergency', params: { value: 0 } }, '__machine_emergency_restart(0)'),
    },
  };
}
