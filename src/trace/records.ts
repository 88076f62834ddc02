/**
 * The one vocabulary for what happened in a run: every step, send, delivery, drop, fault, warning
 * and choice is one record of this union, written as one JSON line. The CLI prints from it, replay
 * reads its choices, the spec observers and the outcome are derived from it, the viewer plays it.
 */
import type { DeliveryMode, MessageSource } from '../hw/apic.js';

/**
 * 2: step, deliver, timer and script records name the CPU's leaves they made active (`leaves`), a done script
 * the leaf on top after it (`to`), and guest-side records the vCPU and VMM leaves they moved (`guestLeaves`).
 * Version 1 traces (without them) still replay; the viewer shows no states for them.
 */
export const TRACE_VERSION = 2;
/** The versions `run --replay` reads. */
export const TRACE_VERSIONS: readonly number[] = [1, 2];

/**
 * The leaves of a physical CPU's chart a record made active, in chart order: each takes the place of the
 * leaf of its region of `os` (a leaf outside `os` takes the place of every region). Absent when the record
 * moved none. Each path is a region's whole leaf, never inferred: the simulator diffs the CPU's active
 * leaves before and after what the record describes.
 */
export type Leaves = string[];

/**
 * The guest-side actors a record moved that no `gstep` of theirs names (a vCPU entering KVM_RUN on its
 * VMM's ioctl, a VMM thread back from one, a vCPU leaving guest mode on a host exit or taking an
 * interrupt, a VMM thread dying with its vCPU): each one's leaf after it, by key (`vcpu0`, `vmm0`).
 * Applied after the record's own `to` (a gstep's). vhost-vsock devices never need it: each change of a
 * device is a gstep of its own.
 */
export type GuestLeaves = Record<string, string>;

export type ChoiceKind = 'next' | 'latency';

/** Where a branched run left the run it came from: `from` names that run, `option` was taken at its choice `decision`. */
export interface BranchPoint {
  from: string;
  decision: number;
  option: number;
}

/**
 * reset / kexec: the machine restarted; hang: nothing can move and the host is stuck (a CPU is left
 * in a handler, halted or waiting); idle: nothing can move but every CPU runs its workload (the host
 * is fine; e.g. a VM's thread finished or died); running: the step budget was spent.
 */
export type RunEnd = 'reset' | 'kexec' | 'hang' | 'idle' | 'running';

export type TraceRecord =
  | {
      t: 'header';
      v: number;
      scenario: string;
      /** The scenario came from a file: what it said (Scenario.digest). */
      scenarioDigest?: string;
      seed: number;
      /** How the scheduler ran: replay must run the same way. */
      mode: 'timed' | 'untimed';
      options: { kdump: boolean; panicTimeout: number; initOnlyReset: boolean };
      cpus: number;
      vendor: string;
      preset: string;
      switches: string[];
      /** A what-if branch: the run took `option` at choice `decision` of the trace `from` (the viewer's branches). */
      branch?: BranchPoint;
    }
  /** A choice of the scheduler among n options (only recorded when n > 1). */
  | { t: 'choice'; i: number; kind: ChoiceKind; n: number; pick: number }
  /** One instruction or atomic kernel step of a CPU: the state before and after, in its context. */
  | { t: 'step'; ns: number; cpu: number; ctx: string; from: string; to: string; leaves?: Leaves }
  | {
      t: 'send';
      ns: number;
      msg: number;
      from: number | 'platform';
      mode: DeliveryMode;
      vector: number | null;
      dest: string;
      targets: number;
      source: MessageSource;
    }
  /** How one message ended at one target; `to` is the target's state afterwards. */
  | {
      t: 'deliver';
      ns: number;
      msg: number;
      cpu: number;
      mode: DeliveryMode;
      /** A fixed IPI's vector (absent for NMI, INIT, SIPI, SMI). */
      vector?: number | null;
      status: 'delivered' | 'pending' | 'latched' | 'dropped';
      reason?: string;
      to: string;
      leaves?: Leaves;
    }
  | { t: 'timer'; ns: number; cpu: number; name: string; to: string; leaves?: Leaves }
  | { t: 'mem'; ns: number; cpu: number; name: string; op: string; value: unknown }
  | { t: 'insn'; ns: number; cpu: number; insn: string; result: string }
  | { t: 'fault'; ns: number; cpu: number; insn: string; fault: '#UD' | '#GP'; context: string; handling: string }
  | { t: 'console'; ns: number; cpu: number; text: string }
  | { t: 'kernel'; ns: number; cpu: number; what: string; data: Record<string, number | string | boolean | null> }
  /** A done action's `to`: the leaf of the context on top after it (as a step's). */
  | { t: 'script'; ns: number; cpu: number; action: string; index: number; status: 'done' | 'ignored'; reason?: string; to?: string; leaves?: Leaves }
  | { t: 'reset'; ns: number; cpu: number; method: string; initOnly: boolean }
  | { t: 'kexec'; ns: number; cpu: number }
  /** Each CPU as the run left it, written once per CPU just before `end`. */
  | {
      t: 'final';
      cpu: number;
      state: string;
      activity: string;
      context: string;
      vmx: string;
      cr4Vmxe: boolean;
      svme: boolean;
      gif: boolean;
      nmiBlocked: boolean;
      if: boolean;
      online: boolean;
      initPending: boolean;
      /** VMCSes on loaded_vmcss_on_cpu whose launch state is not clear (not VMCLEARed since). */
      loadedVmcs: number;
      lapicEnabled: boolean;
    }
  /**
   * One step of a guest-side actor: a vCPU thread (KVM code or a guest instruction), its VMM thread,
   * or a change of a vhost-vsock device's state (`vcpu` is then the device's index).
   */
  | { t: 'gstep'; ns: number; actor: 'vcpu' | 'vmm' | 'vsock'; vcpu: number; cpu: number; from: string; to: string; guestLeaves?: GuestLeaves }
  /**
   * An ioctl of a VMM thread: on its vCPU fd, or (with `dev`) on its VM's vhost-vsock fd. The call,
   * and the return with the value or errno; for KVM_RUN the exit; for vhost every name of the
   * number and the device's state after it.
   */
  | {
      t: 'ioctl';
      ns: number;
      vcpu: number;
      cpu: number;
      phase: 'call' | 'return';
      name: string;
      number: number;
      arg?: unknown;
      ret?: number;
      errno?: string;
      /** What a successful call copied out to the caller's buffer (VHOST_GET_FEATURES' features, VHOST_GET_VRING_BASE's vhost_vring_state.num: last_avail_idx). */
      out?: number;
      exit?: string;
      exitCode?: number;
      dev?: number;
      names?: string[];
      state?: string;
      guestLeaves?: GuestLeaves;
    }
  /**
   * The vhost-vsock packet path: a worker run ('work'), each packet it took ('packet', with the
   * backend and queued_replies it saw), drops, TX throttling, calls (irqfd or not), host and guest
   * sends, the guest driver's probe and RX interrupt. `cpu` is where it ran.
   */
  | { t: 'vsock'; ns: number; dev: number; cpu: number; what: string; data: Record<string, unknown>; guestLeaves?: GuestLeaves }
  /** Each vhost-vsock device as the run left it (outcome.vsock), written once per device just before `end`. */
  | {
      t: 'vsfinal';
      dev: number;
      vm: number;
      worker: number;
      chart: string;
      state: string;
      running: boolean;
      guestCid: number;
      queues: { index: number; num: number; lastAvailIdx: number; backend: boolean }[];
      sendQueue: number;
      queuedReplies: number;
      packets: { sent: number; delivered: number; queued: number; dropped: { reason: string; count: number }[] };
      guestResets: number;
      /** Each packet id in its fate: delivered (to either side), still queued, dropped with the reason. */
      fates: { delivered: number[]; queued: number[]; dropped: { id: number; reason: string }[] };
    }
  /** A kernel WARN splat: execution goes on, the kernel is tainted W. */
  | { t: 'warning'; ns: number; cpu: number; vcpu: number | null; where: string; message: string }
  /** A KVM tracepoint-like event of a vCPU ('kvm_entry', 'kvm_nested_vmexit_inject', 'host_exit', 'oops', …). */
  | { t: 'kvm'; ns: number; vcpu: number; cpu: number; what: string; data: Record<string, unknown>; guestLeaves?: GuestLeaves }
  /** Each vCPU as the run left it, written once per vCPU just before `end`. */
  | {
      t: 'vfinal';
      vcpu: number;
      vm: number;
      cpu: number;
      state: string;
      vmm: string;
      vendor: string;
      guestMode: 'l1' | 'l2';
      inSmm: boolean;
      nestedRunPending: boolean;
      rip: number;
      exitReason: string | null;
      exitCode: number | null;
      thread: 'alive' | 'dead';
      livelock: { rip: number; repeats: number } | null;
      /** The vCPU's VMCS regions (VMX; none on AMD) and their launch state on its CPU. */
      vmcs: { addr: number; launch: 'clear' | 'launched' | 'never loaded' }[];
    }
  | { t: 'end'; ns: number; steps: number; end: RunEnd }
  /**
   * Not written by a run: `explore` puts it into a counterexample's trace just after the choice
   * record that sealed the violation (after the header when every run violates): from here every
   * continuation of the run violates `property`. `step` counts decisions from the start, forced ones
   * included; `choice` is that choice record's `i` (null: from the start); `complete` false when a
   * bound stopped the search from an earlier decision, which may have sealed it already; `text` says
   * what happened, in words. A replay leaves it out.
   */
  | { t: 'noreturn'; property: string; step: number; choice: number | null; complete: boolean; text: string };

export type TraceKind = TraceRecord['t'];

/** A record as version 1 wrote it: without the leaves version 2 added (what a replay of a version 1 trace compares). */
export function asVersion1(record: TraceRecord): TraceRecord {
  if (record.t === 'header') return { ...record, v: 1 };
  if (!('leaves' in record) && !('guestLeaves' in record) && !(record.t === 'script' && 'to' in record)) return record;
  const { leaves: _l, guestLeaves: _g, ...rest } = record as TraceRecord & { leaves?: unknown; guestLeaves?: unknown };
  if (rest.t === 'script') delete rest.to;
  return rest as TraceRecord;
}

export function formatRecord(record: TraceRecord): string {
  return JSON.stringify(record);
}
