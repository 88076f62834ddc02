/**
 * Trace files: JSON lines, streamed through a buffer to `<file>.partial` and renamed into place
 * when the run ends, so a failed run never leaves a half-written trace; and reading one back for
 * replay.
 */
import * as fs from 'node:fs';
import { TRACE_VERSION, type TraceRecord } from './records.js';
import type { Pick } from '../sim/chooser.js';

const FLUSH_AT = 64 * 1024;

export class TraceFileWriter {
  private readonly partial: string;
  private fd: number | null;
  private buffer: string[] = [];
  private size = 0;

  constructor(private readonly file: string) {
    this.partial = `${file}.partial`;
    this.fd = fs.openSync(this.partial, 'w');
  }

  write(line: string): void {
    this.buffer.push(line);
    this.size += line.length + 1;
    if (this.size >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.fd === null || this.buffer.length === 0) return;
    fs.writeSync(this.fd, this.buffer.join('\n') + '\n');
    this.buffer = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    fs.renameSync(this.partial, this.file);
  }

  abort(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    fs.rmSync(this.partial, { force: true });
  }
}

export interface ReadTrace {
  seed: number;
  mode: 'timed' | 'untimed';
  cpus: number;
  preset: string;
  switches: string[];
  scenario: string;
  picks: Pick[];
  /** Every line, as written. */
  records: string[];
}

export function readTrace(text: string): { ok: true; trace: ReadTrace } | { ok: false; error: string } {
  const records = text.split('\n').filter((l) => l.length > 0);
  const picks: Pick[] = [];
  let header: Extract<TraceRecord, { t: 'header' }> | null = null;
  for (let i = 0; i < records.length; i++) {
    let r: TraceRecord;
    try {
      r = JSON.parse(records[i] as string) as TraceRecord;
    } catch {
      return { ok: false, error: `line ${i + 1} is not JSON` };
    }
    if (typeof r !== 'object' || r === null || typeof (r as { t?: unknown }).t !== 'string') {
      return { ok: false, error: `line ${i + 1} is not a trace record` };
    }
    if (i === 0) {
      if (r.t !== 'header') return { ok: false, error: 'the first line is not a trace header' };
      if (r.v !== TRACE_VERSION) return { ok: false, error: `trace version ${String(r.v)} (this shootdown reads ${TRACE_VERSION})` };
      header = r;
    } else if (r.t === 'choice') {
      if (!Number.isInteger(r.pick) || !Number.isInteger(r.n) || r.pick < 0 || r.pick >= r.n) {
        return { ok: false, error: `line ${i + 1}: a choice of ${String(r.pick)} among ${String(r.n)}` };
      }
      picks.push({ kind: r.kind, n: r.n, pick: r.pick });
    }
  }
  if (!header) return { ok: false, error: 'empty trace' };
  return { ok: true, trace: {
      seed: header.seed,
      mode: header.mode ?? 'timed',
      cpus: header.cpus,
      preset: header.preset,
      switches: header.switches,
      scenario: header.scenario,
      picks,
      records,
    },
  };
}
