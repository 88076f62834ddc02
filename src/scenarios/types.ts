/**
 * A scenario: the machine, its initial state, the kernel, options and a script of actions.
 * This is the validated, normalised form; `validateScenario` turns an untrusted JSON value into it.
 */
import type { Vendor } from '../hw/cpu-state.js';
import type { VcpuSpec, VsockSpec } from './vms.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';

export type ResetMethod = 'acpi' | 'kbd' | 'efi' | 'bios' | 'cf9' | 'triple';

/** Initial state of one CPU (or of all): what KVM and the workload left there. */
export interface CpuInit {
  /** 'root': KVM has done VMXON (CR4.VMXE=1); 'off': no VMX. Intel only. */
  vmx?: 'off' | 'root';
  /** How many VMCSes are on this CPU's loaded_vmcss_on_cpu list (vCPUs that last ran here). */
  loadedVmcs?: number;
  /** RFLAGS.IF of the task running there. */
  if?: boolean;
  /** AMD: EFER.SVME set by KVM's hardware enable. */
  svme?: boolean;
  /** AMD: GIF; false models a CPU stopped between CLGI and STGI in KVM's vCPU run loop. */
  gif?: boolean;
  /** CR4.VMXE without VMXON: the window in KVM's hardware enable, or VMXOFF done but CR4 not yet cleared. */
  cr4Vmxe?: boolean;
}

export type ScriptAction =
  /** reboot(2) with LINUX_REBOOT_CMD_RESTART, as `reboot -f` does (docs/model.md §1.1). */
  | 'reboot'
  /** emergency_restart(): SysRq-b, a watchdog (§1.2). */
  | 'emergency-restart'
  /** panic() (§1.6) in the given context. */
  | 'panic'
  /** An NMI (e.g. the hard-lockup watchdog) whose handler calls nmi_panic() (docs/model.md §1.8). */
  | 'nmi-panic'
  /** The task disables interrupts and spins (local_irq_disable(); for (;;) cpu_relax();). */
  | 'irqs-off'
  /** The task enables interrupts again (local_irq_enable()). */
  | 'irqs-on'
  /** The CPU stops executing in its current context until an interrupt or NMI arrives (a long stall). */
  | 'stall'
  /** An SMI is raised on the CPU (firmware runs in SMM and returns with RSM). */
  | 'smi'
  /** A host task on the CPU sends on an AF_VSOCK socket to a guest CID (vhost_transport_send_pkt). */
  | 'vsock-send';

export type Trigger =
  | { kind: 'at'; timeNs: number }
  /**
   * Fires the first time `cpu` (a physical CPU, or with `actor: 'vcpu'` / `'vsock'` the vCPU / vsock device of that index)
   * enters a state whose path ends with `state` (dot-separated).
   */
  | { kind: 'enters'; cpu: number; state: string; actor: 'cpu' | 'vcpu' | 'vsock' };

export interface ScriptStep {
  /** Index in the scenario file's script array, for messages. */
  index: number;
  cpu: number;
  action: ScriptAction;
  trigger: Trigger;
  /** For 'panic' and 'emergency-restart': where it is called from. */
  context: 'task' | 'irq' | 'nmi';
  /** For 'panic': the message after "Kernel panic - not syncing: ". */
  message: string;
  /** For 'vsock-send': the destination CID and the packets. */
  send?: TrafficSpec & { cid: number };
}

export interface Scenario {
  /** Row id in docs/model.md §6 for built-ins (e.g. "T5"), or the file name. */
  id: string;
  name: string;
  description: string;
  machine: { cpus: number; vendor: Vendor };
  /** One entry per CPU, already merged from `all` and per-CPU overrides. */
  initial: Required<CpuInit>[];
  kernel: { preset: string; fix: string[]; noFix: string[] };
  options: ScenarioOptions;
  script: ScriptStep[];
  /** KVM vCPUs (all VMs, in file order) with their guest code and VMM threads. */
  vcpus: VcpuSpec[];
  /** vhost-vsock devices, one per VM that has one, in VM order. */
  vsock: VsockSpec[];
  /**
   * A scenario read from a file: a hash of what it says but its kernel and description
   * (scenarioDigest), written into the trace header so that a replay tells another file, an edited
   * one or a built-in of the same name from the file the trace was recorded on.
   */
  digest?: string;
}

export interface ScenarioOptions {
  /** A crash kernel is loaded (kexec -p). */
  kdump: boolean;
  /** Boot CPUs of the crash kernel bring up the APs with INIT-SIPI-SIPI. */
  kdumpBringsUpAps: boolean;
  crashKexecPostNotifiers: boolean;
  /** panic= seconds; 0 waits forever, negative reboots at once. */
  panicTimeout: number;
  reset: { method: ResetMethod; initOnly: boolean };
  /** The KVM module is loaded (its reboot notifier and, from v6.6, its emergency callback are registered). */
  kvmLoaded: boolean;
  /** CONFIG_DEBUG_LIST: a double list_add is a BUG rather than silent corruption. */
  debugList: boolean;
  /** reboot=f: skip stopping other CPUs on the orderly path. */
  rebootForce: boolean;
  /** oops=panic / kernel.panic_on_oops: an oops in task context panics (and tries the crash kernel first) instead of killing the task. */
  panicOnOops: boolean;
  /** Virtual time one kernel step takes. */
  stepNs: number;
  /** Interconnect delivery latency range [min, max], inclusive. */
  latencyNs: [number, number];
  /** The run ends as 'running' after this many scheduler steps. */
  maxSteps: number;
}
