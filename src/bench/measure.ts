/**
 * Wall-clock and memory helpers for the bench only (the simulator itself never reads real time).
 */
import { readFileSync, writeFileSync } from 'node:fs';

export const MIB = 1024 * 1024;

export function now(): number {
  return performance.now();
}

/** Full collection when node runs with --expose-gc; a no-op otherwise. */
export function collect(): void {
  const gc = globalThis.gc;
  if (gc) {
    gc();
    gc();
  }
}

export const canCollect = (): boolean => typeof globalThis.gc === 'function';

export function rssMiB(): number {
  return process.memoryUsage.rss() / MIB;
}

export function heapUsedMiB(): number {
  return process.memoryUsage().heapUsed / MIB;
}

/**
 * Peak RSS of the process. On Linux the kernel keeps it (VmHWM) and lets a process reset it by
 * writing 5 to /proc/self/clear_refs, which gives an exact per-run peak. Elsewhere, fall back to
 * the largest value sampled with `sample()`.
 */
export class PeakRss {
  private sampled = 0;
  private readonly kernel: boolean;

  constructor() {
    this.kernel = PeakRss.kernelHwm() !== null;
  }

  get source(): string {
    return this.kernel ? 'VmHWM (reset per run)' : 'sampled';
  }

  reset(): void {
    this.sampled = rssMiB();
    if (!this.kernel) return;
    try {
      writeFileSync('/proc/self/clear_refs', '5');
    } catch {
      // Not allowed here: VmHWM keeps the process-wide peak; the sampled value still resets.
    }
  }

  sample(): void {
    const rss = rssMiB();
    if (rss > this.sampled) this.sampled = rss;
  }

  /** MiB since the last reset. */
  peak(): number {
    this.sample();
    const hwm = this.kernel ? PeakRss.kernelHwm() : null;
    return hwm === null ? this.sampled : Math.max(hwm, this.sampled);
  }

  private static kernelHwm(): number | null {
    try {
      const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      return m?.[1] === undefined ? null : Number(m[1]) / 1024;
    } catch {
      return null;
    }
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Integers with thousands separators, other numbers to `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...rows.map(line)].join('\n');
}
