/**
 * For tests of trace files a user gives the built command: the command as a process in a scratch
 * directory, a trace `run --trace` writes, and every command that reads a trace file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { builtCli } from './built-cli.js';

/** A scratch directory for this test file (removed after it), and the built command run in it. */
export function traceProcess(name: string) {
  const { dir, shootdown } = builtCli(name);

  /** The trace `run --trace` writes, as lines. */
  const traceOf = (scenario: string, extra: readonly string[] = []): string[] => {
    const file = path.join(dir, `${scenario}-${extra.join('')}.jsonl`);
    const r = shootdown(['run', scenario, '--trace', file, ...extra]);
    expect(r.status, r.stderr).toBe(0);
    return fs.readFileSync(file, 'utf8').trim().split('\n');
  };

  const write = (file: string, lines: string[]): string => {
    const at = path.join(dir, file);
    fs.writeFileSync(at, lines.join('\n') + '\n');
    return at;
  };

  const site = path.join(dir, 'site');
  /** Every command that reads a trace file, as arguments (`view --out` writes `site`). */
  const readers: [string, (file: string) => string[]][] = [
    ['export-trace (mermaid-sequence)', (f) => ['export-trace', f]],
    ['export-trace --format json', (f) => ['export-trace', f, '--format', 'json']],
    ['export-trace --format perfetto', (f) => ['export-trace', f, '--format', 'perfetto']],
    ['view --out', (f) => ['view', f, '--out', site]],
    ['run --replay', (f) => ['run', '--replay', f]],
  ];

  /** `args` run: the refusal every reader owes a trace no run wrote (exit 2, one line containing `message`, no output). */
  const expectRefused = (args: string[], message: string): void => {
    const r = shootdown(args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(message);
    expect(fs.existsSync(site)).toBe(false);
  };

  /** `args` run: read (exit 0); the site it may have written removed. */
  const expectRead = (args: string[]): void => {
    const r = shootdown(args);
    expect(r.status, r.stderr).toBe(0);
    fs.rmSync(site, { recursive: true, force: true });
  };

  return { dir, shootdown, traceOf, write, readers, expectRefused, expectRead };
}

/** `lines` with record `i` changed by `edit`. */
export function edited(lines: string[], i: number, edit: (r: Record<string, unknown>) => void): string[] {
  const out = [...lines];
  const r = JSON.parse(lines[i] as string) as Record<string, unknown>;
  edit(r);
  out[i] = JSON.stringify(r);
  return out;
}
