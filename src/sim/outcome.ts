/**
 * The outcome of a run, derived from its trace alone: how it ended, each CPU's final state, faults,
 * console, shootdowns (shootdowns.ts), CPUs that ignored INIT, the ioctls with their returns, the
 * trace events and splats, and the spec observers' violations. docs/outcome.schema.json describes it
 * for `run --json`.
 */
import type { RunEnd, TraceRecord } from '../trace/records.js';
import { allObservers, type Observer, type Violation } from '../spec/index.js';
import { ShootdownCollector, type ShootdownOutcome } from './shootdowns.js';
import { MAX_OUTCOME_ENTRIES } from '../scenarios/limits.js';

export type { ShootdownEnd, ShootdownOutcome } from './shootdowns.js';

type FinalRecord = Extract<TraceRecord, { t: 'final' }>;

/** A CPU as the run left it: the trace's `final` record, keyed by `id`. */
export type CpuOutcome = { id: number } & Pick<
  FinalRecord,
  'activity' | 'context' | 'vmx' | 'cr4Vmxe' | 'svme' | 'gif' | 'nmiBlocked' | 'online' | 'loadedVmcs' | 'state'
>;

/**
 * One ioctl of a VMM thread with its return: on a vCPU fd (`actor` 'vCPU<n>') or on its VM's
 * vhost-vsock fd (`actor` 'VMM<n>', `dev` set). `ret` is the return value, negative with `errno`
 * on an error; null while the call had not returned when the run ended.
 */
export interface IoctlOutcome {
  timeNs: number;
  returnNs: number | null;
  cpu: number;
  actor: string;
  vcpu: number;
  dev: number | null;
  name: string;
  /** Every name of the request number (VHOST_SET_RUNNING and VHOST_VSOCK_SET_RUNNING share one). */
  names: string[];
  number: number;
  argument: unknown;
  ret: number | null;
  errno: string | null;
  /** What a successful call copied out to the caller's buffer (VHOST_GET_FEATURES' features, …); null: nothing. */
  out: number | null;
  /** KVM_RUN: why it returned to userspace. */
  exit: { reason: string; code: number } | null;
  /** The vCPU's (KVM) or the device's (vhost) state once the call returned. */
  stateAfter: string | null;
}

/**
 * A trace event of the run: a KVM tracepoint-like record (`kvm`: kvm_nested_vmexit_inject,
 * kvm_entry, host_exit, …), a kernel step worth naming (`kernel`: shootdown-sent, kdump-start, …),
 * or a splat on the console (`warn`: a WARN; `bug`: kernel BUG at …; `oops`: a die header not
 * preceded by a BUG line). `name` is the tracepoint or kernel event, the WARN's location, or the
 * splat's kind; `text` the splat's console line.
 */
export interface EventOutcome {
  timeNs: number;
  cpu: number;
  vcpu: number | null;
  kind: 'kvm' | 'kernel' | 'warn' | 'bug' | 'oops';
  name: string;
  data: Record<string, unknown>;
  text: string | null;
}

/** A vCPU as the run left it (docs/model.md §4.7): from the trace's `vfinal` record. */
export interface VcpuOutcome {
  id: number;
  vm: number;
  pcpu: number;
  /** The last exit to userspace, e.g. KVM_EXIT_SHUTDOWN, with its uapi number. */
  exitReason: string | null;
  exitCode: number | null;
  guestMode: 'l1' | 'l2';
  inSmm: boolean;
  nestedRunPending: boolean;
  rip: number;
  /** 'dead': the vCPU thread oopsed inside an ioctl. */
  thread: 'alive' | 'dead';
  state: string;
  /** This vCPU's VMCS regions (VMX) and their launch state on the CPU it ran on. */
  vmcs: { addr: number; launch: 'clear' | 'launched' | 'never loaded' }[];
}

/**
 * A vhost-vsock device as the run left it (outcome.vsock; docs/model.md §5.7). `packets` balances:
 * sent = delivered + queued + the dropped counts. When the host itself went down (the run ended in
 * a platform reset or a kexec into the crash kernel) nothing queued survives: those packets are
 * counted as dropped with that reason instead of queued.
 */
export type VsockRunOutcome = Omit<Extract<TraceRecord, { t: 'vsfinal' }>, 't' | 'chart' | 'fates'>;

export interface WarningOutcome {
  where: string;
  cpu: number;
  vcpu: number | null;
  message: string;
}

export interface Outcome {
  end: RunEnd;
  timeNs: number;
  steps: number;
  cpus: CpuOutcome[];
  faults: { cpu: number; insn: string; fault: string; context: string; handling: string }[];
  console: { timeNs: number; cpu: number; text: string }[];
  shootdowns: ShootdownOutcome[];
  initIgnored: number[];
  violations: Violation[];
  /** Every ioctl of the VMM threads, in call order. */
  ioctls: IoctlOutcome[];
  /** KVM trace events, kernel events and WARN/BUG/oops splats, in trace order. */
  events: EventOutcome[];
  vcpus: VcpuOutcome[];
  warnings: WarningOutcome[];
  /** The same guest instruction emulated again and again (the first vCPU found looping). */
  livelock: { vcpu: number; rip: number; repeats: number } | null;
  /** The first vhost-vsock device (the only one in most scenarios); null without one. */
  vsock: VsockRunOutcome | null;
  /** Every vhost-vsock device, in open() order. */
  vsockDevices: VsockRunOutcome[];
  messages: { sent: number; deliveries: number; delivered: number; pending: number; latched: number; dropped: number; inFlight: number };
  /**
   * Entries left out of the lists past MAX_OUTCOME_ENTRIES (the first ones are kept): only present when
   * a long run (a guest looping on exits) made more than that.
   */
  omitted?: Record<BoundedList, number>;
}

/** The outcome lists that grow with the run's length, each held to MAX_OUTCOME_ENTRIES. */
export type BoundedList = 'ioctls' | 'events' | 'console' | 'faults' | 'warnings';

export class OutcomeCollector {
  private readonly observers: Observer[] = allObservers();
  /** Observers by the record kind they read, so each record goes only where it is looked at. */
  private readonly byKind = new Map<string, Observer[]>();
  private readonly shootdowns = new ShootdownCollector();
  private readonly out: Omit<Outcome, 'violations'> = {
    end: 'running',
    timeNs: 0,
    steps: 0,
    cpus: [],
    faults: [],
    console: [],
    shootdowns: this.shootdowns.list,
    initIgnored: [],
    ioctls: [],
    events: [],
    vcpus: [],
    warnings: [],
    livelock: null,
    vsock: null,
    vsockDevices: [],
    messages: { sent: 0, deliveries: 0, delivered: 0, pending: 0, latched: 0, dropped: 0, inFlight: 0 },
  };
  private readonly initSentTo = new Set<number>();
  /** Each VMM thread's ioctl in flight (a thread makes one call at a time). */
  private readonly openIoctls = new Map<number, IoctlOutcome>();
  /** A WARN record whose console line comes next: the line is that WARN, not a second splat. */
  private warning: Extract<TraceRecord, { t: 'warning' }> | null = null;
  /** The last console line of each CPU was a BUG line (the die header after it is the same splat). */
  private readonly afterBug = new Set<number>();
  /** A vCPU thread oopsed: the console lines that follow on its CPU are its splat. */
  private oops: { cpu: number; vcpu: number } | null = null;

  constructor() {
    for (const o of this.observers) {
      for (const kind of o.reads) this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), o]);
    }
  }

  /** Entries not kept, by list (see Outcome.omitted). */
  private readonly omitted: Record<BoundedList, number> = { ioctls: 0, events: 0, console: 0, faults: 0, warnings: 0 };

  /** Appends to one of the bounded lists, or counts the entry as omitted once the list is full. */
  private keep<K extends BoundedList>(list: K, entry: Outcome[K][number]): boolean {
    const l = this.out[list] as Outcome[K][number][];
    if (l.length >= MAX_OUTCOME_ENTRIES) {
      this.omitted[list] += 1;
      return false;
    }
    l.push(entry);
    return true;
  }

  observe(r: TraceRecord): void {
    const readers = this.byKind.get(r.t);
    if (readers) for (const o of readers) o.observe(r);
    const out = this.out;
    this.shootdowns.observe(r);
    switch (r.t) {
      case 'fault':
        this.keep('faults', { cpu: r.cpu, insn: r.insn, fault: r.fault, context: r.context, handling: r.handling });
        break;
      case 'console':
        this.keep('console', { timeNs: r.ns, cpu: r.cpu, text: r.text });
        this.splat(r);
        break;
      case 'warning':
        this.keep('warnings', { where: r.where, cpu: r.cpu, vcpu: r.vcpu, message: r.message });
        this.warning = r;
        break;
      case 'kvm':
        // The oops record only counts the lines; the lines themselves come as console records.
        if (r.what === 'oops') this.oops = { cpu: r.cpu, vcpu: r.vcpu };
        else this.keep('events', { timeNs: r.ns, cpu: r.cpu, vcpu: r.vcpu, kind: 'kvm', name: r.what, data: { ...r.data }, text: null });
        break;
      case 'ioctl':
        this.ioctl(r);
        break;
      case 'send':
        out.messages.sent += 1;
        out.messages.deliveries += r.targets;
        break;
      case 'deliver':
        out.messages[r.status] += 1;
        if (r.mode === 'init') this.initSentTo.add(r.cpu);
        break;
      case 'kernel':
        this.keep('events', { timeNs: r.ns, cpu: r.cpu, vcpu: null, kind: 'kernel', name: r.what, data: { ...r.data }, text: null });
        break;
      case 'final':
        out.cpus.push({
          id: r.cpu,
          activity: r.activity,
          context: r.context,
          vmx: r.vmx,
          cr4Vmxe: r.cr4Vmxe,
          svme: r.svme,
          gif: r.gif,
          nmiBlocked: r.nmiBlocked,
          online: r.online,
          loadedVmcs: r.loadedVmcs,
          state: r.state,
        });
        if (r.initPending && this.initSentTo.has(r.cpu)) out.initIgnored.push(r.cpu);
        break;
      case 'vfinal':
        out.vcpus.push({
          id: r.vcpu,
          vm: r.vm,
          pcpu: r.cpu,
          exitReason: r.exitReason,
          exitCode: r.exitCode,
          guestMode: r.guestMode,
          inSmm: r.inSmm,
          nestedRunPending: r.nestedRunPending,
          rip: r.rip,
          thread: r.thread,
          state: r.state,
          vmcs: r.vmcs,
        });
        if (r.livelock && !out.livelock) out.livelock = { vcpu: r.vcpu, ...r.livelock };
        break;
      case 'vsfinal': {
        const { t: _t, chart: _chart, fates: _fates, ...rest } = r;
        const d: VsockRunOutcome = { ...rest, packets: { ...r.packets, dropped: r.packets.dropped.map((x) => ({ ...x })) } };
        out.vsockDevices.push(d);
        out.vsock ??= d;
        break;
      }
      case 'end':
        out.end = r.end;
        if (r.end === 'reset' || r.end === 'kexec') {
          // The host went down: rings, send queue and sockets go with its memory (and the guest with it).
          const reason = r.end === 'reset' ? 'host-reset' : 'host-kexec';
          for (const d of out.vsockDevices) {
            if (d.packets.queued === 0) continue;
            d.packets.dropped.push({ reason, count: d.packets.queued });
            d.packets.queued = 0;
          }
        }
        out.timeNs = r.ns;
        out.steps = r.steps;
        out.messages.inFlight = out.messages.deliveries - out.messages.delivered - out.messages.pending - out.messages.latched - out.messages.dropped;
        break;
      default:
        break;
    }
  }

  private ioctl(r: Extract<TraceRecord, { t: 'ioctl' }>): void {
    if (r.phase === 'call') {
      const call: IoctlOutcome = {
        timeNs: r.ns,
        returnNs: null,
        cpu: r.cpu,
        actor: r.dev === undefined ? `vCPU${r.vcpu}` : `VMM${r.vcpu}`,
        vcpu: r.vcpu,
        dev: r.dev ?? null,
        name: r.name,
        names: [r.name],
        number: r.number,
        argument: r.arg ?? null,
        ret: null,
        errno: null,
        out: null,
        exit: null,
        stateAfter: null,
      };
      // A call left out of the list is not followed to its return either.
      if (this.keep('ioctls', call)) this.openIoctls.set(r.vcpu, call);
      else this.openIoctls.delete(r.vcpu);
      return;
    }
    const call = this.openIoctls.get(r.vcpu);
    if (!call || call.name !== r.name) return;
    this.openIoctls.delete(r.vcpu);
    call.returnNs = r.ns;
    call.names = r.names ? [...r.names] : call.names;
    call.ret = r.ret ?? null;
    call.errno = r.errno ?? null;
    call.out = r.out ?? null;
    call.exit = r.exit !== undefined && r.exitCode !== undefined ? { reason: r.exit, code: r.exitCode } : null;
    call.stateAfter = r.state ?? null;
  }

  /** WARN, BUG and oops headers among the console lines (the splat's first line). */
  private splat(r: Extract<TraceRecord, { t: 'console' }>): void {
    const warning = this.warning;
    this.warning = null;
    const oops = this.oops?.cpu === r.cpu ? this.oops : null;
    this.oops = null;
    const bug = r.text.startsWith('kernel BUG at ') || r.text.startsWith('BUG: ');
    const after = this.afterBug.has(r.cpu);
    if (bug) this.afterBug.add(r.cpu);
    else this.afterBug.delete(r.cpu);
    const event = (kind: EventOutcome['kind'], name: string, vcpu: number | null = null) =>
      this.keep('events', { timeNs: r.ns, cpu: r.cpu, vcpu, kind, name, data: {}, text: r.text });
    if (warning && warning.cpu === r.cpu && warning.message === r.text) event('warn', warning.where, warning.vcpu);
    else if (r.text.startsWith('WARNING: CPU: ')) event('warn', r.text.replace(/^WARNING: CPU: \d+ PID: \d+ at /, ''));
    else if (bug) event('bug', 'BUG', oops?.vcpu ?? null);
    // dumpstack.c __die_header(): "Oops: " from ~6.10, the bare trap name before; after a BUG line it is that BUG's.
    else if (!after && /^(Oops: )?(invalid opcode|general protection fault)/.test(r.text)) event('oops', 'oops', oops?.vcpu ?? null);
  }

  outcome(): Outcome {
    const omitted = Object.values(this.omitted).some((n) => n > 0) ? { omitted: { ...this.omitted } } : {};
    return { ...this.out, violations: this.observers.flatMap((o) => o.violations()), ...omitted };
  }
}
