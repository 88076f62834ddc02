/** Streams trace records to a file as JSON lines through a small buffer (one write per ~64 KiB). */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import type { TraceRecord } from '../trace/records.js';

export class TraceFile {
  private fd: number | null;
  private chunks: string[] = [];
  private pending = 0;
  records = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    private readonly flushAt = 64 * 1024,
  ) {
    this.fd = openSync(path, 'w');
  }

  write(record: TraceRecord): void {
    const line = JSON.stringify(record) + '\n';
    this.chunks.push(line);
    this.pending += line.length;
    this.records += 1;
    if (this.pending >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.fd === null || this.chunks.length === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.pending = 0;
    this.bytes += writeSync(this.fd, text);
  }

  /** Flush, close and delete the file. */
  remove(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.path, { force: true });
  }
}
