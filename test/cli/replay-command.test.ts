/**
 * The replay command the CLI prints works as printed: a trace's header keeps only a scenario file's id,
 * so a counterexample of a scenario file is replayed by naming the file, quoted for a shell, with no
 * control character reaching the terminal.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { memoryIo } from './memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-replay-command-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The words a shell makes of `line` (bash, for its `$'…'`). */
function shellWords(line: string): string[] {
  const r = spawnSync('bash', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo();
  const code = await main(args, t.cli);
  return { code, out: t.out(), err: t.err() };
}

describe('the replay command explore prints', () => {
  it.each([['my race.json'], ["it's\nodd\x1b[2J.json"], ['c1\u0085\u202e.json']])('for the scenario file %j names the file, and pasted into a shell it reproduces the counterexample', async (name) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(findBuiltin('R2')?.raw));
    const { code, out } = await cli(['explore', file, '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--no-pnr', '--out', path.join(dir, 'traces')]);
    expect(code).toBe(1);
    const line = /shortest run found: \d+ decisions — shootdown run (.*)$/m.exec(out)?.[1] as string;
    expect(line).toBeDefined();
    // Nothing the terminal would obey: no escape, no newline inside the command.
    expect(line).not.toMatch(/[\u0000-\u001f\u007f]/);
    const words = shellWords(line);
    expect(words).toHaveLength(3);
    expect(words.slice(0, 2)).toEqual([file, '--replay']);
    const replay = await cli(['run', ...words]);
    expect(replay.err).toMatch(/replay: reproduced all \d+ trace lines/);
    expect(replay.code).toBe(0);
  });

  it('for a built-in names only the trace', async () => {
    const { out } = await cli(['explore', 'R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--no-pnr', '--out', path.join(dir, 'builtin')]);
    const line = /shortest run found: \d+ decisions — shootdown run (.*)$/m.exec(out)?.[1] as string;
    const words = shellWords(line);
    expect(words[0]).toBe('--replay');
    expect((await cli(['run', ...words])).code).toBe(0);
  });
});

describe('run --replay of a scenario file\'s trace without the file', () => {
  it('says to name the file, with the command to paste', async () => {
    const file = path.join(dir, 'mine.json');
    const trace = path.join(dir, 'mine.jsonl');
    fs.writeFileSync(file, JSON.stringify(findBuiltin('T5')?.raw));
    expect((await cli(['run', file, '--trace', trace])).code).toBe(0);
    const { code, err } = await cli(['run', '--replay', trace]);
    expect(code).toBe(2);
    expect(err).toContain(`name the file, shootdown run <file> --replay ${trace}`);
    expect((await cli(['run', file, '--replay', trace])).code).toBe(0);
  });
});

describe('a trace of a scenario file keeps what the file said (header.scenarioDigest)', () => {
  // A file named like a built-in, with a stall the built-in R2 does not have: replayed against the
  // built-in, the run would diverge where the stall comes (exit 1, a confusing message).
  const raw = JSON.parse(JSON.stringify(findBuiltin('R2')?.raw)) as { script: unknown[] };
  raw.script.push({ cpu: 0, do: 'stall', when: { cpu: 0, enters: 'emergencyRestart.shoot.setIssued' } });
  const sub = path.join(dir, 'digest');
  fs.mkdirSync(sub);
  const file = path.join(sub, 'R2.json');
  const trace = path.join(sub, 'r2.jsonl');

  it('a replay against the built-in of the same name is refused (exit 2), naming the file to give', async () => {
    fs.writeFileSync(file, JSON.stringify(raw));
    expect((await cli(['run', file, '--kernel', 'v6.2', '--trace', trace])).code).toBe(0);
    const header = JSON.parse(fs.readFileSync(trace, 'utf8').split('\n')[0] as string) as { scenario: string; scenarioDigest?: string };
    expect(header.scenario).toBe('R2');
    expect(header.scenarioDigest).toMatch(/^[0-9a-f]{16}$/);
    const again = path.join(sub, 'again.jsonl');
    const r = await cli(['run', '--replay', trace, '--trace', again]);
    expect(r.err).toMatch(/^shootdown: the built-in scenario R2 contradicts the trace .*r2\.jsonl: it was recorded on a scenario file named R2 \(header\.scenarioDigest [0-9a-f]{16}\), not on the built-in: name that file, shootdown run <file> --replay /);
    expect(r.code).toBe(2);
    expect(fs.existsSync(again)).toBe(false);
    const ok = await cli(['run', file, '--replay', trace]);
    expect(ok.err).toMatch(/replay: reproduced all/);
    expect(ok.code).toBe(0);
  });

  it('a replay against the file edited since is refused; a description edit is not an edit of the run', async () => {
    if (!fs.existsSync(trace)) {
      fs.writeFileSync(file, JSON.stringify(raw));
      expect((await cli(['run', file, '--kernel', 'v6.2', '--trace', trace])).code).toBe(0);
    }
    fs.writeFileSync(file, JSON.stringify({ ...raw, description: 'said otherwise' }));
    expect((await cli(['run', file, '--replay', trace])).code).toBe(0);
    fs.writeFileSync(file, JSON.stringify({ ...raw, script: raw.script.slice(0, 2) }));
    const r = await cli(['run', file, '--replay', trace]);
    expect(r.err).toMatch(/^shootdown: scenario file .*R2\.json \(digest [0-9a-f]{16}\) contradicts the trace .*: it was recorded on other contents \(header\.scenarioDigest [0-9a-f]{16}\): the file was edited since/);
    expect(r.code).toBe(2);
    fs.writeFileSync(file, JSON.stringify(raw));
  });

  it('a trace with no digest (written before digests) is taken at its word; a malformed one is refused', async () => {
    fs.writeFileSync(file, JSON.stringify(raw));
    if (!fs.existsSync(trace)) expect((await cli(['run', file, '--kernel', 'v6.2', '--trace', trace])).code).toBe(0);
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    const header = JSON.parse(lines[0] as string) as Record<string, unknown>;
    delete header.scenarioDigest;
    const old = path.join(sub, 'old.jsonl');
    fs.writeFileSync(old, [JSON.stringify(header), ...lines.slice(1)].join('\n'));
    const r = await cli(['run', file, '--replay', old]);
    expect(r.err).toMatch(/replay: reproduced all/);
    expect(r.code).toBe(0);
    header.scenarioDigest = 'not hex';
    fs.writeFileSync(old, [JSON.stringify(header), ...lines.slice(1)].join('\n'));
    const bad = await cli(['run', file, '--replay', old]);
    expect(bad.err).toMatch(/header\.scenarioDigest: expected 16 hexadecimal digits/);
    expect(bad.code).toBe(2);
  });
});

describe('a replay with options that contradict its trace\'s header is bad input (exit 2), not a divergence', () => {
  const trace = path.join(dir, 't5.jsonl');
  it.each([
    [['--kernel', 'v5.10'], /^shootdown: --kernel v5\.10 contradicts the trace .*t5\.jsonl: it was recorded with kernel mainline \(header\.preset\)/],
    [['--no-fix', 'vmxoff-eats-faults'], /^shootdown: --no-fix vmxoff-eats-faults contradicts the trace .*: it was recorded with vmxoff-eats-faults on \(header\.switches\)/],
    [['--fix', 'rsm-clears-nested-run-pending'], /^shootdown: --fix rsm-clears-nested-run-pending contradicts the trace .*: it was recorded with rsm-clears-nested-run-pending off \(header\.switches\)/],
    [['T1'], /^shootdown: scenario T1 contradicts the trace .*: it was recorded on scenario T5 \(header\.scenario\)/],
  ])('run --replay with %j is refused before anything runs or is written', async (extra, message) => {
    if (!fs.existsSync(trace)) expect((await cli(['run', 'T5', '--trace', trace])).code).toBe(0);
    const header = JSON.parse(fs.readFileSync(trace, 'utf8').split('\n')[0] as string) as { preset: string; switches: string[] };
    expect(header.preset).toBe('mainline');
    expect(header.switches).toContain('vmxoff-eats-faults');
    const again = path.join(dir, `again-${extra.join('-')}.jsonl`);
    const r = await cli(['run', '--replay', trace, ...extra, '--trace', again]);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(fs.existsSync(again)).toBe(false);
  });

  it('options that say what the header says are fine', async () => {
    if (!fs.existsSync(trace)) expect((await cli(['run', 'T5', '--trace', trace])).code).toBe(0);
    const r = await cli(['run', 'T5', '--replay', trace, '--kernel', 'mainline', '--fix', 'vmxoff-eats-faults']);
    expect(r.err).toMatch(/replay: reproduced all/);
    expect(r.code).toBe(0);
  });
});

describe('a replay that repeats its trace\'s options', () => {
  it('--fix already in the header is listed once; a header option named like an inherited property is not taken for one', async () => {
    const trace = path.join(dir, 't2.jsonl');
    expect((await cli(['run', 'T5', '--kernel', 'v6.2', '--fix', 'stop-cpus-mask', '--trace', trace])).code).toBe(0);
    const again = await cli(['run', '--replay', trace, '--fix', 'stop-cpus-mask', '--json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.out) as { kernel: { fix: string[] } }).kernel.fix).toEqual(['stop-cpus-mask']);
    // A header whose options have a 'constructor' key: not an option the scenario has, so nothing contradicts.
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    const header = JSON.parse(lines[0] as string) as { options?: Record<string, unknown> };
    expect(header.options).toBeDefined();
    header.options = { constructor: 1, ...header.options };
    const odd = path.join(dir, 't2-odd.jsonl');
    fs.writeFileSync(odd, [JSON.stringify(header), ...lines.slice(1)].join('\n'));
    const r = await cli(['run', '--replay', odd]);
    expect(r.err).not.toMatch(/contradicts/);
  });
});
