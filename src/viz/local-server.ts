/**
 * What every shootdown server does before it answers: listen on loopback unless told otherwise,
 * refuse a request whose `Host` is not this server (a DNS-rebinding page sends its own name) or
 * whose `Origin` is another site (a page elsewhere reaching in), and answer a request it cannot
 * parse with a status rather than a throw. Shared by the viewer (`shootdown view`) and the
 * inspection bridge (`run --inspect`).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';

export const LOOPBACK = '127.0.0.1';

/** 127.0.0.0/8, ::1 and `localhost`: only this machine can connect there. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return net.isIPv4(h) && h.startsWith('127.');
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `--host`: an IP address or a host name, nothing that could smuggle anything else. */
export function validHost(text: string): boolean {
  const h = text.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(h) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(h);
}

/** The host part of a URL for `host`: IPv6 in brackets. */
export function urlHost(host: string): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return net.isIPv6(h) ? `[${h}]` : h;
}

/** `Host` as sent: name (lowercase, brackets and a trailing dot dropped) and port (80 when absent). */
function parseHostHeader(value: string): { name: string; port: number } | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m || m[1] === undefined) return null;
  return { name: m[1].toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''), port: m[2] === undefined ? 80 : Number(m[2]) };
}

/**
 * The names a browser may use for a server bound to `bound`. On loopback: `localhost` and the
 * loopback addresses. On one address: that address, or the name given for it. On every interface
 * (0.0.0.0, ::): any address literal, `localhost` and this machine's name — a DNS-rebinding page
 * always sends a name of its own, never an address.
 */
function nameAllowed(bound: string, name: string): boolean {
  const b = bound.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (isLoopback(b)) return isLoopback(name);
  if (isWildcard(bound)) return net.isIP(name) !== 0 || name === 'localhost' || name === os.hostname().toLowerCase();
  return name === b;
}

export interface Refusal {
  status: number;
  message: string;
}

/**
 * Why a request to a server listening on `port`, bound to `bound` (the host given and the address
 * it resolved to), is refused; null when it may be answered.
 */
export function refusal(req: Pick<http.IncomingMessage, 'headers' | 'rawHeaders'>, bound: readonly string[], port: number): Refusal | null {
  const { headers } = req;
  // RFC 9112 3.2: a request with more than one Host is answered 400. Node keeps the first; a proxy in
  // front might route on the other. The same for Origin, which decides what may call the server.
  for (const name of ['host', 'origin']) {
    let n = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) n += 1;
    if (n > 1) return { status: 400, message: `the request has ${n} ${name === 'host' ? 'Host' : 'Origin'} headers; one is expected` };
  }
  const host = headers.host;
  const parsed = host === undefined ? null : parseHostHeader(host);
  const allowed = (name: string) => bound.some((b) => nameAllowed(b, name));
  if (!parsed || parsed.port !== port || !allowed(parsed.name)) {
    return { status: 421, message: `this server answers to its own name and port ${port} only, not to Host ${JSON.stringify(host ?? '')}` };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let ok = false;
    try {
      const u = new URL(origin);
      const o = parseHostHeader(u.host);
      ok = u.protocol === 'http:' && o !== null && o.port === port && allowed(o.name) && u.origin === origin;
    } catch {
      ok = false;
    }
    if (!ok) return { status: 403, message: `requests from ${JSON.stringify(origin)} are not answered: only this server's own pages may call it` };
  }
  return null;
}

/** The request target's path, decoded; null when it is not an origin-form path or not valid percent-encoding. */
export function requestPath(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) return null;
  const end = url.search(/[?#]/);
  try {
    return decodeURIComponent(end >= 0 ? url.slice(0, end) : url);
  } catch {
    return null;
  }
}

/** Headers every answer carries: no sniffing, no caching, no framing; `csp` for what the page may load. */
export function baseHeaders(csp: string): http.OutgoingHttpHeaders {
  return {
    'cache-control': 'no-store',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
  };
}

export function answer(res: http.ServerResponse, status: number, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    ...baseHeaders("default-src 'none'; frame-ancestors 'none'"),
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * An HTTP server that survives its clients: a request line or headers node cannot parse gets a
 * 400 (431 when too long), a handler that throws gets a 500, and `close()` ends every connection,
 * upgraded ones included, so the process can exit.
 */
export interface LocalServer {
  server: http.Server;
  close(): Promise<void>;
}

export function localServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): LocalServer {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    try {
      handler(req, res);
    } catch {
      if (!res.headersSent) answer(res, 500, 'internal error');
      else res.destroy();
    }
  });
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\r\nbad request\n`);
    }
    socket.destroy();
  });
  return {
    server,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        for (const s of sockets) s.destroy();
      }),
  };
}

export interface Listening {
  port: number;
  /** The URL a browser on this machine opens: the host given, 127.0.0.1 for 0.0.0.0 and ::. */
  url: string;
  /** What the server is bound to, as given and as resolved: what `refusal` checks `Host` against. */
  names: string[];
  /** Set when `port` was taken and the next free one is used instead. */
  wanted?: number;
}

function listenOnce(server: http.Server, port: number, host: string): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', onError);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/**
 * Listens on `host`:`port`; when `tries` > 1 and the port is in use, on the next ports after it.
 * Errors (EADDRINUSE on the last try, EACCES, EADDRNOTAVAIL) are the caller's to word.
 */
export async function listen(server: http.Server, host: string, port: number, tries = 1): Promise<Listening> {
  for (let k = 0; ; k++) {
    try {
      const bound = await listenOnce(server, port + k, host);
      // A name given stays the name (the browser resolves it as the server did); an address is the one bound.
      const shown = isWildcard(bound.address) ? LOOPBACK : net.isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0 ? bound.address : host;
      const url = `http://${urlHost(shown)}:${bound.port}/`;
      const names = [host, bound.address];
      return k === 0 ? { port: bound.port, url, names } : { port: bound.port, url, names, wanted: port };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || k + 1 >= tries || port === 0 || port + k + 1 > 65535) throw e;
    }
  }
}

/** The words for a listen error, or null when it is not one a user can act on. */
export function listenError(e: unknown, flag: string, port: number, hostFlag: string, host: string): string | null {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `${flag} ${port}: the port is in use on ${host} (give another, or 0 for any free port)`;
    case 'EACCES':
      return `${flag} ${port}: not allowed to listen there`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${hostFlag} ${host}: not an address of this machine`;
    default:
      return null;
  }
}

/** What the console says about where a server listens. */
export function bindingNote(host: string, hostFlag: string): string {
  return isLoopback(host) ? `listening on ${host} only: nothing outside this machine can connect (${hostFlag} ADDR to change)` : `listening on ${host}`;
}

/** The stderr line for a server opened beyond loopback, or null on loopback. */
export function exposureWarning(host: string, port: number, hostFlag: string): string | null {
  return isLoopback(host) ? null : `warning: ${hostFlag} ${host} is not a loopback address: anyone who can reach this machine on port ${port} can read what this server shows\n`;
}
