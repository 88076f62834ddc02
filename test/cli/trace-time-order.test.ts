/**
 * A trace file given by a user is untrusted input. A run writes its records in virtual-time order:
 * no record's `ns` is below the one before it's. A trace whose `ns` goes back was not written by a
 * run; every command that reads one (export-trace in each format, view, run --replay) refuses it
 * as bad input, through the built command as a process: exit 2, one line on stderr naming the file,
 * the line and both times, nothing on stdout, no output directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-trace-order-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
});

function shootdown(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The trace `run --trace` writes, as lines. */
function traceOf(scenario: string, extra: string[] = []): string[] {
  const file = path.join(dir, `${scenario}-${extra.join('')}.jsonl`);
  const r = shootdown(['run', scenario, '--trace', file, ...extra]);
  expect(r.status, r.stderr).toBe(0);
  return fs.readFileSync(file, 'utf8').trim().split('\n');
}

const nsOf = (line: string): number | undefined => (JSON.parse(line) as { ns?: number }).ns;

/** The first record with an `ns` after a record whose `ns` is above 0 (so that it can be set below that one's). */
function firstAfterTime(lines: string[]): number {
  let last: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const ns = nsOf(lines[i] as string);
    if (ns === undefined) continue;
    if (last !== undefined && last > 0) return i;
    last = ns;
  }
  throw new Error('no record after a time above 0');
}

/** The last `ns` on a line before `i`. */
function nsBefore(lines: string[], i: number): number {
  for (let k = i - 1; k > 0; k--) {
    const ns = nsOf(lines[k] as string);
    if (ns !== undefined) return ns;
  }
  throw new Error('no ns before');
}

function write(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** `lines` with record `i`'s ns set to `ns`. */
function withNs(lines: string[], i: number, ns: number): string[] {
  const out = [...lines];
  out[i] = JSON.stringify({ ...(JSON.parse(lines[i] as string) as object), ns });
  return out;
}

const READERS: [string, (file: string) => string[]][] = [
  ['export-trace (mermaid-sequence)', (f) => ['export-trace', f]],
  ['export-trace --format json', (f) => ['export-trace', f, '--format', 'json']],
  ['export-trace --format perfetto', (f) => ['export-trace', f, '--format', 'perfetto']],
  ['view --out', (f) => ['view', f, '--out', path.join(dir, 'site')]],
  ['run --replay', (f) => ['run', '--replay', f]],
];

describe.each([
  ['T5', []],
  ['T9', []],
  ['R2', ['--kernel', 'v5.10', '--seed', '3']],
] as const)('a trace of %s %s whose ns goes back', (scenario, extra) => {
  const lines = traceOf(scenario, [...extra]);
  // Early in the run and at its last record with a time (the end record).
  const early = firstAfterTime(lines);
  const last = lines.length - 1;
  expect(JSON.parse(lines[last] as string)).toMatchObject({ t: 'end' });

  it.each(READERS)('the untouched trace is read by %s (exit 0)', (_what, args) => {
    const r = shootdown(args(write('good.jsonl', lines)));
    expect(r.status, r.stderr).toBe(0);
    fs.rmSync(path.join(dir, 'site'), { recursive: true, force: true });
  });

  it.each(READERS)('%s: exit 2 naming the line and both times, nothing written', (_what, args) => {
    for (const i of [early, last]) {
      const before = nsBefore(lines, i);
      const file = write('back.jsonl', withNs(lines, i, before - 1));
      const r = shootdown(args(file));
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`back.jsonl: line ${i + 1}: ns ${before - 1} is before ${before}`);
      expect(fs.existsSync(path.join(dir, 'site'))).toBe(false);
    }
  });
});
