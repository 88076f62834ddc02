/**
 * The sockets' errors beside the streams (docs/model.md §5.5), for the vhost-vsock actor: every stream
 * an RST ended (`StreamEnd`) and the sockets that refuse writes since, and the host transport's
 * RESPONSE stamped with its socket's header.
 */
import type { DataPath, Packet } from './datapath.js';
import { hostHeader, streamKey, type End, type Stream, type StreamEnd, type Taken } from './streams.js';

/** What an actor keeps of its sockets' errors. */
export interface SocketErrors {
  /** Every stream an RST ended, in order. */
  streamEnds: StreamEnd[];
  /** Sockets ("host:key" / "guest:key") whose connection the peer reset: they refuse writes until a new REQUEST on those ports. */
  resetSockets: string[];
}

/** A socket whose connection the peer reset, as `resetSockets` names it. */
const socketName = (side: End, key: string) => `${side}:${key}`;

/**
 * The sockets' side of one end taking packets: each stream an RST ended is recorded, and its socket
 * refuses later writes until the program opens a new connection on those ports.
 */
export class Ends {
  streamEnds: StreamEnd[];
  resetSockets: string[];
  constructor(context: SocketErrors) {
    this.streamEnds = context.streamEnds;
    this.resetSockets = context.resetSockets;
  }
  note(t: Taken): Taken {
    if (t.ended) {
      this.streamEnds = [...this.streamEnds, t.ended];
      const name = socketName(t.ended.side, t.ended.key);
      if (!this.resetSockets.includes(name)) this.resetSockets = [...this.resetSockets, name];
    }
    return t;
  }
  /** A new socket connects on `key` from `side`: it has no error. */
  open(side: End, key: string): void {
    this.resetSockets = this.resetSockets.filter((n) => n !== socketName(side, key));
  }
  refuses(side: End, key: string): boolean {
    return this.resetSockets.includes(socketName(side, key));
  }
  get fields(): SocketErrors {
    return { streamEnds: this.streamEnds, resetSockets: this.resetSockets };
  }
}

/**
 * The host transport's RESPONSEs among the replies `first`.. of a TX run: the listener's child socket
 * stamps its header (virtio_transport_send_response → virtio_transport_inc_tx_pkt), which gives the
 * connecting guest its credit.
 */
export function stampResponses(dp: DataPath, first: number, streams: readonly Stream[]): DataPath {
  let changed = false;
  const sendQueue = dp.sendQueue.map((p): Packet => {
    if (p.id < first || p.op !== 'RESPONSE' || p.bufAlloc !== undefined) return p;
    const hdr = hostHeader(streams, streamKey(p.dstPort, p.srcPort));
    if (!hdr) return p;
    changed = true;
    return { ...p, ...hdr };
  });
  return changed ? { ...dp, sendQueue } : dp;
}
