/**
 * Shared kernel memory of the host: the globals the reboot, panic and kdump paths read and write
 * (docs/model.md §1.0). Every access from a machine is one atomic step (a plain write, cmpxchg,
 * atomic_dec); the simulator hears of every write so that CPUs waiting on a variable can move and
 * the trace records it. The whole object is a JSON value for snapshots.
 */

/** Names CPUs wait on (`meta.watch` of a waiting state) and the trace names writes by. */
export type WatchedVar =
  | 'waiting_for_crash_ipi'
  | 'crash_ipi_issued'
  | 'cpu_online_mask'
  | 'cpus_stop_mask'
  | 'call_function_pending'
  | 'crash_kernel_callin'
  | 'kvm_rebooting'
  | 'virt_rebooting'
  | 'crashing_cpu'
  | 'shootdown_callback'
  | 'stopping_cpu'
  | 'panic_cpu'
  | 'nmi_handlers'
  | 'kexec_lock'
  | 'cpus_stopped'
  | 'reboot_emergency'
  | 'reboot_task_cpu'
  | 'system_transition_mutex'
  | 'die_counter';

/** How many ranges a cpumask in the trace lists in full; a longer list keeps its ends and the CPU count. */
const CPULIST_RANGES = 16;

/**
 * A cpumask as the trace shows it: the CPUs in it in the kernel's list format (%*pbl, as in
 * /sys/devices/system/cpu/online), in braces: {1-3}, {0,2}, {} for none. A mask of more than
 * CPULIST_RANGES ranges (CPUs stopping in any order on a big machine) shows its first and last
 * ranges and its weight, {0-11,13,…,4090-4095} (3100 CPUs): one line per write stays short, so a
 * trace grows linearly with the machine, not with its square.
 */
export function cpuList(bits: readonly number[]): string {
  const parts: string[] = [];
  let weight = 0;
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] !== 1) continue;
    let j = i;
    while (j + 1 < bits.length && bits[j + 1] === 1) j++;
    parts.push(j > i ? `${i}-${j}` : `${i}`);
    weight += j - i + 1;
    i = j;
  }
  if (parts.length <= CPULIST_RANGES) return `{${parts.join(',')}}`;
  const half = CPULIST_RANGES / 2;
  return `{${[...parts.slice(0, half), '…', ...parts.slice(-half)].join(',')}} (${weight} CPUs)`;
}

export type ShootdownCallback = 'vmxoff_nmi' | 'kdump_nmi_callback' | null;

/** NMI handler names on the NMI_LOCAL list, in list order (NMI_FLAG_FIRST puts one at the head). */
export type NmiHandlerName = 'crash' | 'smp_stop';

export interface KernelMemoryState {
  cpus: number;
  /**
   * kvm_rebooting, KVM's flag (E0–E5); E6 moved it into core x86 as virt_rebooting (a1450a8156c6).
   * One flag: the trace names the write by the era's name (`setRebooting`).
   */
  kvm_rebooting: boolean;
  crash_ipi_issued: 0 | 1;
  crashing_cpu: number;
  shootdown_callback: ShootdownCallback;
  waiting_for_crash_ipi: number;
  /** NMI_LOCAL handler list (E0–E4). */
  nmi_local: NmiHandlerName[];
  /**
   * The list was corrupted by a double list_add: without CONFIG_DEBUG_LIST, or with it when the entry
   * was not first on the list (then `__list_add_valid()` finds nothing wrong).
   */
  nmi_list_corrupt: boolean;
  /** E5+: exclusive emergency handler slot of the NMI descriptor. */
  nmi_emergency: NmiHandlerName | null;
  /** The WARN_ON_ONCE in set_emergency_nmi_handler() has fired (it prints once per boot). */
  nmi_emergency_warned: boolean;
  stopping_cpu: number;
  panic_cpu: number;
  kexec_lock: number;
  cpus_stopped: boolean;
  reboot_emergency: 0 | 1;
  /** cpu_online_mask, as 0/1 per CPU, with its population count kept alongside. */
  online: number[];
  onlineCount: number;
  /** cpus_stop_mask (E2b+). */
  stopMask: number[];
  stopMaskCount: number;
  /** on_each_cpu(): CPUs that have not yet run the function. */
  call_function_pending: number;
  /** After kexec: APs that called in to the crash kernel. */
  crashKernelCallin: number[];
  /** die_counter in dumpstack.c: the [#N] of the oops header. */
  die_counter: number;
  /**
   * The CPU whose runqueue holds the reboot task migrate_to_reboot_cpu() moved there, until that
   * CPU's scheduler takes it (-1: none). Not a kernel variable: the runqueue's entry for the task.
   */
  reboot_task_cpu: number;
  /** reboot(2)'s `mutex_lock(&system_transition_mutex)`: the CPU whose task took it (-1: free). Never unlocked here: the reboot it guards does not return. */
  system_transition_mutex: number;
}

export type WriteListener = (name: WatchedVar, cpu: number, op: string, value: unknown) => void;

const PANIC_CPU_INVALID = -1;

export class KernelMemory {
  state: KernelMemoryState;
  /** Set by the simulator: hears of every write, after it happened. */
  onWrite: WriteListener | null = null;

  constructor(cpus: number, state?: KernelMemoryState) {
    this.state = state ?? {
      cpus,
      kvm_rebooting: false,
      crash_ipi_issued: 0,
      crashing_cpu: -1,
      shootdown_callback: null,
      waiting_for_crash_ipi: 0,
      nmi_local: [],
      nmi_list_corrupt: false,
      nmi_emergency: null,
      nmi_emergency_warned: false,
      stopping_cpu: -1,
      panic_cpu: PANIC_CPU_INVALID,
      kexec_lock: -1,
      cpus_stopped: false,
      reboot_emergency: 0,
      online: new Array<number>(cpus).fill(1),
      onlineCount: cpus,
      stopMask: new Array<number>(cpus).fill(0),
      stopMaskCount: 0,
      call_function_pending: 0,
      crashKernelCallin: new Array<number>(cpus).fill(0),
      die_counter: 0,
      reboot_task_cpu: -1,
      system_transition_mutex: -1,
    };
  }

  private wrote(name: WatchedVar, cpu: number, op: string, value: unknown): void {
    this.onWrite?.(name, cpu, op, value);
  }

  write<K extends 'kvm_rebooting' | 'crash_ipi_issued' | 'crashing_cpu' | 'shootdown_callback' | 'waiting_for_crash_ipi' | 'reboot_emergency' | 'cpus_stopped' | 'call_function_pending'>(
    name: K,
    value: KernelMemoryState[K],
    cpu: number,
  ): void {
    this.state[name] = value;
    this.wrote(name, cpu, 'write', value);
  }

  /** kvm_rebooting = true (E0–E5) / virt_rebooting = true (E6): the same flag under the era's name. */
  setRebooting(name: 'kvm_rebooting' | 'virt_rebooting', cpu: number): void {
    this.state.kvm_rebooting = true;
    this.wrote(name, cpu, 'write', true);
  }

  atomicDec(name: 'waiting_for_crash_ipi' | 'call_function_pending', cpu: number): number {
    const value = this.state[name] - 1;
    this.state[name] = value;
    this.wrote(name, cpu, 'atomic_dec', value);
    return value;
  }

  /** cmpxchg(&var, old, new): returns the value found; the write happens only if it equalled `old`. */
  cmpxchg(name: 'panic_cpu' | 'stopping_cpu' | 'kexec_lock' | 'system_transition_mutex', old: number, value: number, cpu: number): number {
    const found = this.state[name];
    if (found === old) {
      this.state[name] = value;
      this.wrote(name, cpu, 'cmpxchg', value);
    }
    return found;
  }

  setOnline(cpu: number, on: boolean): void {
    const bit = on ? 1 : 0;
    if (this.state.online[cpu] !== bit) {
      this.state.online[cpu] = bit;
      this.state.onlineCount += on ? 1 : -1;
    }
    this.wrote('cpu_online_mask', cpu, on ? 'set_cpu_online' : 'set_cpu_offline', cpuList(this.state.online));
  }

  /** E2b: cpumask_copy(&cpus_stop_mask, cpu_online_mask); cpumask_clear_cpu(this_cpu, …). */
  fillStopMask(self: number): void {
    let count = 0;
    for (let i = 0; i < this.state.cpus; i++) {
      const bit = i !== self && this.state.online[i] === 1 ? 1 : 0;
      this.state.stopMask[i] = bit;
      count += bit;
    }
    this.state.stopMaskCount = count;
    this.wrote('cpus_stop_mask', self, 'cpumask_copy', cpuList(this.state.stopMask));
  }

  clearStopMaskCpu(cpu: number): void {
    if (this.state.stopMask[cpu] === 1) {
      this.state.stopMask[cpu] = 0;
      this.state.stopMaskCount -= 1;
    }
    this.wrote('cpus_stop_mask', cpu, 'cpumask_clear_cpu', cpuList(this.state.stopMask));
  }

  clearStopMask(cpu: number): void {
    this.state.stopMask.fill(0);
    this.state.stopMaskCount = 0;
    this.wrote('cpus_stop_mask', cpu, 'cpumask_clear', cpuList(this.state.stopMask));
  }

  stopMaskCpus(): number[] {
    const out: number[] = [];
    this.state.stopMask.forEach((bit, i) => {
      if (bit === 1) out.push(i);
    });
    return out;
  }

  /**
   * list_add_rcu() of an NMI handler to NMI_LOCAL with NMI_FLAG_FIRST: at the head. A second add of
   * an entry already on the list corrupts it (nmi_list_corrupt): the entry is linked at the head again,
   * so a walk from the head meets it first (then, behind another entry, a cycle through the two; at
   * the head already, itself forever — docs/model.md §1.3). The list keeps one copy of each name.
   */
  addNmiHandler(name: NmiHandlerName, cpu: number): void {
    if (this.state.nmi_local.includes(name)) {
      this.state.nmi_list_corrupt = true;
      this.state.nmi_local = [name, ...this.state.nmi_local.filter((n) => n !== name)];
    } else this.state.nmi_local = [name, ...this.state.nmi_local];
    this.wrote('nmi_handlers', cpu, 'register_nmi_handler', name);
  }

  /**
   * set_emergency_nmi_handler(NMI_LOCAL, handler) (arch/x86/kernel/nmi.c, E5+):
   * `if (WARN_ON_ONCE(desc->emerg_handler == handler)) return;` then store it. Returns whether this
   * call printed the WARN (the slot already held the handler and the WARN had not fired before).
   */
  setEmergencyNmiHandler(name: NmiHandlerName, cpu: number): boolean {
    if (this.state.nmi_emergency === name) {
      const warn = !this.state.nmi_emergency_warned;
      if (warn) {
        this.state.nmi_emergency_warned = true;
        this.wrote('nmi_handlers', cpu, 'WARN_ON_ONCE', name);
      }
      return warn;
    }
    this.state.nmi_emergency = name;
    this.wrote('nmi_handlers', cpu, 'set_emergency_nmi_handler', name);
    return false;
  }

  nextDieCount(cpu: number): number {
    this.state.die_counter += 1;
    this.wrote('die_counter', cpu, 'die', this.state.die_counter);
    return this.state.die_counter;
  }

  /** migrate_to_reboot_cpu() on `cpu`: the reboot task goes to `to`'s runqueue. */
  queueRebootTask(cpu: number, to: number): void {
    this.state.reboot_task_cpu = to;
    this.wrote('reboot_task_cpu', cpu, 'migrate', to);
  }

  /** `cpu`'s scheduler takes the reboot task off its runqueue to run it. */
  takeRebootTask(cpu: number): void {
    this.state.reboot_task_cpu = -1;
    this.wrote('reboot_task_cpu', cpu, 'schedule', -1);
  }

  crashKernelCallin(cpu: number): void {
    this.state.crashKernelCallin[cpu] = 1;
    this.wrote('crash_kernel_callin', cpu, 'callin', 1);
  }

  toJSON(): KernelMemoryState {
    return structuredClone(this.state);
  }

  static fromJSON(state: KernelMemoryState): KernelMemory {
    return new KernelMemory(state.cpus, structuredClone(state));
  }
}
