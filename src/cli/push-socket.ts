/**
 * A WebSocket endpoint that only sends (RFC 6455): the inspection bridge pushes events to its
 * page and takes nothing back. The opening handshake is checked (version 13, a 16-byte key);
 * from the client only control frames are read — close is answered, ping ponged — and any data
 * frame closes the connection (1003), so nothing a client sends can reach another client.
 */
import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A client that lets this much queue unread is dropped rather than held in memory. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 0x10000) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else if (n >= 0x10000) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function closeFrame(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code, 0);
  return frame(OP_CLOSE, payload);
}

function refuseUpgrade(socket: Duplex, status: string, extra = ''): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`);
  socket.destroy();
}

export class PushClient {
  private buffered = Buffer.alloc(0);
  private open = true;

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    if (head.length > 0) this.read(head);
    socket.on('error', () => this.drop());
    socket.on('close', () => (this.open = false));
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Bytes written to the socket and not yet taken by the kernel. */
  get queued(): number {
    return (this.socket as Duplex & { writableLength: number }).writableLength;
  }

  /** Calls `listener` each time the socket's queue has drained. */
  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  /** Resolves when the socket's queue has drained or the connection is gone. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      if (!this.open) return resolve();
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Calls `listener` once the connection is gone (closed, dropped or broken). */
  onClose(listener: () => void): void {
    this.socket.on('close', listener);
  }

  /** Sends one text message; a client that lets too much queue unread is dropped, unless `force` (a last flush before closing). */
  send(text: string, force = false): void {
    if (!this.open) return;
    const s = this.socket as Duplex & { writableLength: number };
    if (!force && s.writableLength > MAX_QUEUED_BYTES) return this.drop();
    this.socket.write(frame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  close(code = 1001): void {
    if (!this.open) return;
    this.open = false;
    this.socket.end(closeFrame(code));
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  drop(): void {
    this.open = false;
    this.socket.destroy();
  }

  /** Client frames: masked, and here only control frames (≤ 125 bytes, unfragmented). */
  private read(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.open && this.buffered.length >= 2) {
      const b0 = this.buffered[0] as number;
      const b1 = this.buffered[1] as number;
      const opcode = b0 & 0x0f;
      const length = b1 & 0x7f;
      if (opcode < OP_CLOSE) return this.close(1003); // text, binary or continuation: this endpoint only sends
      if ((b0 & 0x80) === 0 || (b0 & 0x70) !== 0 || (b1 & 0x80) === 0 || length > 125 || opcode > OP_PONG) return this.close(1002);
      if (this.buffered.length < 6 + length) return;
      const mask = this.buffered.subarray(2, 6);
      const payload = Buffer.from(this.buffered.subarray(6, 6 + length));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
      this.buffered = this.buffered.subarray(6 + length);
      if (opcode === OP_CLOSE) return this.close(1000);
      if (opcode === OP_PING) {
        // A client that pings without reading the pongs would grow this process's memory without
        // bound: pongs count against the same queue limit as the events.
        const s = this.socket as Duplex & { writableLength: number };
        if (s.writableLength > MAX_QUEUED_BYTES) return this.drop();
        this.socket.write(frame(OP_PONG, payload));
      }
    }
  }
}

/**
 * Completes the opening handshake of `req` on `socket`, or answers 400/426 and ends it. The caller
 * has already checked `Host` and `Origin`.
 */
export function acceptPush(req: http.IncomingMessage, socket: Duplex, head: Buffer): PushClient | null {
  socket.on('error', () => socket.destroy());
  const key = req.headers['sec-websocket-key'];
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  const connection = (req.headers.connection ?? '').toLowerCase().split(/\s*,\s*/);
  if (req.method !== 'GET' || upgrade !== 'websocket' || !connection.includes('upgrade')) {
    refuseUpgrade(socket, '400 Bad Request');
    return null;
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    refuseUpgrade(socket, '426 Upgrade Required', 'Sec-WebSocket-Version: 13\r\n');
    return null;
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    refuseUpgrade(socket, '400 Bad Request');
    return null;
  }
  const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  return new PushClient(socket, head);
}
