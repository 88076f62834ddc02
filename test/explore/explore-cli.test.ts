/**
 * `shootdown explore` as a user meets it: what the exit code says about the search, which bound
 * stopped it and how to raise it, one counterexample per property (the shortest) unless
 * --all-violations, trace files named by their content and written safely, option values checked
 * before anything runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-explore-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Json {
  complete: boolean;
  stoppedBy: string[];
  statesVisited: number;
  violations: { property: string; message: string; traceFile: string; length: number }[];
}

async function explore(args: string[], out = dir, extra: object = {}): Promise<{ code: number; json: Json; err: string }> {
  const t = memoryIo();
  const code = await main(['explore', ...args, '--json', '--out', out], Object.assign(t.cli, extra));
  return { code, json: JSON.parse(t.out()) as Json, err: t.err() };
}

describe('exit codes and bounds', () => {
  it('a search cut by --max-states with nothing found exits 3 and names the bound and how to raise it', async () => {
    const { code, json } = await explore(['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-states', '300']);
    expect(json).toMatchObject({ complete: false, stoppedBy: ['max-states'], violations: [] });
    expect(code).toBe(3);
    const t = memoryIo();
    expect(await main(['explore', 'R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-states', '300', '--out', dir], t.cli)).toBe(3);
    expect(t.out()).toMatch(/NOT complete\n {2}stopped: the state bound was reached: raise it with --max-states N/);
    expect(t.out()).toMatch(/no violation found, but the search is NOT complete/);
  });

  it('a search cut by --max-depth says so', async () => {
    const { code, json } = await explore(['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-depth', '10']);
    expect(json).toMatchObject({ complete: false, stoppedBy: ['max-depth'] });
    expect(code).toBe(3);
  });

  it('a complete search with no violation exits 0', async () => {
    const { code, json } = await explore(['R1', '--kernel', 'mainline']);
    expect(json).toMatchObject({ complete: true, stoppedBy: [], violations: [] });
    expect(code).toBe(0);
  });

  it('random walks never exhaust the space: none found is exit 3, not 0', async () => {
    const { code, json } = await explore(['R1', '--kernel', 'mainline', '--strategy', 'random', '--runs', '5']);
    expect(json).toMatchObject({ complete: false, stoppedBy: ['sampled'], violations: [] });
    expect(code).toBe(3);
  });

  it('--help gives the bounds\' defaults and the exit codes', async () => {
    const t = memoryIo();
    expect(await main(['explore', '--help'], t.cli)).toBe(0);
    expect(t.out()).toMatch(/--max-states 1,000,000/);
    expect(t.out()).toMatch(/3 stopped at a\s+bound with none found/);
  });

  it('a progress line goes to stderr when it is not a terminal', async () => {
    const { err } = await explore(['R2', '--kernel', 'v5.11', '--property', 'reboot-completes'], dir, { isTty: false, progressMs: 0 });
    expect(err).toMatch(/^explore: \d+ states, \d+ states\/s, depth \d+, frontier \d+, \d+ s$/m);
  });

  it('with --workers 2 too, summed over the workers', async () => {
    const { err } = await explore(['R2', '--kernel', 'v5.11', '--property', 'reboot-completes', '--workers', '2'], dir, { isTty: false, progressMs: 0 });
    expect(err).toMatch(/^explore: \d+ states, \d+ states\/s, depth \d+, frontier \d+, \d+ s$/m);
  });
});

describe('one counterexample per property, the shortest', () => {
  it('stops at each property\'s first violation (fewer states); --all-violations goes on, and none of its runs is shorter', async () => {
    const first = await explore(['R2', '--kernel', 'v5.11', '--cpus', '3', '--property', 'no-kernel-bug']);
    expect(first.code).toBe(1);
    expect(first.json.violations).toHaveLength(1);
    expect(first.json.stoppedBy).toEqual(['violations']);
    const all = await explore(['R2', '--kernel', 'v5.11', '--cpus', '3', '--property', 'no-kernel-bug', '--all-violations']);
    expect(all.json.complete).toBe(true);
    expect(all.json.violations.length).toBeGreaterThan(1);
    expect(first.json.statesVisited).toBeLessThan(all.json.statesVisited);
    const shortest = Math.min(...all.json.violations.map((v) => v.length));
    expect(first.json.violations[0]?.length).toBe(shortest);
  });
});

describe('counterexample files', () => {
  it('are named by their content: the same names with 1 and 2 workers', async () => {
    const a = await explore(['R2', '--kernel', 'v5.11'], path.join(dir, 'w1'));
    const b = await explore(['R2', '--kernel', 'v5.11', '--workers', '2'], path.join(dir, 'w2'));
    const names = (j: Json) => j.violations.map((v) => path.basename(v.traceFile)).sort();
    expect(names(a.json).length).toBeGreaterThan(0);
    expect(names(b.json)).toEqual(names(a.json));
    for (const v of a.json.violations) expect(path.basename(v.traceFile)).toMatch(/^R2-v5\.11-[a-z-]+-[0-9a-f]{12}\.jsonl$/);
  });

  it('never write through a link: not one in their place, not one where a temporary file used to go', async () => {
    const out = path.join(dir, 'links');
    const first = await explore(['R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug'], out);
    const file = first.json.violations[0]?.traceFile as string;
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'keep me\n');
    fs.rmSync(file);
    fs.symlinkSync(victim, file);
    fs.symlinkSync(victim, `${file}.partial`);
    await explore(['R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug'], out);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.partial') && f !== `${path.basename(file)}.partial`)).toEqual([]);
  });
});

describe('bad values are refused before the search (exit 2, one line, no stack)', () => {
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  it.each([
    [['--max-states', '-5'], /--max-states: expected a whole number from 1 to 1,000,000,000, got "-5" \(too small\)/],
    [['--max-states', '1e6'], /--max-states: expected a whole number .*got "1e6" \(digits only/],
    [['--max-depth', '0'], /--max-depth: expected a whole number from 1 to 10,000,000, got "0"/],
    [['--max-time', '-1'], /--max-time: expected a whole number from 1 to/],
    [['--seed', '4294967296'], /--seed: expected a whole number from 0 to 4,294,967,295, got "4294967296" \(too large\)/],
    [['--runs', '2.5'], /--runs: expected a whole number/],
    [['--pct-depth', ''], /--pct-depth: expected a whole number from 1 to 100, got an empty value/],
    [['--workers', '65'], /--workers: expected a whole number from 1 to 64/],
    [['--cpus', '-2'], /--cpus: expected a whole number from 1 to 64, got "-2"/],
    [['--out', ''], /--out: expected a directory for the counterexample traces, got ''/],
    [['--out', file], /--out: '.*a-file' exists and is not a directory/],
    [['--out', path.join(file, 'sub')], /--out: '.*a-file\/sub' is under a file, not a directory/],
    [['--out', '/sys/shootdown-test'], /--out: '\/sys\/shootdown-test' is in \/sys, a pseudo-filesystem/],
    [['--out', '/proc/sys/x'], /--out: '\/proc\/sys\/x' is in \/proc, a pseudo-filesystem/],
  ])('%j', async (args, message) => {
    const t = memoryIo();
    expect(await main(['explore', 'R2', '--kernel', 'v5.11', ...args], t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err().trim().split('\n')).toHaveLength(1);
    expect(t.out()).toBe('');
  });
});
