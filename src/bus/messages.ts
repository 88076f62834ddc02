/** What the interconnect carries and how each delivery ends. */
import type { DeliveryMode, Destination, MessageSource } from '../hw/apic.js';
import type { Disposition } from '../kernel/port.js';

export interface Message {
  id: number;
  from: number | 'platform';
  mode: DeliveryMode;
  vector: number | null;
  dest: Destination;
  source: MessageSource;
  sentAt: number;
}

/** One message to one target CPU. */
export interface DeliveryRequest {
  msg: Message;
  to: number;
}

export function describeDestination(dest: Destination): string {
  switch (dest.kind) {
    case 'cpu':
      return `cpu${dest.cpu}`;
    case 'all':
      return 'all';
    case 'all-but-self':
      return 'all-but-self';
    case 'mask':
      return `mask[${dest.cpus.join(',')}]`;
  }
}

/** The CPUs a destination reaches. The shorthands reach every APIC present, online or not. */
export function targetsOf(dest: Destination, from: number | 'platform', cpus: number): number[] {
  switch (dest.kind) {
    case 'cpu':
      return [dest.cpu];
    case 'mask':
      return [...dest.cpus];
    case 'all': {
      const out = new Array<number>(cpus);
      for (let i = 0; i < cpus; i++) out[i] = i;
      return out;
    }
    case 'all-but-self': {
      const out: number[] = [];
      for (let i = 0; i < cpus; i++) if (i !== from) out.push(i);
      return out;
    }
  }
}
