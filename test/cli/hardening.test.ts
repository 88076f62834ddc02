/**
 * The command line against hostile or mistaken input, through `main()`: replay headers checked
 * field by field, output targets refused before the run, text from input escaped on the terminal,
 * long values cut in error lines, duplicate JSON keys refused, help that suggests, and the exit
 * codes CI relies on (--fail-on-violation, --strict).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { main, RUN_OPTION_NAMES, type CliIo } from '../../src/cli/main.js';
import { COMMANDS, findCommand } from '../../src/cli/help.js';
import { runScenario } from '../../src/sim/run.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { loadScenario } from '../../src/cli/scenario-args.js';
import { formatOutcome, formatTimelineRecord } from '../../src/cli/format.js';
import { memoryIo as io } from './memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-hardening-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every file in `dir` that is not one of `keep`: temporary files left behind. */
const leftovers = (keep: string[] = []) => fs.readdirSync(dir).filter((f) => !keep.includes(f) && f.includes('.partial'));

const ESC = '\u001b';

/** A trace of T5 written by `run --trace`, as lines. */
async function traceLines(): Promise<string[]> {
  const file = path.join(dir, 'ref.jsonl');
  expect(await main(['run', 'T5', '--trace', file], io().cli)).toBe(0);
  return fs.readFileSync(file, 'utf8').trim().split('\n');
}

describe('--replay: every header field is checked (exit 2, naming the field and the line)', () => {
  const cases: [string, (h: Record<string, unknown>) => void, RegExp][] = [
    ['preset', (h) => (h.preset = 'v9.9'), /line 1: header\.preset: unknown preset "v9\.9"/],
    ['switches (not a list)', (h) => (h.switches = 'all'), /line 1: header\.switches: expected a list/],
    ['switches (unknown name)', (h) => (h.switches = ['vmxoff-eats-faults', 'nope']), /line 1: header\.switches\[1\]: unknown kernel switch "nope"/],
    ['scenario (not a string)', (h) => (h.scenario = 42), /line 1: header\.scenario: expected a scenario name, got 42/],
    ['scenario (unknown)', (h) => (h.scenario = 'T55'), /line 1: header\.scenario: T55: no such file, and not a built-in scenario \(did you mean 'T5'\?\)/],
    ['seed (text)', (h) => (h.seed = 'abc'), /line 1: header\.seed: expected an integer from 0 to 4294967295, got "abc"/],
    ['seed (too large)', (h) => (h.seed = 2 ** 40), /line 1: header\.seed: expected an integer/],
    ['mode', (h) => (h.mode = 'warp'), /line 1: header\.mode: expected "timed" or "untimed", got "warp"/],
    ['cpus', (h) => (h.cpus = -1), /line 1: header\.cpus: expected an integer from 1 to 8192, got -1/],
    ['options (missing)', (h) => delete h.options, /line 1: header\.options: expected an object/],
    ['options.kdump', (h) => ((h.options as Record<string, unknown>).kdump = 'yes'), /line 1: header\.options\.kdump: expected true or false, got "yes"/],
    ['options.panicTimeout', (h) => ((h.options as Record<string, unknown>).panicTimeout = null), /line 1: header\.options\.panicTimeout: expected a number/],
  ];

  it.each(cases)('%s', async (_name, corrupt, message) => {
    const lines = await traceLines();
    const header = JSON.parse(lines[0] as string) as Record<string, unknown>;
    corrupt(header);
    const file = path.join(dir, 'bad-header.jsonl');
    fs.writeFileSync(file, [JSON.stringify(header), ...lines.slice(1)].join('\n') + '\n');
    const t = io();
    expect(await main(['run', '--replay', file], t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err().trim().split('\n')).toHaveLength(1);
    expect(t.out()).toBe('');
  });
});

describe('a trace has one header', () => {
  it.each([['run', '--replay'], ['export-trace'], ['view', '--out']])('%s %s: a second header line is refused (exit 2), not fed to the observers', async (...cmd) => {
    const lines = await traceLines();
    const file = path.join(dir, 'two-headers.jsonl');
    fs.writeFileSync(file, [lines[0], '{"t":"header"}', ...lines.slice(1)].join('\n') + '\n');
    const t = io();
    const argv = cmd[0] === 'view' ? ['view', file, '--out', path.join(dir, 'two-headers-site')] : cmd[0] === 'run' ? ['run', '--replay', file] : ['export-trace', file];
    expect(await main(argv, t.cli)).toBe(2);
    expect(t.err()).toMatch(/line 2: a second trace header/);
    expect(t.out()).toBe('');
  });
});

describe('--trace: only a regular file or a new name, checked before the run', () => {
  it.each([
    ['a directory', () => dir, /is a directory/],
    ['an empty name', () => '', /an empty file name/],
    ['a FIFO', () => {
      const fifo = path.join(dir, 'fifo');
      if (!fs.existsSync(fifo)) execFileSync('mkfifo', [fifo]);
      return fifo;
    }, /is a FIFO, not a regular file/],
    ['a symbolic link', () => {
      const link = path.join(dir, 'link.jsonl');
      if (!fs.existsSync(link)) fs.symlinkSync(path.join(dir, 'elsewhere.jsonl'), link);
      return link;
    }, /is a symbolic link/],
    ['a file in a missing directory', () => path.join(dir, 'missing', 't.jsonl'), /the directory .*missing does not exist/],
  ])('%s: exit 2 before any output, the target untouched, no temporary file', async (_name, target, message) => {
    const file = target();
    const before = fs.existsSync(file) ? fs.lstatSync(file) : null;
    const t = io();
    expect(await main(['run', 'T5', '--trace', file], t.cli)).toBe(2);
    expect(t.err()).toMatch(new RegExp(`^shootdown: --trace '.*': ${message.source}`));
    expect(t.out()).toBe('');
    const after = fs.existsSync(file) ? fs.lstatSync(file) : null;
    expect(after?.mode).toBe(before?.mode);
    expect(leftovers()).toEqual([]);
    expect(fs.existsSync(`${file}.partial`)).toBe(false);
  });

  it('a device node is refused (/dev/full stays a device)', async () => {
    const t = io();
    expect(await main(['run', 'T5', '--trace', '/dev/full'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/--trace '\/dev\/full': is a device, not a regular file/);
    expect(fs.statSync('/dev/full').isCharacterDevice()).toBe(true);
  });

  it('an existing regular file is replaced whole, and nothing is left beside it', async () => {
    const file = path.join(dir, 'existing.jsonl');
    fs.writeFileSync(file, 'old\n'.repeat(100_000));
    expect(await main(['run', 'T1', '--trace', file], io().cli)).toBe(0);
    expect(fs.readFileSync(file, 'utf8').startsWith('{"t":"header"')).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).not.toContain('old');
    expect(leftovers()).toEqual([]);
  });
});

describe('text from input is escaped on the terminal', () => {
  const hostile = {
    name: `x${ESC}]52;c;aGVsbG8=\u0007${ESC}[2J\nfake`,
    machine: { cpus: 2 },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { kdump: true },
    script: [{ cpu: 0, do: 'panic', at: 0, message: `boom${ESC}[2J\n[    9.000000000] CPU1  forged line` }],
  };

  it('scenario name and panic message: no ESC or BEL reaches stdout, a newline cannot forge a timeline line', async () => {
    const t = io({ 'hostile.json': JSON.stringify(hostile) });
    expect(await main(['run', 'hostile.json'], t.cli)).toBe(0);
    const out = t.out();
    expect(out).not.toContain(ESC);
    expect(out).not.toContain('\u0007');
    expect(out).toContain('x\\x1b]52;c;aGVsbG8=\\x07\\x1b[2J\\nfake');
    expect(out).toContain('boom\\x1b[2J\\n[    9.000000000] CPU1  forged line');
    expect(out.split('\n').some((l) => l.startsWith('[    9.000000000] CPU1  forged'))).toBe(false);
  });

  it('in error lines: a key and a file name with controls are escaped, on one line', async () => {
    const t = io({ 'k.json': JSON.stringify({ ...hostile, [`evil${ESC}[2J`]: 1 }) });
    expect(await main(['run', 'k.json'], t.cli)).toBe(2);
    expect(t.err()).not.toContain(ESC);
    expect(t.err()).toMatch(/evil\\(x|u00)1b\[2J/);
    expect(t.err().trim().split('\n')).toHaveLength(1);
    const f = io();
    expect(await main(['run', `no\nsuch${ESC}[2J.json`], f.cli)).toBe(2);
    expect(f.err()).not.toContain(ESC);
    expect(f.err().trim().split('\n')).toHaveLength(1);
    expect(f.err()).toContain('no\\nsuch\\x1b[2J.json');
  });
});

describe('error lines cut long values', () => {
  it('a 10 MB unknown key gives a short line saying how much was cut', async () => {
    const key = 'k'.repeat(10_000_000);
    const t = io({ 'long.json': JSON.stringify({ name: 'l', machine: { cpus: 2 }, script: [], [key]: 1 }) });
    expect(await main(['run', 'long.json'], t.cli)).toBe(2);
    expect(t.err().length).toBeLessThan(1200);
    expect(t.err()).toMatch(/… \(\d+ more characters\)/);
  });

  it('a replay divergence quotes the two lines cut short', async () => {
    const lines = await traceLines();
    const i = lines.findIndex((l) => l.includes('"t":"console"'));
    lines[i] = (lines[i] as string).replace('"text":"', `"text":"${'y'.repeat(50_000)}`);
    const file = path.join(dir, 'long-div.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const t = io();
    expect(await main(['run', '--replay', file], t.cli)).toBe(1);
    expect(t.err()).toContain(`replay diverged at trace line ${i + 1}`);
    expect(t.err().length).toBeLessThan(1500);
    expect(t.err()).toMatch(/more characters/);
  });
});

describe('duplicate JSON keys are refused with the key path and the line', () => {
  it('in a scenario file', async () => {
    const text = '{\n  "name": "d",\n  "machine": { "cpus": 2 },\n  "options": { "kdump": true, "kdump": false },\n  "script": []\n}\n';
    const t = io({ 'dup.json': text });
    expect(await main(['run', 'dup.json'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/^shootdown: dup\.json: malformed JSON: line 4, column 31: duplicate key 'options\.kdump'\n$/);
  });

  it('in a script step, deep in an array', async () => {
    const text = '{"name":"d","machine":{"cpus":2},"script":[{"cpu":0,"do":"panic","at":0},{"cpu":1,"do":"stall","at":1,"cpu":0}]}';
    const t = io({ 'dup2.json': text });
    expect(await main(['run', 'dup2.json'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/duplicate key 'script\[1\]\.cpu'/);
  });

  it('in a trace line', async () => {
    const lines = await traceLines();
    const i = lines.findIndex((l) => l.includes('"t":"choice"'));
    lines[i] = (lines[i] as string).replace('"pick":', '"pick":0,"pick":');
    const file = path.join(dir, 'dup.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const t = io();
    expect(await main(['run', '--replay', file], t.cli)).toBe(2);
    expect(t.err()).toContain(`line ${i + 1}: duplicate key 'pick'`);
  });
});

describe('replay exit 1 keeps the --trace output, wherever the divergence was found', () => {
  it('a line that differs (found after the run)', async () => {
    const lines = await traceLines();
    const i = lines.findIndex((l) => l.includes('"t":"console"'));
    lines[i] = (lines[i] as string).replace('"text":"', '"text":"X');
    const file = path.join(dir, 'div-line.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const out = path.join(dir, 'div-line-out.jsonl');
    const t = io();
    expect(await main(['run', '--replay', file, '--trace', out], t.cli)).toBe(1);
    expect(fs.existsSync(out)).toBe(true);
    expect(t.err()).toContain(`the run's trace is in ${out}`);
    expect(leftovers()).toEqual([]);
  });

  it('a choice the run cannot take (found during the run)', async () => {
    const lines = await traceLines();
    const i = lines.findIndex((l) => l.includes('"t":"choice"'));
    const choice = JSON.parse(lines[i] as string) as { n: number };
    lines[i] = (lines[i] as string).replace(`"n":${choice.n}`, `"n":${choice.n + 1}`);
    const file = path.join(dir, 'div-choice.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const out = path.join(dir, 'div-choice-out.jsonl');
    const t = io();
    expect(await main(['run', '--replay', file, '--trace', out], t.cli)).toBe(1);
    expect(t.err()).toMatch(/replay diverged at choice 0/);
    expect(t.err()).toContain(`the run's trace up to there is in ${out}`);
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toContain('"t":"header"');
    expect(leftovers()).toEqual([]);
  });
});

describe('the human timeline is streamed as the run goes', () => {
  it('in chunks of bounded size, with the same text as the whole output assembled at the end', async () => {
    const chunks: string[] = [];
    const t = io();
    const cli: CliIo = { ...t.cli, stdout: (s) => chunks.push(s) };
    expect(await main(['run', 'T6', '--steps'], cli)).toBe(0);
    // The text the timeline has always been: header, the lines, a blank line, the outcome.
    const scenario = loadScenario('T6', () => '');
    const r = runScenario(scenario, { seed: 1, keepTrace: true });
    const timeline = r.trace.map((x) => formatTimelineRecord(x, true)).filter((x): x is string => x !== null);
    const expected = `${scenario.id}: ${scenario.name} — kernel ${scenario.kernel.preset}, seed 1\n\n${timeline.join('\n')}\n\n${formatOutcome(r.outcome)}`;
    expect(chunks.join('')).toBe(expected);
    expect(chunks.length).toBeGreaterThan(3);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(128 * 1024);
  });
});

describe('help that helps', () => {
  it.each([
    [['rnu'], /unknown command 'rnu' \(did you mean 'run'\?\)/],
    [['run', 'T5', '--no-fix', 'emergency-callback-set-kvm-rebooting'], /unknown kernel switch 'emergency-callback-set-kvm-rebooting' \(did you mean 'emergency-callback-sets-kvm-rebooting'\?\)/],
    [['run', 'T5', '--kernel', 'mainlin'], /unknown preset 'mainlin' \(did you mean 'mainline'\?\)/],
    [['run', 'T5', '--no-fixes', 'x'], /unknown option '--no-fixes' for `shootdown run` \(did you mean '--no-fix'\?\)/],
    [['run', 'T5-iiii'], /T5-iiii: no such file, and not a built-in scenario \(did you mean 'T5-iii'\?\)/],
    [['explore', 'R2', '--property', 'no-kernal-bug'], /unknown property 'no-kernal-bug' \(did you mean 'no-kernel-bug'\?\)/],
    [['explore', 'R2', '--max-state', '5'], /unknown option '--max-state' for `shootdown explore` \(did you mean '--max-states'\?\)/],
    [['help', 'exprole'], /unknown command 'exprole' \(did you mean 'explore'\?\)/],
  ])('%j', async (argv, message) => {
    const t = io();
    expect(await main(argv, t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err().trim().split('\n')).toHaveLength(1);
  });

  it('nothing is suggested when nothing is close', async () => {
    const t = io();
    expect(await main(['run', 'T5', '--kernel', 'zzzzzz'], t.cli)).toBe(2);
    expect(t.err()).not.toContain('did you mean');
  });

  it('--version prints the version in package.json', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    const t = io();
    expect(await main(['--version'], t.cli)).toBe(0);
    expect(t.out()).toBe(`shootdown ${pkg.version}\n`);
  });

  it.each(COMMANDS.map((c) => [c.name]))('`shootdown help %s` and `<command> --help` list every option with its default', async (name) => {
    const a = io();
    expect(await main(['help', name], a.cli)).toBe(0);
    const b = io();
    if (name !== 'help') {
      expect(await main([name, '--help'], b.cli)).toBe(0);
      expect(b.out()).toBe(a.out());
    }
    for (const o of findCommand(name)?.options ?? []) {
      const line = a.out().split('\n').find((l) => l.trimStart().startsWith(`--${o.name}`));
      expect(line, `--${o.name}`).toBeDefined();
      if (o.default !== undefined) expect(a.out()).toContain(`[default: ${o.default}]`);
    }
  });

  it('the help of run lists exactly the options run takes', () => {
    expect(findCommand('run')?.options.map((o) => o.name).sort()).toEqual([...RUN_OPTION_NAMES].sort());
  });
});

describe('run --fail-on-violation: exit 1 when a property is violated (for CI)', () => {
  it('v5.11 BUGs in T5 (no-kernel-bug): exit 1 with the flag, 0 without; a clean run exits 0 with it', async () => {
    const bad = io();
    expect(await main(['run', 'T5', '--kernel', 'v5.11', '--fail-on-violation'], bad.cli)).toBe(1);
    expect(bad.out()).toContain('VIOLATION no-kernel-bug');
    expect(bad.err()).toMatch(/propert(y|ies) violated \(--fail-on-violation\)/);
    expect(await main(['run', 'T5', '--kernel', 'v5.11'], io().cli)).toBe(0);
    const good = io();
    expect(await main(['run', 'T5', '--kernel', 'mainline', '--fail-on-violation'], good.cli)).toBe(0);
    expect(good.out()).toContain('properties: all hold');
  });
});

describe('triggers that never fired are reported', () => {
  // R2 with the stall placed in the KVM emergency callback's VMCLEAR walk: only kernels that run
  // the walk (virt-disable-via-kvm-callback, mainline) ever enter that state.
  const raw = findBuiltin('T5')?.raw as Record<string, unknown>;
  const file = JSON.stringify({
    ...raw,
    name: 'r2-in-the-callback-walk',
    script: [
      { cpu: 1, do: 'emergency-restart', at: 0 },
      { cpu: 1, do: 'stall', when: { cpu: 1, enters: 'selfVirt.cbWalk.vmclear' } },
      { cpu: 2, do: 'panic', when: { cpu: 1, enters: 'selfVirt.cbWalk.vmclear' } },
    ],
  });

  it('under v5.11: outcome.unfired names each step, its state and the kernel; a line on stderr; --strict exits 2', async () => {
    const t = io({ 'cb.json': file });
    expect(await main(['run', 'cb.json', '--kernel', 'v5.11', '--json'], t.cli)).toBe(0);
    const o = (JSON.parse(t.out()) as { outcome: { unfired: unknown[] } }).outcome;
    expect(o.unfired).toEqual([
      { index: 1, actor: 'cpu', id: 1, state: 'selfVirt.cbWalk.vmclear', kernel: 'v5.11' },
      { index: 2, actor: 'cpu', id: 1, state: 'selfVirt.cbWalk.vmclear', kernel: 'v5.11' },
    ]);
    expect(t.err()).toMatch(/^shootdown: warning: script\[1\] never ran: its trigger waits for CPU1 to enter 'selfVirt\.cbWalk\.vmclear', which the run never did \(kernel v5\.11\)$/m);
    const strict = io({ 'cb.json': file });
    expect(await main(['run', 'cb.json', '--kernel', 'v5.11', '--strict'], strict.cli)).toBe(2);
    expect(strict.err()).toMatch(/^shootdown: script\[2\] never ran/m);
  });

  it('under mainline the walk runs: nothing unfired, --strict exits 0', async () => {
    const t = io({ 'cb.json': file });
    expect(await main(['run', 'cb.json', '--kernel', 'mainline', '--json', '--strict'], t.cli)).toBe(0);
    expect((JSON.parse(t.out()) as { outcome: { unfired: unknown[] } }).outcome.unfired).toEqual([]);
    expect(t.err()).toBe('');
  });
});
