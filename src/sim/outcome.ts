/**
 * The outcome of a run, derived from its trace alone: how it ended, each CPU's final state, faults,
 * console, shootdowns, CPUs that ignored INIT, and the spec observers' violations.
 */
import type { RunEnd, TraceRecord } from '../trace/records.js';
import { allObservers, type Observer, type Violation } from '../spec/index.js';

type FinalRecord = Extract<TraceRecord, { t: 'final' }>;

/** A CPU as the run left it: the trace's `final` record, keyed by `id`. */
export type CpuOutcome = { id: number } & Pick<
  FinalRecord,
  'activity' | 'context' | 'vmx' | 'cr4Vmxe' | 'svme' | 'gif' | 'nmiBlocked' | 'online' | 'loadedVmcs' | 'state'
>;

export interface ShootdownOutcome {
  initiator: number;
  /** NMIs went out (false: refused by the once-only check or the double-registration check). */
  sent: boolean;
  waitedMs: number | null;
  timedOut: boolean;
  acked: number[];
}

/** A vCPU as the run left it (SEMANTICS §4(d)): from the trace's `vfinal` record. */
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
 * A vhost-vsock device as the run left it (outcome.vsock; SEMANTICS §5(g)). `packets` balances:
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
  vcpus: VcpuOutcome[];
  warnings: WarningOutcome[];
  /** The same guest instruction emulated again and again (the first vCPU found looping). */
  livelock: { vcpu: number; rip: number; repeats: number } | null;
  /** The first vhost-vsock device (the only one in most scenarios); null without one. */
  vsock: VsockRunOutcome | null;
  /** Every vhost-vsock device, in open() order. */
  vsockDevices: VsockRunOutcome[];
  messages: { sent: number; deliveries: number; delivered: number; pending: number; latched: number; dropped: number; inFlight: number };
}

export class OutcomeCollector {
  private readonly observers: Observer[] = allObservers();
  /** Observers by the record kind they read, so each record goes only where it is looked at. */
  private readonly byKind = new Map<string, Observer[]>();
  private readonly out: Omit<Outcome, 'violations'> = {
    end: 'running',
    timeNs: 0,
    steps: 0,
    cpus: [],
    faults: [],
    console: [],
    shootdowns: [],
    initIgnored: [],
    vcpus: [],
    warnings: [],
    livelock: null,
    vsock: null,
    vsockDevices: [],
    messages: { sent: 0, deliveries: 0, delivered: 0, pending: 0, latched: 0, dropped: 0, inFlight: 0 },
  };
  private readonly openShootdowns = new Map<number, { record: ShootdownOutcome; sentNs: number }>();
  private readonly initSentTo = new Set<number>();

  constructor() {
    for (const o of this.observers) {
      for (const kind of o.reads) this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), o]);
    }
  }

  observe(r: TraceRecord): void {
    const readers = this.byKind.get(r.t);
    if (readers) for (const o of readers) o.observe(r);
    const out = this.out;
    switch (r.t) {
      case 'fault':
        out.faults.push({ cpu: r.cpu, insn: r.insn, fault: r.fault, context: r.context, handling: r.handling });
        break;
      case 'console':
        out.console.push({ timeNs: r.ns, cpu: r.cpu, text: r.text });
        break;
      case 'send':
        out.messages.sent += 1;
        out.messages.deliveries += r.targets;
        break;
      case 'deliver':
        out.messages[r.status] += 1;
        if (r.mode === 'init') this.initSentTo.add(r.cpu);
        break;
      case 'mem':
        if (r.name === 'waiting_for_crash_ipi' && r.op === 'atomic_dec') {
          for (const s of this.openShootdowns.values()) s.record.acked.push(r.cpu);
        }
        break;
      case 'kernel':
        if (r.what === 'shootdown-sent') {
          const record: ShootdownOutcome = { initiator: r.cpu, sent: true, waitedMs: null, timedOut: false, acked: [] };
          out.shootdowns.push(record);
          this.openShootdowns.set(r.cpu, { record, sentNs: r.ns });
        } else if (r.what === 'shootdown-refused') {
          out.shootdowns.push({ initiator: r.cpu, sent: false, waitedMs: 0, timedOut: false, acked: [] });
        } else if (r.what === 'shootdown-acked' || r.what === 'shootdown-timeout') {
          const open = this.openShootdowns.get(r.cpu);
          if (open) {
            open.record.waitedMs = (r.ns - open.sentNs) / 1e6;
            open.record.timedOut = r.what === 'shootdown-timeout';
            this.openShootdowns.delete(r.cpu);
          }
        }
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
      case 'warning':
        out.warnings.push({ where: r.where, cpu: r.cpu, vcpu: r.vcpu, message: r.message });
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

  outcome(): Outcome {
    return { ...this.out, violations: this.observers.flatMap((o) => o.violations()) };
  }
}
