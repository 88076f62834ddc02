/**
 * Human output: a dmesg-like timeline from trace records, and the outcome summary. Both carry text
 * from the scenario (names, panic messages, guest data), so every line has its control characters
 * escaped: a line printed is one line, and it cannot drive the terminal.
 */
import { messageLabel } from '../hw/vectors.js';
import type { TraceRecord } from '../trace/records.js';
import type { Outcome } from '../sim/outcome.js';
import { describeVsock } from '../trace/describe-vsock.js';
import { escapeControls } from './terminal.js';
import { MAX_OUTCOME_ENTRIES } from '../scenarios/limits.js';

function stamp(ns: number): string {
  const s = Math.floor(ns / 1e9);
  const frac = String(ns % 1e9).padStart(9, '0');
  return `[${String(s).padStart(5)}.${frac}]`;
}

/** One timeline line for a record, or null when the record is not shown (some only with `steps`). */
export function formatTimelineRecord(r: TraceRecord, steps: boolean): string | null {
  const line = timelineLine(r, steps);
  return line === null ? null : escapeControls(line);
}

function timelineLine(r: TraceRecord, steps: boolean): string | null {
  switch (r.t) {
    case 'script':
      return `${stamp(r.ns)} CPU${r.cpu}  » script: ${r.action}${r.status === 'ignored' ? ` — ignored: ${r.reason ?? ''}` : ''}`;
    case 'console':
      return `${stamp(r.ns)} CPU${r.cpu}  ${r.text}`;
    case 'send':
      return `${stamp(r.ns)} ${r.from === 'platform' ? 'platform' : `CPU${r.from}`}  → ${r.dest}: ${messageLabel(r.mode, r.vector)}`;
    case 'deliver':
      return `${stamp(r.ns)} CPU${r.cpu}  ← ${messageLabel(r.mode, r.vector ?? null)} (msg ${r.msg}): ${r.status}${r.reason ? ` — ${r.reason}` : ''}`;
    case 'fault':
      return `${stamp(r.ns)} CPU${r.cpu}  ✗ ${r.insn} ${r.fault} in ${r.context} context: ${r.handling}`;
    case 'kernel':
      return `${stamp(r.ns)} CPU${r.cpu}  · ${r.what}`;
    case 'reset':
      return `${stamp(r.ns)} CPU${r.cpu}  ⟲ platform reset via ${r.method}${r.initOnly ? ' (delivered as INIT)' : ''}`;
    case 'kexec':
      return `${stamp(r.ns)} CPU${r.cpu}  ⇒ machine_kexec(): jump to the crash kernel`;
    case 'timer':
      return steps ? `${stamp(r.ns)} CPU${r.cpu}  ⏱ ${r.name} → ${r.to}` : null;
    case 'step':
      return steps ? `${stamp(r.ns)} CPU${r.cpu}  ${r.ctx.padEnd(4)} ${r.from} → ${r.to}` : null;
    case 'mem':
      return steps ? `${stamp(r.ns)} CPU${r.cpu}  ${r.op}(${r.name}) = ${JSON.stringify(r.value)}` : null;
    case 'insn':
      return steps ? `${stamp(r.ns)} CPU${r.cpu}  ${r.insn}: ${r.result}` : null;
    case 'ioctl':
      if (r.dev !== undefined) {
        const fd = `VMM${r.vcpu} vhost-vsock${r.dev}`;
        return r.phase === 'call'
          ? `${stamp(r.ns)} CPU${r.cpu}  ${fd} ${r.name}(${r.arg === undefined ? '' : JSON.stringify(r.arg)}) [0x${r.number.toString(16)}]`
          : `${stamp(r.ns)} CPU${r.cpu}  ${fd} ${r.name} = ${r.errno ? `-${r.errno} (${r.ret})` : r.ret}${r.out !== undefined ? `, copied out ${r.out}` : ''}${r.state ? ` → ${r.state}` : ''}`;
      }
      return r.phase === 'call'
        ? `${stamp(r.ns)} CPU${r.cpu}  vCPU${r.vcpu} ${r.name}(${r.arg === undefined || JSON.stringify(r.arg) === '{}' ? '' : JSON.stringify(r.arg)}) [0x${r.number.toString(16)}]`
        : `${stamp(r.ns)} CPU${r.cpu}  vCPU${r.vcpu} ${r.name} = ${r.errno ? `-${r.errno} (${r.ret})` : r.ret}${r.exit ? `, exit_reason ${r.exit} (${r.exitCode})` : ''}`;
    case 'kvm':
      return r.what === 'kvm_nested_vmexit_inject' || r.what === 'host_exit' || steps
        ? `${stamp(r.ns)} CPU${r.cpu}  vCPU${r.vcpu} ${r.what}${Object.keys(r.data).length ? ` ${JSON.stringify(r.data)}` : ''}`
        : null;
    case 'vsock': {
      if (r.what === 'work' || (r.what === 'packet' && !steps)) return null;
      return `${stamp(r.ns)} CPU${r.cpu}  vsock${r.dev >= 0 ? r.dev : ''} ${describeVsock(r.what, r.data)}`;
    }
    case 'gstep':
      return steps ? `${stamp(r.ns)} CPU${r.cpu}  ${r.actor}${r.vcpu} ${r.from} → ${r.to}` : null;
    case 'end':
      return `${stamp(r.ns)} end: ${r.end} after ${r.steps} steps`;
    default:
      return null;
  }
}

const SHOOTDOWN_END: Record<Outcome['shootdowns'][number]['endedBy'], string> = {
  acked: 'all acked',
  timeout: 'timed out',
  reset: 'wait ended by the platform reset',
  kexec: 'wait ended by the kexec into the crash kernel',
  init: 'wait ended by an INIT (the CPU waits for a SIPI)',
  'still-waiting': 'still waiting when the run stopped',
  refused: 'refused',
};

export function formatOutcome(o: Outcome): string {
  const lines: string[] = [];
  lines.push(`outcome: ${o.end} at ${(o.timeNs / 1e6).toFixed(3)} ms of virtual time, ${o.steps} steps`);
  lines.push('');
  lines.push('cpu  activity       context  vmx   CR4.VMXE  SVME  GIF  NMI-blocked  online  loaded-VMCS  state');
  const shown = o.cpus.length > 16 ? o.cpus.slice(0, 16) : o.cpus;
  for (const c of shown) {
    lines.push(
      `${String(c.id).padEnd(4)} ${c.activity.padEnd(14)} ${c.context.padEnd(8)} ${c.vmx.padEnd(5)} ${String(c.cr4Vmxe ? 1 : 0).padEnd(9)} ${String(c.svme ? 1 : 0).padEnd(5)} ${String(c.gif ? 1 : 0).padEnd(4)} ${String(c.nmiBlocked).padEnd(12)} ${String(c.online).padEnd(7)} ${String(c.loadedVmcs).padEnd(12)} ${c.state}`,
    );
  }
  if (o.cpus.length > shown.length) lines.push(`… and ${o.cpus.length - shown.length} more CPUs (use --json for all)`);
  lines.push('');
  for (const s of o.shootdowns) {
    lines.push(
      s.sent
        ? `NMI shootdown by CPU${s.initiator}: ${SHOOTDOWN_END[s.endedBy]} after ${(s.waitedMs ?? 0).toFixed(3)} ms; acked by ${s.acked.length ? s.acked.join(', ') : 'none'}`
        : s.endedBy === 'refused'
          ? `NMI shootdown by CPU${s.initiator}: refused (no NMI sent)`
          : `NMI shootdown by CPU${s.initiator}: no other CPU online, no NMI sent, nothing to wait for`,
    );
  }
  if (o.vcpus.length) {
    lines.push('');
    lines.push('vcpu  cpu  thread  mode  SMM  run-pending  rip      last exit             state');
    for (const v of o.vcpus.slice(0, 16)) {
      lines.push(
        `${String(v.id).padEnd(5)} ${String(v.pcpu).padEnd(4)} ${v.thread.padEnd(7)} ${v.guestMode.padEnd(5)} ${String(v.inSmm ? 1 : 0).padEnd(4)} ${String(v.nestedRunPending ? 1 : 0).padEnd(12)} ${`0x${v.rip.toString(16)}`.padEnd(8)} ${(v.exitReason ?? '-').padEnd(21)} ${v.state}`,
      );
    }
    if (o.vcpus.length > 16) lines.push(`… and ${o.vcpus.length - 16} more vCPUs (use --json for all)`);
    lines.push('');
  }
  for (const d of o.vsockDevices) {
    const p = d.packets;
    const dropped = p.dropped.map((x) => `${x.count} ${x.reason}`).join(', ');
    lines.push(
      `vsock${d.dev} (VM ${d.vm}, CID ${d.guestCid}, worker on CPU${d.worker}): ${d.state}${d.running ? ', running' : ''}; queues ${d.queues.map((q) => `${q.index === 0 ? 'RX' : 'TX'} num ${q.num} last_avail ${q.lastAvailIdx} backend ${q.backend ? 'set' : 'NULL'}`).join(', ')}; send queue ${d.sendQueue}, queued_replies ${d.queuedReplies}`,
    );
    lines.push(`  packets: ${p.sent} sent = ${p.delivered} delivered + ${p.queued} queued + ${p.dropped.reduce((n, x) => n + x.count, 0)} dropped${dropped ? ` (${dropped})` : ''}; guest answered ${d.guestResets} with RST`);
  }
  for (const w of o.warnings) lines.push(`${w.message}${w.vcpu === null ? '' : ` (vCPU${w.vcpu} thread)`}`);
  if (o.livelock) lines.push(`LIVELOCK: vCPU${o.livelock.vcpu} emulates the instruction at 0x${o.livelock.rip.toString(16)} again and again (${o.livelock.repeats} times)`);
  for (const e of o.events) {
    if (e.kind === 'kernel' && e.name === 'panic-recursion') {
      lines.push(
        `PANIC LOOP: CPU${e.cpu} oopsed again inside the panic() of its own oops: panic() lets it in again and every round repeats the same oops, nesting deeper until the stack overflows (not modelled); the run stops it here`,
      );
    }
  }
  for (const f of o.faults) lines.push(`fault: CPU${f.cpu} ${f.insn} ${f.fault} in ${f.context} context → ${f.handling}`);
  if (o.initIgnored.length) lines.push(`INIT ignored by CPU ${o.initIgnored.join(', ')}`);
  if (o.omitted) {
    const cut = Object.entries(o.omitted).filter(([, n]) => n > 0);
    lines.push(`outcome lists cut at ${MAX_OUTCOME_ENTRIES.toLocaleString('en-US')} entries (the first kept): ${cut.map(([k, n]) => `${n.toLocaleString('en-US')} ${k}`).join(', ')} left out`);
  }
  lines.push(
    `messages: ${o.messages.sent} sent to ${o.messages.deliveries} targets: ${o.messages.delivered} delivered, ${o.messages.pending} pending, ${o.messages.latched} latched, ${o.messages.dropped} dropped, ${o.messages.inFlight} in flight`,
  );
  if (o.violations.length === 0) lines.push('properties: all hold');
  for (const v of o.violations) lines.push(`VIOLATION ${v.property}: ${v.message}`);
  return lines.map(escapeControls).join('\n') + '\n';
}
