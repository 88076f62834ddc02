/**
 * shootdown-acked: every NMI shootdown that was sent is acknowledged by every CPU it counted,
 * before the initiator's 1000 ms wait runs out.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Applicability, Observer, Violation } from './observer.js';

interface Open {
  initiator: number;
  sentNs: number;
  expected: Set<number>;
}

export class ShootdownAcked implements Observer {
  /** A shootdown waits for the other CPUs (waiting_for_crash_ipi = num_online_cpus() - 1): on one CPU there are none. */
  static readonly inapplicable: Applicability = (s) => (s.machine.cpus < 2 ? 'the machine has one CPU: an NMI shootdown has no other CPU to wait for' : null);
  readonly property = 'shootdown-acked';
  readonly reads = ['header', 'mem', 'kernel'] as const;
  private cpus = 0;
  private offline = new Set<number>();
  private open = new Map<number, Open>();
  private found: Violation[] = [];

  relevant(r: TraceRecord): boolean {
    if (r.t === 'mem') return r.op === 'set_cpu_offline' || (r.name === 'waiting_for_crash_ipi' && r.op === 'atomic_dec');
    if (r.t === 'kernel') return r.what === 'shootdown-sent' || r.what === 'shootdown-acked' || r.what === 'shootdown-timeout';
    return r.t === 'header';
  }

  observe(r: TraceRecord): void {
    if (r.t === 'header') this.cpus = r.cpus;
    else if (r.t === 'mem' && r.op === 'set_cpu_offline') this.offline.add(r.cpu);
    else if (r.t === 'kernel' && r.what === 'shootdown-sent') {
      const expected = new Set<number>();
      for (let c = 0; c < this.cpus; c++) if (c !== r.cpu && !this.offline.has(c)) expected.add(c);
      this.open.set(r.cpu, { initiator: r.cpu, sentNs: r.ns, expected });
    } else if (r.t === 'mem' && r.name === 'waiting_for_crash_ipi' && r.op === 'atomic_dec') {
      for (const o of this.open.values()) o.expected.delete(r.cpu);
    } else if (r.t === 'kernel' && (r.what === 'shootdown-acked' || r.what === 'shootdown-timeout')) {
      const o = this.open.get(r.cpu);
      this.open.delete(r.cpu);
      if (r.what === 'shootdown-timeout' && o) {
        const missing = [...o.expected];
        const ms = Math.round((r.ns - o.sentNs) / 1e6);
        this.found.push({
          property: this.property,
          message:
            `CPU ${o.initiator} waited ${ms} ms for its NMI shootdown: ` +
            (missing.length ? `no ack from CPU ${missing.join(', ')}` : 'acks were lost (the counter was overwritten)'),
        });
      }
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /**
   * The CPUs gone offline (a later shootdown does not count them) and each shootdown still waiting:
   * its initiator, how long ago it was sent (the message says how long the wait took: the machine
   * state keeps the pending timeout relative to now, so this is relative to now too) and the CPUs
   * that have not acked (the message names them). `cpus` comes from the header; timeouts already
   * found are reported.
   */
  remembers(now: number, cpu: (id: number) => number = (c) => c): string {
    if (this.offline.size === 0 && this.open.size === 0) return '';
    const sorted = (s: Iterable<number>) => [...s].map(cpu).sort((a, b) => a - b).join(',');
    const offline = sorted(this.offline);
    const open = [...this.open.values()]
      .map((o) => ({ initiator: cpu(o.initiator), o }))
      .sort((a, b) => a.initiator - b.initiator)
      .map(({ initiator, o }) => `${initiator}@${now - o.sentNs}:${sorted(o.expected)}`);
    return `${offline}|${open.join(';')}`;
  }

  clone(): ShootdownAcked {
    const c = new ShootdownAcked();
    c.cpus = this.cpus;
    c.offline = new Set(this.offline);
    c.open = new Map([...this.open].map(([k, o]) => [k, { ...o, expected: new Set(o.expected) }]));
    c.found = [...this.found];
    return c;
  }
}
