/**
 * The inspect bridge's WebSocket endpoint against a client that pings and never reads: pongs count
 * against the same queue limit as events, so the client is dropped instead of this process's memory
 * growing without bound (a security review found 1.5 GB after 8 s of pings).
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PushClient } from '../../src/cli/push-socket.js';

/** A socket whose peer never reads: every write stays queued. */
class StuckSocket extends Duplex {
  override _read(): void {}
  override _write(_chunk: Buffer, _enc: BufferEncoding, _done: (e?: Error | null) => void): void {
    // never completes: the bytes stay in writableLength
  }
}

/** A masked ping frame with a 125-byte payload, as a client sends it. */
function ping(): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.alloc(125, 0x61);
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([Buffer.from([0x89, 0x80 | 125]), mask, payload]);
}

describe('push socket: a ping flood from a client that does not read', () => {
  it('is dropped once its queue passes the limit; the queue never grows far past it', () => {
    const socket = new StuckSocket({ highWaterMark: 1 });
    const client = new PushClient(socket, Buffer.alloc(0));
    const burst = Buffer.concat(Array.from({ length: 1000 }, ping));
    let sent = 0;
    // 200,000 pings: 25 MB of pongs if every one were answered.
    while (client.isOpen && sent < 200) {
      socket.emit('data', burst);
      sent += 1;
    }
    expect(client.isOpen).toBe(false);
    expect(sent).toBeLessThan(200);
    expect(socket.writableLength).toBeLessThan(17 * 1024 * 1024);
  });
});
