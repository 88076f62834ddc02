/**
 * Properties of the vhost-vsock packet path (docs/model.md §5.7), checked from what the worker
 * recorded: every packet it took with the backend and the reply count it saw. Like the trace
 * observers, they re-derive each rule from the record rather than trusting the model's own flags.
 *
 * They read a `DataPath` (src/vhost/datapath.ts) directly: the checks of the packet-path model on its
 * own (unit and property tests of src/vhost). In a run the same rules are trace observers,
 * src/spec/vsock.ts, which re-derive them from the records.
 */
import type { DataPath } from '../vhost/datapath.js';
import { balance, fates } from '../vhost/datapath.js';
import type { Violation } from './observer.js';
import type { StreamCredit } from '../vhost/credit.js';

/**
 * Credit never goes negative: bytes in flight never exceed what the receiver last advertised,
 * and the receiver never holds more than its buffer.
 */
export function creditNeverNegative(c: StreamCredit): Violation[] {
  const out: Violation[] = [];
  const inFlight = c.txCnt - c.peerFwdCnt;
  if (inFlight > c.peerBufAlloc) {
    out.push({ property: 'vsock-credit-never-negative', message: `${inFlight} bytes in flight > advertised buf_alloc ${c.peerBufAlloc}` });
  }
  if (c.rxCnt - c.fwdCnt > c.bufAlloc) {
    out.push({ property: 'vsock-credit-never-negative', message: `receiver holds ${c.rxCnt - c.fwdCnt} bytes > buf_alloc ${c.bufAlloc}` });
  }
  return out;
}

/** No packet is processed while its queue's backend is NULL. */
export function noPacketWithoutBackend(dp: DataPath): Violation[] {
  return dp.processed
    .filter((p) => !p.backend)
    .map((p) => ({
      property: 'vsock-no-packet-without-backend',
      message: `packet ${p.id} was processed on the ${p.queue === 0 ? 'RX' : 'TX'} queue while its backend was NULL`,
    }));
}

/** TX is never processed with queued_replies at or above TX.num: the kernel throttles first. */
export function repliesThrottleTx(dp: DataPath): Violation[] {
  return dp.processed
    .filter((p) => p.queue === 1 && p.queuedReplies >= p.txNum)
    .map((p) => ({
      property: 'vsock-replies-throttle-tx',
      message: `TX packet ${p.id} was processed with queued_replies ${p.queuedReplies} ≥ TX.num ${p.txNum}`,
    }));
}

/** sent = delivered + queued + dropped, each packet in exactly one fate, each drop with a reason. */
export function packetsBalance(dp: DataPath): Violation[] {
  const b = balance(dp);
  const out: Violation[] = [];
  const dropped = b.dropped.reduce((n, d) => n + d.count, 0);
  if (b.sent !== b.delivered + b.queued + dropped) {
    out.push({
      property: 'vsock-packets-balance',
      message: `sent ${b.sent} ≠ delivered ${b.delivered} + queued ${b.queued} + dropped ${dropped}`,
    });
  }
  const ids = fates(dp);
  const seen = new Set<number>();
  for (const id of ids) {
    if (seen.has(id)) out.push({ property: 'vsock-packets-balance', message: `packet ${id} has two fates` });
    seen.add(id);
  }
  if (dp.queuedReplies < 0) out.push({ property: 'vsock-packets-balance', message: `queued_replies is ${dp.queuedReplies}` });
  return out;
}

export function vsockDataPathViolations(dp: DataPath): Violation[] {
  return [...noPacketWithoutBackend(dp), ...repliesThrottleTx(dp), ...packetsBalance(dp)];
}
