/**
 * Fair comparisons for the bench: two sides run interleaved in one process (A, B, A, B, …), so that
 * whatever else the machine does (it is shared) falls on both, and each pair gives one ratio. What
 * is reported is each side's median and range and the median and range of the per-pair ratios,
 * never a ratio of two single samples.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, now } from './measure.js';

/** The median, the smallest and the largest of some samples. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no samples');
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Runs `a` then `b`, `pairs` times, alternating; sample i of each side belongs to pair i. */
export function interleave<A, B>(pairs: number, a: (pair: number) => A, b: (pair: number) => B): { a: A[]; b: B[] } {
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`interleave: pairs must be a positive integer, got ${pairs}`);
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < pairs; i++) {
    as.push(a(i));
    bs.push(b(i));
  }
  return { a: as, b: bs };
}

/** `interleave` for sides that finish later (a child process awaited, a command's `main()`). */
export async function interleaveAsync<A, B>(pairs: number, a: (pair: number) => Promise<A> | A, b: (pair: number) => Promise<B> | B): Promise<{ a: A[]; b: B[] }> {
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`interleave: pairs must be a positive integer, got ${pairs}`);
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < pairs; i++) {
    as.push(await a(i));
    bs.push(await b(i));
  }
  return { a: as, b: bs };
}

export interface PairedSummary {
  pairs: number;
  a: Spread;
  b: Spread;
  /** a[i] / b[i] for each pair. */
  ratios: number[];
  ratio: Spread;
}

/** Both sides' spreads and the spread of the per-pair ratios a[i] / b[i]. */
export function pairedSummary(a: readonly number[], b: readonly number[]): PairedSummary {
  if (a.length !== b.length) throw new Error(`paired samples differ in count: ${a.length} and ${b.length}`);
  const ratios = a.map((x, i) => x / (b[i] as number));
  return { pairs: a.length, a: spread(a), b: spread(b), ratios, ratio: spread(ratios) };
}

/** `1.23× (0.98–1.40×)`: a ratio's median and range. */
export function ratioText(s: Spread, digits = 2): string {
  return `${s.median.toFixed(digits)}× (${s.min.toFixed(digits)}–${s.max.toFixed(digits)}×)`;
}

/** `1,234 (1,100–1,300)` with a formatter for each number. */
export function spreadText(s: Spread, f: (n: number) => string): string {
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export interface ProcessRun {
  /** Wall-clock milliseconds from spawn to exit, as a user waits for it. */
  ms: number;
  /**
   * CPU milliseconds (user + system, every thread: GC and JIT threads run beside the main one) when
   * GNU time is at /usr/bin/time, else null. On a shared machine the wall clock also counts the time
   * the process waited for a core; this does not.
   */
  cpuMs: number | null;
  status: number | null;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
let gnuTime: boolean | undefined;

function hasGnuTime(): boolean {
  if (gnuTime === undefined) {
    const r = spawnSync(GNU_TIME, ['-f', '%U', 'true'], { encoding: 'utf8' });
    gnuTime = !r.error && r.status === 0 && /^\d+\.\d+\s*$/.test(r.stderr);
  }
  return gnuTime;
}

/** One command in a fresh process, timed from spawn to exit (and its CPU time, where GNU time is there). */
export function timeProcess(command: string, args: readonly string[], options: { cwd?: string; cpu?: boolean } = {}): ProcessRun {
  const cpuFile = options.cpu && hasGnuTime() ? path.join(os.tmpdir(), `shootdown-bench-time-${process.pid}.txt`) : null;
  const [cmd, argv] = cpuFile ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, command, ...args]] : [command, [...args]];
  const t0 = now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 256 << 20, ...(options.cwd ? { cwd: options.cwd } : {}) });
  const ms = now() - t0;
  if (r.error) throw r.error;
  let cpuMs: number | null = null;
  if (cpuFile) {
    // GNU time writes "Command exited with non-zero status N" before the figures when the command fails.
    const last = fs.readFileSync(cpuFile, 'utf8').trim().split('\n').pop() ?? '';
    fs.rmSync(cpuFile, { force: true });
    const [user, sys] = last.split(' ').map(Number);
    if (Number.isFinite(user) && Number.isFinite(sys)) cpuMs = ((user as number) + (sys as number)) * 1000;
  }
  return { ms, cpuMs, status: r.status, stdout: r.stdout, stderr: r.stderr };
}
