/**
 * Credit-based flow control of a vsock stream connection (docs/model.md §5.5,
 * net/vmw_vsock/virtio_transport_common.c), one direction: a sender and the receiver it sends to.
 *
 * The receiver advertises `buf_alloc` (its receive buffer) and `fwd_cnt` (bytes its application
 * consumed) in every header it sends. The sender may have at most
 * `peer_buf_alloc − (tx_cnt − peer_fwd_cnt)` bytes in flight (`virtio_transport_get_credit`).
 * After a read, the receiver sends CREDIT_UPDATE when `buf_alloc − (fwd_cnt − last_fwd_cnt)` — its
 * buffer less what it consumed since it last told the peer — is under 64 KiB and it consumed
 * something (virtio_transport_stream_do_dequeue; 6.7+ also sends when rx_bytes is under
 * SO_RCVLOWAT, not modelled); a CREDIT_REQUEST is always answered.
 */

export const DEFAULT_BUF_ALLOC = 256 * 1024;
export const CREDIT_UPDATE_THRESHOLD = 64 * 1024;

export interface StreamCredit {
  /** Sender side: bytes sent in total, and the receiver's last advertised values. */
  readonly txCnt: number;
  readonly peerBufAlloc: number;
  readonly peerFwdCnt: number;
  /** Receiver side: bytes received, bytes its application consumed, its buffer, last advertised fwd_cnt. */
  readonly rxCnt: number;
  readonly fwdCnt: number;
  readonly bufAlloc: number;
  readonly lastAdvertisedFwdCnt: number;
}

/**
 * A new direction: the receiver's buffer is `bufAlloc`; the sender knows of it only `peerBufAlloc`,
 * which is 0 until a header of the receiver arrives — virtio_transport_do_socket_init allocates the
 * socket zeroed (kzalloc) and virtio_transport_space_update fills peer_buf_alloc/peer_fwd_cnt in from
 * each packet received, so a connecting socket has no credit before the RESPONSE.
 */
export function newCredit(bufAlloc = DEFAULT_BUF_ALLOC, peerBufAlloc = 0): StreamCredit {
  return { txCnt: 0, peerBufAlloc, peerFwdCnt: 0, rxCnt: 0, fwdCnt: 0, bufAlloc, lastAdvertisedFwdCnt: 0 };
}

/**
 * What the sender may still send. The kernel computes it in u32; if a receiver shrank its buffer
 * below what is already in flight the subtraction would wrap. Whether a kernel guards that was
 * not checked (UNVERIFIED); the model clamps to zero and the observer reports the state.
 */
export function credit(c: StreamCredit): number {
  return Math.max(0, c.peerBufAlloc - (c.txCnt - c.peerFwdCnt));
}

/** The receiver's buffered bytes (received, not yet read by its application). */
export function buffered(c: StreamCredit): number {
  return c.rxCnt - c.fwdCnt;
}

/** `virtio_transport_get_credit`: take up to `want` bytes of credit and send them. */
export function send(c: StreamCredit, want: number): { c: StreamCredit; sent: number } {
  const sent = Math.min(want, credit(c));
  return { c: { ...c, txCnt: c.txCnt + sent }, sent };
}

/** The packet arrives; the receiver queues its payload. */
export function receive(c: StreamCredit, bytes: number): StreamCredit {
  return { ...c, rxCnt: c.rxCnt + bytes };
}

/**
 * The receiving application reads up to `want` bytes. Returns whether the receiver sends a
 * CREDIT_UPDATE now: the free space it last advertised is below the threshold.
 */
export function read(c: StreamCredit, want: number): { c: StreamCredit; read: number; creditUpdate: boolean } {
  const n = Math.min(want, buffered(c));
  const next = { ...c, fwdCnt: c.fwdCnt + n };
  // virtio_transport_stream_do_dequeue: free_space = buf_alloc - (fwd_cnt - last_fwd_cnt).
  const delta = next.fwdCnt - next.lastAdvertisedFwdCnt;
  const freeSpace = next.bufAlloc - delta;
  return { c: next, read: n, creditUpdate: delta > 0 && freeSpace < CREDIT_UPDATE_THRESHOLD };
}

/** A CREDIT_UPDATE (or any header) reaches the sender: it learns buf_alloc and fwd_cnt. */
export function advertise(c: StreamCredit): StreamCredit {
  return { ...c, peerBufAlloc: c.bufAlloc, peerFwdCnt: c.fwdCnt, lastAdvertisedFwdCnt: c.fwdCnt };
}

/** The receiver shrinks or grows its buffer (SO_VM_SOCKETS_BUFFER_SIZE); the sender learns it on the next header. */
export function setBufAlloc(c: StreamCredit, bufAlloc: number): StreamCredit {
  return { ...c, bufAlloc };
}
