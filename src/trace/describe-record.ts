/**
 * A trace record in words, as the viewer's event log and explore's reports name it. In trace/ so
 * that the explorer and the command line can say what a record did without loading the viewer.
 */
import { VECTOR_NAMES, messageLabel } from '../hw/vectors.js';
import type { TraceRecord } from './records.js';
import { describeVsock } from './describe-vsock.js';

/** What a message is called on an arrow: NMI, INIT, SIPI, REBOOT_VECTOR IPI… */
export function messageName(mode: string, vector: number | null): string {
  if (mode === 'fixed') return vector !== null && VECTOR_NAMES[vector] ? `${VECTOR_NAMES[vector]}` : `IPI 0x${(vector ?? 0).toString(16)}`;
  return mode.toUpperCase();
}

/** One line of text for a record (the page's event list; always rendered as text). */
export function describeRecord(r: TraceRecord): string {
  switch (r.t) {
    case 'header':
      return `${r.scenario}: ${r.cpus} CPUs (${r.vendor}), kernel ${r.preset}, seed ${r.seed}`;
    case 'choice':
      return `choice ${r.i}: ${r.kind} ${r.pick} of ${r.n}`;
    case 'step':
      return `${r.ctx}: ${r.from} → ${r.to}`;
    case 'send':
      return `→ ${r.dest}: ${messageName(r.mode, r.vector)} (msg ${r.msg}, ${r.source})`;
    case 'deliver':
      return `← ${messageLabel(r.mode, r.vector ?? null)} (msg ${r.msg}): ${r.status}${r.reason ? ` — ${r.reason}` : ''} → ${r.to}`;
    case 'timer':
      return `timer ${r.name} → ${r.to}`;
    case 'mem':
      return `${r.name} ${r.op} ${JSON.stringify(r.value)}`;
    case 'insn':
      return `${r.insn}: ${r.result}`;
    case 'fault':
      return `✗ ${r.insn} ${r.fault} in ${r.context} context: ${r.handling}`;
    case 'console':
      return r.text;
    case 'kernel':
      return `· ${r.what}${Object.keys(r.data).length ? ` ${JSON.stringify(r.data)}` : ''}`;
    case 'script':
      return `» script: ${r.action}${r.status === 'ignored' ? ` — ignored: ${r.reason ?? ''}` : ''}`;
    case 'reset':
      return `⟲ platform reset via ${r.method}${r.initOnly ? ' (as INIT)' : ''}`;
    case 'kexec':
      return '⇒ machine_kexec(): jump to the crash kernel';
    case 'final':
      return `final: ${r.state} (${r.activity}, vmx ${r.vmx})`;
    case 'end':
      return `end: ${r.end} after ${r.steps} steps`;
    case 'gstep':
      return `${r.actor} ${r.vcpu}: ${r.from} → ${r.to}`;
    case 'ioctl': {
      const fd = r.dev === undefined ? `vCPU ${r.vcpu}` : `VMM ${r.vcpu} on vhost-vsock ${r.dev}`;
      return r.phase === 'call'
        ? `${fd}: ${r.name}(${r.arg === undefined ? '' : JSON.stringify(r.arg)})`
        : `${fd}: ${r.name} = ${r.errno ? `-${r.errno}` : r.ret}${r.out !== undefined ? `, copied out ${r.out}` : ''}${r.exit ? ` (${r.exit})` : ''}${r.state ? ` → ${r.state}` : ''}`;
    }
    case 'vsock':
      return `vsock ${r.dev}: ${describeVsock(r.what, r.data)}`;
    case 'vsfinal':
      return `vsock ${r.dev} final: ${r.state}, ${r.packets.sent} sent, ${r.packets.delivered} delivered, ${r.packets.queued} queued`;
    case 'warning':
      return `⚠ WARN at ${r.where}${r.vcpu === null ? '' : ` (vCPU ${r.vcpu})`}: ${r.message}`;
    case 'kvm':
      return `vCPU ${r.vcpu}: ${r.what}${Object.keys(r.data).length ? ` ${JSON.stringify(r.data)}` : ''}`;
    case 'noreturn':
      return `◆ point of no return for ${r.property}${r.complete ? '' : ' (or earlier)'}: ${r.text}`;
    case 'vfinal':
      return `vCPU ${r.vcpu} final: ${r.state} (${r.guestMode}${r.inSmm ? ', SMM' : ''}, rip 0x${r.rip.toString(16)}${r.exitReason ? `, ${r.exitReason}` : ''})`;
  }
}
