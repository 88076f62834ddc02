/**
 * What the message sequence chart (msc.ts) draws apart from the DOM: the guest-side lanes and rows a trace has
 * (vCPUs, VMM threads, vhost-vsock devices), each row's label, and the distance used to hit-test an arrow.
 */
import type { TraceModel } from '../trace-model.js';

/** Distance from (px, py) to the segment (x1, y1)–(x2, y2). */
export function segmentDistance(px: number, py: number, x1: number, y1: number, x2: number, y2: number): number {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = dx * dx + dy * dy;
  const t = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len));
  return Math.hypot(px - (x1 + t * dx), py - (y1 + t * dy));
}

export type Lane = number | string;

/** A lane's heading: `CPU2`, `platform`, `VMM0`, `vsock0 device`, `vhost worker 0`. */
export function laneName(l: Lane): string {
  if (typeof l === 'number') return `CPU${l}`;
  const m = /^(vmm|vsock|worker)(\d+)$/.exec(l);
  if (!m) return l;
  return m[1] === 'vmm' ? `VMM${m[2]}` : m[1] === 'vsock' ? `vsock${m[2]} device` : `vhost worker ${m[2]}`;
}

/** The packet path's events drawn on the guest side's lanes; credit windows and worker runs are left to the record list. */
const VSOCK_SHOWN = new Set(['host-send', 'packet', 'call', 'drop', 'tx-throttled', 'guest-send', 'guest-rx', 'guest-driver-ready', 'stream-end']);

/** Where a guest-side record goes in the chart, and what it says; null for records drawn on CPU lanes (or not at all). */
export function guestRow(r: Record<string, unknown>): { lane: string; to?: string; text: string; cls: string } | null {
  const data = (r.data ?? {}) as Record<string, unknown>;
  switch (r.t) {
    case 'ioctl': {
      const vmm = `vmm${String(r.vcpu)}`;
      if (typeof r.dev !== 'number') return null;
      const dev = `vsock${r.dev}`;
      if (r.phase === 'call') return { lane: vmm, to: dev, text: String(r.name), cls: 'ioctl call' };
      const fail = typeof r.ret === 'number' && r.ret < 0;
      return { lane: dev, to: vmm, text: `${String(r.name)} = ${String(r.ret ?? '?')}${r.errno ? ` ${String(r.errno)}` : ''}${typeof r.out === 'number' ? `, copied out ${r.out}` : ''}${r.state ? ` → ${String(r.state)}` : ''}`, cls: `ioctl return${fail ? ' failed' : ''}` };
    }
    case 'vsock': {
      const what = String(r.what);
      if (!VSOCK_SHOWN.has(what)) return null;
      const dev = String(r.dev);
      switch (what) {
        case 'packet':
          return { lane: `worker${dev}`, text: `packet #${String(data.id)} ${String(data.op ?? '')} ${String(data.len ?? '')}`.trim(), cls: 'vsock packet' };
        case 'call':
          return { lane: `worker${dev}`, text: `call queue ${String(data.queue)}${data.irqfd ? ' → irqfd' : ' (masked)'}`, cls: 'vsock' };
        case 'drop':
        case 'tx-throttled':
          return { lane: `worker${dev}`, text: `✗ ${what}${data.reason ? `: ${String(data.reason)}` : ''}`, cls: 'vsock fault' };
        case 'stream-end':
          return { lane: `vsock${dev}`, text: `✗ ${String(data.side)} socket ${String(data.key)}: ${String(data.errno)}${data.connecting ? ' (connect)' : ''}`, cls: 'vsock fault' };
        case 'host-send':
          return { lane: `vsock${dev}`, text: `host sends ${String(data.op ?? '')} ${String(data.srcPort ?? '')}>${String(data.dstPort ?? '')}`, cls: 'vsock' };
        default:
          return { lane: `vsock${dev}`, text: `guest: ${what.replace(/^guest-/, '')}`, cls: 'vsock' };
      }
    }
    case 'gstep':
      return r.actor === 'vsock' ? { lane: `vsock${String(r.vcpu)}`, text: `→ ${String(r.to)}`, cls: 'vsock state' } : null;
    default:
      return null;
  }
}

/** The guest side's lanes a trace has (VMM threads that call a vhost device, the devices, their workers) and the records on them. */
export function guestSide(m: TraceModel): { lanes: string[]; rows: Int32Array } {
  const vmms = new Set<number>();
  const devs = new Set<number>();
  const rows: number[] = [];
  for (let i = 0; i < m.count; i++) {
    const kind = m.kind(i);
    if (kind !== 'ioctl' && kind !== 'vsock' && kind !== 'gstep') continue;
    const r = m.record(i) as unknown as Record<string, unknown>;
    const row = guestRow(r);
    if (!row) continue;
    rows.push(i);
    if (r.t === 'ioctl') {
      vmms.add(Number(r.vcpu));
      devs.add(Number(r.dev));
    } else devs.add(Number(r.t === 'gstep' ? r.vcpu : r.dev));
  }
  const lanes = [...[...vmms].sort((a, b) => a - b).map((n) => `vmm${n}`), ...[...devs].sort((a, b) => a - b).flatMap((n) => [`vsock${n}`, `worker${n}`])];
  return { lanes, rows: Int32Array.from(rows) };
}
