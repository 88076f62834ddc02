/** Words for the vhost-vsock packet-path records of a trace. */

type Credit = { txCnt: number; peerFwdCnt: number; peerBufAlloc: number };

/** A packet-path record (`t: 'vsock'`) in a line, for the CLI timeline and the viewer: what happened, with the numbers that matter for it. */
export function describeVsock(what: string, d: Record<string, unknown>): string {
  const port = (a: unknown, b: unknown) => `${String(a)}→${String(b)}`;
  switch (what) {
    case 'host-send':
      return d.errno
        ? `host socket send to CID ${String(d.cid)}: -${String(d.errno)} (no instance has it)`
        : Number(d.refused) > 0
          ? `host socket send ${port(d.srcPort, d.dstPort)} fails: the peer reset the connection; ${String(d.refused)} packets never sent`
          : `host socket sends ${String(d.count)}× ${String(d.op)} ${port(d.srcPort, d.dstPort)}, ${String(d.len)} bytes (to CID ${String(d.cid)})`;
    case 'guest-send':
      if (Number(d.held) > 0) return `guest socket holds ${String(d.held)} packets until its connect() has the RESPONSE (vCPU ${String(d.vcpu)})`;
      if (Number(d.refused) > 0) return `guest send fails: the peer reset the connection; ${String(d.refused)} packets never sent (vCPU ${String(d.vcpu)})`;
      if (d.packets === undefined || d.packets === 0) return `guest has nothing it may send now (vCPU ${String(d.vcpu)})`;
      return `guest sends ${String(d.packets)} packets: ${String(d.ring)} into TX and kicked${Number(d.waiting) > 0 ? `, ${String(d.waiting)} wait for a free descriptor` : ''} (vCPU ${String(d.vcpu)})`;
    case 'guest-driver-ready':
      return `guest driver probes: RX ring filled and kicked, DRIVER_OK (vCPU ${String(d.vcpu)})`;
    case 'guest-rx':
      return `guest takes the RX interrupt: ${String(d.consumed)} packets taken so far${Number(d.rst) > 0 ? `, ${String(d.rst)} answered with RST` : ''}`;
    case 'call':
      return d.irqfd ? `call on the ${d.queue === 0 ? 'RX' : 'TX'} queue → irqfd → guest interrupt` : `call on the ${d.queue === 0 ? 'RX' : 'TX'} queue: masked notifier, no interrupt`;
    case 'drop':
      return `packet ${String(d.id)} dropped: ${String(d.reason)}`;
    case 'tx-throttled':
      return `TX stopped: queued_replies ${String(d.queuedReplies)} ≥ TX.num ${String(d.txNum)}`;
    case 'packet':
      return `packet ${String(d.id)} taken from ${d.queue === 0 ? 'the send queue into RX' : 'TX'}${d.op ? ` (${String(d.op)}, ${String(d.len)} bytes)` : ''}`;
    case 'credit': {
      const h = d.h2g as Credit;
      const g = d.g2h as Credit;
      const connecting = d.connecting ? `, ${String(d.connecting)} connecting (no RESPONSE yet)` : '';
      const held = Number(d.guestHeld) > 0 ? `, ${String(d.guestHeld)} guest packets held` : '';
      return `stream ${String(d.key)}: host→guest ${h.txCnt - h.peerFwdCnt}/${h.peerBufAlloc} bytes in flight, guest→host ${g.txCnt - g.peerFwdCnt}/${g.peerBufAlloc}, ${String(d.backlog)} bytes waiting for credit${connecting}${held}`;
    }
    case 'stream-end':
      return d.connecting
        ? `stream ${String(d.key)}: RST to the ${String(d.side)}'s REQUEST, its connect() fails with ${String(d.errno)}; ${String(d.unsent)} packets never sent`
        : `stream ${String(d.key)}: RST from the peer closes the ${String(d.side)} socket (a send is ${String(d.errno)}); ${String(d.unsent)} packets never sent`;
    default:
      return `${what} ${JSON.stringify(d)}`;
  }
}
