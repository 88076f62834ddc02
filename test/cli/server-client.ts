/**
 * Clients for the server tests: node's http client for well-formed requests (with any Host or
 * Origin), and a raw socket for what no well-behaved client sends.
 */
import * as http from 'node:http';
import * as net from 'node:net';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(port: number, path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET', address = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `text` as is and reads until the server closes; the status from the first line (0: none). */
export function raw(port: number, text: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const reply = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0), text: reply });
    });
    socket.end(text);
  });
}

/** Whether a TCP connection to `address`:`port` is accepted. */
export function connects(port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, address);
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** A port nothing listens on right now (the OS's pick on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Holds 127.0.0.1:`port` (or finds it already held); `release()` frees it if it was ours. */
export function occupy(port: number): Promise<{ release(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve({ release: async () => {} }) : reject(e)));
    srv.listen(port, '127.0.0.1', () => resolve({ release: () => new Promise<void>((done) => srv.close(() => done())) }));
  });
}
