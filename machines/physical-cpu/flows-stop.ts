/**
 * Stopping the other CPUs: nmi_shootdown_cpus() and its responder crash_nmi_callback() (docs/model.md §1.3, §1.4),
 * native_stop_other_cpus() with its REBOOT_VECTOR and NMI handlers (§1.5), stop_this_cpu().
 */
import { and } from 'xstate';
import type { Region } from './types.js';
import { blocked, call, decide, done, feature, op, route, stepOf, wait, type CpuState } from './setup.js';
import { MS } from './dsl.js';
import { dieTarget, disableVirt } from './flows-virt.js';
import { REBOOT_VECTOR } from '../../src/hw/apic.js';


/**
 * nmi_shootdown_cpus(callback), initiator side, in whatever context the caller runs.
 * `site` picks the callback: kdump_nmi_callback, or the restart path's vmxoff_nmi (NULL from E2).
 */
export function shootdown(r: Region, site: 'restart' | 'kdump'): CpuState {
  return {
    initial: 'irqOff',
    description: `nmi_shootdown_cpus(${site === 'kdump' ? 'kdump_nmi_callback' : 'vmxoff_nmi / NULL'})`,
    states: {
      irqOff: op(r, 'onceRoute', 'cli', 'local_irq_disable()'),
      onceRoute: route([{ if: feature('shootdown-only-once'), to: 'checkIssued' }, { to: 'setCrashingCpu' }]),
      checkIssued: decide(
        r,
        [
          {
            if: 'crash_ipi_issued set',
            to: 'done',
            do: [
              { type: 'print shootdown WARN', params: { where: 'arch/x86/kernel/reboot.c nmi_shootdown_cpus' } },
              { type: 'kernel event', params: { what: 'shootdown-refused' } },
            ],
          },
          { to: 'setCrashingCpu' },
        ],
        'if (WARN_ON_ONCE(crash_ipi_issued)) return',
      ),
      setCrashingCpu: op(r, 'setCallback', 'set crashing_cpu', 'crashing_cpu = safe_smp_processor_id()'),
      setCallback: op(r, 'setCounter', { type: 'set shootdown_callback', params: { site } }, 'shootdown_callback = callback'),
      setCounter: op(r, 'register', 'set waiting_for_crash_ipi', 'atomic_set(&waiting_for_crash_ipi, num_online_cpus() - 1)'),
      register: decide(
        r,
        [
          { if: feature('emergency-nmi-handler-slot'), to: 'sendNmi', do: 'set emergency NMI handler' },
          {
            if: and(['crash handler on the list', feature('register-nmi-handler-refuses-double')]),
            to: 'done',
            do: [
              { type: 'print shootdown WARN', params: { where: 'arch/x86/kernel/nmi.c __register_nmi_handler' } },
              { type: 'kernel event', params: { what: 'shootdown-refused' } },
            ],
          },
          // E0/E1 with CONFIG_DEBUG_LIST (+ BUG_ON_DATA_CORRUPTION): __list_add_valid() BUGs on
          // `new == prev || new == next`. NMI_FLAG_FIRST adds at the head (prev = &desc->head, next =
          // the first entry), so only crash_na at the head is caught, with new == next; behind smp_stop
          // the add goes through and corrupts the list (the last branch), as without list debugging.
          {
            if: and(['crash handler first on the list', 'debug list']),
            to: dieTarget(r),
            do: [
              { type: 'print', params: { text: 'list_add double add: new=ffffffff82a4b6a0, prev=ffffffff82613d40, next=ffffffff82a4b6a0.' } },
              { type: 'print', params: { text: 'kernel BUG at lib/list_debug.c:29!' } },
              { type: 'kernel event', params: { what: 'list-corruption-bug' } },
            ],
          },
          { to: 'sendNmi', do: { type: 'register NMI handler', params: { name: 'crash' } } },
        ],
        'register_nmi_handler(NMI_LOCAL, crash_nmi_callback, NMI_FLAG_FIRST, "crash")',
      ),
      sendNmi: op(
        r,
        'setIssued',
        [{ type: 'send', params: { mode: 'nmi', to: 'all-but-self' } }, { type: 'kernel event', params: { what: 'shootdown-sent' } }],
        'apic_send_IPI_allbutself(NMI_VECTOR)',
      ),
      setIssued: op(r, 'waitAcks', 'set crash_ipi_issued', 'WRITE_ONCE(crash_ipi_issued, 1)'),
      waitAcks: wait(r, {
        until: 'all crash IPIs acked',
        to: 'done',
        watch: ['waiting_for_crash_ipi'],
        do: { type: 'kernel event', params: { what: 'shootdown-acked' } },
        timer: { name: 'crash-ipi-wait', ns: 1000 * MS },
        onTimeout: { to: 'done', do: { type: 'kernel event', params: { what: 'shootdown-timeout' } } },
        description: 'while (atomic_read(&waiting_for_crash_ipi) > 0 && msecs--) mdelay(1)  (1000 ms)',
      }),
      done,
    },
  };
}

/** crash_nmi_callback(): the responder never returns unless it is the crashing CPU itself. */
export function crashNmiCallback(r: Region): CpuState {
  return {
    initial: 'checkCrashingCpu',
    description: 'crash_nmi_callback()',
    states: {
      checkCrashingCpu: decide(r, [{ if: 'I am crashing_cpu', to: 'done', do: 'NMI handled' }, { to: 'irqOff' }], 'if (cpu == crashing_cpu) return NMI_HANDLED'),
      irqOff: op(r, 'callback', 'cli', 'local_irq_disable()'),
      callback: decide(
        r,
        [
          { if: { type: 'shootdown callback is', params: { callback: 'kdump_nmi_callback' } }, to: 'kdumpCallback' },
          { if: { type: 'shootdown callback is', params: { callback: 'vmxoff_nmi' } }, to: 'vmxoffNmi' },
          { to: 'coreDisable' },
        ],
        'shootdown_callback(cpu, regs)  (E2+: if non-NULL)',
      ),
      kdumpCallback: {
        initial: 'saveRegs',
        description: 'kdump_nmi_callback()',
        states: {
          saveRegs: op(r, 'virt', [], 'crash_save_cpu(regs, cpu)'),
          virt: call(disableVirt(r, 'kdump-callback'), 'apicOff'),
          apicOff: op(r, 'done', 'disable local APIC', 'disable_local_APIC()'),
          done,
        },
        onDone: 'coreDisable',
      },
      vmxoffNmi: call(disableVirt(r, 'vmxoff-nmi'), 'coreDisable'),
      coreDisable: call(disableVirt(r, 'crash-core'), 'ack'),
      ack: op(r, 'halt', 'ack crash IPI', 'atomic_dec(&waiting_for_crash_ipi)'),
      // arch/x86/kernel/reboot.c, v5.10 to mainline: "/* Assume hlt works */ halt(); for (;;)
      // cpu_relax();" — one HLT, then a spin (the smp_ops.stop_this_cpu hook of 2024 before it is NULL
      // on bare metal). Woken from the HLT (an SMI: the model's RSM returns after the HLT, §3.5), the CPU
      // spins with NMIs still blocked and never halts again; stop_this_cpu()'s loop halts again.
      halt: op(r, 'halted', 'hlt', 'halt();  /* Assume hlt works */'),
      halted: {
        tags: ['wait', 'stopped'],
        meta: { watch: [] },
        description: 'halted in halt(); woken, it goes on to the for (;;) cpu_relax() below — never returns from the NMI',
        on: { [stepOf(r)]: { guard: 'not halted', target: 'spinning' } },
      },
      spinning: neverReturns(blocked('for (;;) cpu_relax();  — IRQs off, NMIs blocked: never returns from the NMI')),
      done,
    },
  };
}

/**
 * A loop that never returns, tagged `stopped`: in an interrupt or NMI context, the task it
 * interrupted never runs again (Simulation.runScript ignores a task-context script step there).
 */
export function neverReturns(state: CpuState): CpuState {
  return { ...state, tags: [...((state.tags as string[] | undefined) ?? []), 'stopped'] };
}

/**
 * for (;;) native_halt(); — woken by an NMI, an interrupt or an SMI, it halts again after the IRET or
 * RSM. Tagged `stopped`: the context below (the interrupted task) never runs again, so a task-context
 * script step there is ignored (Simulation.runScript).
 */
function haltLoop(r: Region, description: string): CpuState {
  return {
    tags: ['wait', 'stopped'],
    meta: { watch: [] },
    description,
    on: { [stepOf(r)]: { guard: 'not halted', actions: ['hlt'] } },
  };
}

/** stop_this_cpu(): never returns; halts with whatever NMI blocking the context it runs in has. */
export function stopThisCpu(r: Region): CpuState {
  return {
    initial: 'irqOff',
    description: 'stop_this_cpu()',
    states: {
      irqOff: op(r, 'offline', 'cli', 'local_irq_disable()'),
      offline: op(r, 'apicOff', 'set cpu offline', 'set_cpu_online(smp_processor_id(), false)'),
      apicOff: op(r, 'maskRoute', 'disable local APIC', 'disable_local_APIC(); mcheck_cpu_clear()'),
      maskRoute: route([{ if: feature('stop-cpus-mask'), to: 'clearMask' }, { to: 'halted' }]),
      clearMask: op(r, 'halted', 'clear own cpus_stop_mask bit', 'cpumask_clear_cpu(cpu, &cpus_stop_mask)'),
      halted: haltLoop(r, 'for (;;) native_halt()'),
    },
  };
}

/** native_stop_other_cpus(wait): REBOOT_VECTOR, up to 1 s; then NMIs, 10 ms or forever if `wait`. */
export function stopOtherCpus(r: Region, waitForever: boolean): CpuState {
  return {
    initial: 'checkForce',
    description: `native_stop_other_cpus(wait=${waitForever ? 1 : 0})`,
    states: {
      checkForce: decide(r, [{ if: 'reboot_force set', to: 'done' }, { to: 'checkWork' }], 'if (reboot_force) return'),
      checkWork: decide(r, [{ if: 'stop has work', to: 'claim' }, { to: 'finish' }], 'if (num_online_cpus() > 1)  (E2b: always)'),
      claim: decide(
        r,
        [{ if: 'stopping_cpu free', to: 'maskRoute', do: 'claim stopping_cpu' }, { to: 'done' }],
        'if (atomic_cmpxchg(&stopping_cpu, -1, this_cpu) != -1) return',
      ),
      maskRoute: route([{ if: feature('stop-cpus-mask'), to: 'fillMask' }, { to: 'sendReboot' }]),
      fillMask: op(r, 'anyTargets', 'fill cpus_stop_mask', 'cpumask_copy(&cpus_stop_mask, cpu_online_mask); clear self'),
      anyTargets: decide(r, [{ if: 'stop targets remain', to: 'sendReboot' }, { to: 'finish' }], 'if (!cpumask_empty(&cpus_stop_mask))'),
      sendReboot: op(
        r,
        'waitReboot',
        [{ type: 'send', params: { mode: 'fixed', vector: REBOOT_VECTOR, to: 'all-but-self' } }, { type: 'kernel event', params: { what: 'stop-reboot-vector' } }],
        'apic_send_IPI_allbutself(REBOOT_VECTOR)',
      ),
      waitReboot: wait(r, {
        until: 'no stop targets remain',
        to: 'finish',
        watch: ['cpu_online_mask', 'cpus_stop_mask'],
        timer: { name: 'reboot-vector-wait', ns: 1000 * MS },
        onTimeout: { to: 'phase2' },
        description: 'while (num_online_cpus() > 1 && timeout--) udelay(1)  (1 s)',
      }),
      phase2: decide(r, [{ if: 'stop targets remain', to: 'registerNmi' }, { to: 'finish' }], 'if (num_online_cpus() > 1)'),
      registerNmi: op(
        r,
        'sendNmi',
        [{ type: 'register NMI handler', params: { name: 'smp_stop' } }, { type: 'print', params: { text: 'Shutting down cpus with NMI' } }],
        'register_stop_handler(); pr_emerg("Shutting down cpus with NMI")',
      ),
      sendNmi: route([{ if: feature('stop-cpus-mask'), to: 'sendNmiMask' }, { to: 'sendNmiAll' }]),
      sendNmiAll: op(
        r,
        'waitNmi',
        [{ type: 'send', params: { mode: 'nmi', to: 'all-but-self' } }, { type: 'kernel event', params: { what: 'stop-nmi' } }],
        'apic_send_IPI_allbutself(NMI_VECTOR)',
      ),
      sendNmiMask: op(
        r,
        'waitNmi',
        [{ type: 'send', params: { mode: 'nmi', to: 'stop-mask' } }, { type: 'kernel event', params: { what: 'stop-nmi' } }],
        'for_each_cpu(cpu, &cpus_stop_mask) apic->send_IPI(cpu, NMI_VECTOR)',
      ),
      waitNmi: waitForever
        ? wait(r, {
            until: 'no stop targets remain',
            to: 'finish',
            watch: ['cpu_online_mask', 'cpus_stop_mask'],
            description: 'while (num_online_cpus() > 1 && wait) udelay(1)  (forever)',
          })
        : wait(r, {
            until: 'no stop targets remain',
            to: 'finish',
            watch: ['cpu_online_mask', 'cpus_stop_mask'],
            timer: { name: 'stop-nmi-wait', ns: 10 * MS },
            onTimeout: { to: 'finish' },
            description: 'while (num_online_cpus() > 1 && timeout--) udelay(1)  (10 ms)',
          }),
      finish: op(r, 'clearRoute', 'disable local APIC', 'disable_local_APIC(); mcheck_cpu_clear()'),
      clearRoute: route([{ if: feature('stop-cpus-mask'), to: 'clearMask' }, { to: 'done' }]),
      clearMask: op(r, 'done', 'clear cpus_stop_mask', 'cpumask_clear(&cpus_stop_mask)'),
      done,
    },
  };
}

/** smp_stop_nmi_callback(): the stopping CPU itself returns; every other CPU stops here. */
export function smpStopNmiCallback(r: Region): CpuState {
  return {
    initial: 'check',
    description: 'smp_stop_nmi_callback()',
    states: {
      check: decide(r, [{ if: 'I am stopping_cpu', to: 'done', do: 'NMI handled' }, { to: 'virt' }], 'if (raw_smp_processor_id() == atomic_read(&stopping_cpu)) return NMI_HANDLED'),
      virt: call(disableVirt(r, 'stop'), 'stop'),
      stop: stopThisCpu(r),
      done,
    },
  };
}
