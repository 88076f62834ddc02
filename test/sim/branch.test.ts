/**
 * What-if branches: the choices enabled at a decision of a trace are what its chooser was offered
 * there, described; a branch takes another one and goes on from the same seed.
 */
import { describe, expect, it } from 'vitest';
import { choicesAt, runBranch, BranchError, type BranchBase } from '../../src/sim/branch.js';
import { readTrace } from '../../src/trace/file.js';
import { formatRecord } from '../../src/trace/records.js';
import { builtin, traceText } from '../viz/helpers.js';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

const scenario = builtin('T5');
const base: BranchBase = { scenario, seed: 1, mode: 'timed' };
const text = traceText(scenario, 1);
const read = readTrace(text);
if (!read.ok) throw new Error(read.error);
const { picks, records } = read.trace;

/** The first decision of the scheduler (which item goes next). */
function firstNext(): number {
  return records
    .map((l) => JSON.parse(l) as { t: string; kind?: string; i?: number })
    .filter((r) => r.t === 'choice' && r.kind === 'next')
    .map((r) => r.i as number)
    .find((i) => i >= 0) as number;
}

describe('choices at a decision', () => {
  it('lists every enabled choice, marks the one taken, and names the actors that were not picked', async () => {
    const k = firstNext();
    const c = await choicesAt(base, picks, k);
    expect(c.kind).toBe('next');
    expect(c.n).toBe(picks[k]?.n);
    expect(c.options).toHaveLength(c.n);
    expect(c.taken).toBe(picks[k]?.pick);
    // What the trace did right after the choice is the option it took.
    const at = records.findIndex((l) => l.startsWith(`{"t":"choice","i":${k},`));
    const next = JSON.parse(records[at + 1] as string) as { t: string; cpu?: number };
    const taken = c.options[c.taken];
    if (next.t === 'step') expect(taken?.text).toMatch(new RegExp(`^CPU${next.cpu} steps`));
    // The others are enabled too and are other actors or events.
    const others = c.options.filter((o) => o.option !== c.taken);
    expect(others.length).toBeGreaterThan(0);
    for (const o of others) expect(o.key).not.toBe(taken?.key);
    expect(others.some((o) => /^CPU\d+ steps|lands on CPU|fires on CPU|script\[/.test(o.text))).toBe(true);
  });

  it('finds a decision between two CPUs stepping, and names the CPU that was not picked', async () => {
    let found = false;
    for (let k = 0; k < Math.min(picks.length, 60) && !found; k++) {
      if (picks[k]?.kind !== 'next') continue;
      const c = await choicesAt(base, picks, k);
      const cpus = c.options.map((o) => /^CPU(\d+) steps/.exec(o.text)?.[1]).filter((x) => x !== undefined);
      const takenCpu = /^CPU(\d+) steps/.exec(c.options[c.taken]?.text ?? '')?.[1];
      if (takenCpu === undefined || cpus.length < 2) continue;
      expect(cpus.filter((x) => x !== takenCpu).length).toBeGreaterThan(0);
      found = true;
    }
    expect(found).toBe(true);
  });

  it('lists a sample of the latencies of a delivery: the shortest, the longest and the one taken', async () => {
    const k = picks.findIndex((p) => p.kind === 'latency');
    expect(k).toBeGreaterThanOrEqual(0);
    const c = await choicesAt(base, picks, k);
    expect(c.kind).toBe('latency');
    const [min, max] = scenario.options.latencyNs;
    expect(c.n).toBe(max - min + 1);
    expect(c.options[0]).toMatchObject({ option: 0, text: expect.stringMatching(new RegExp(`NMI #\\d+ from CPU\\d+ .* takes ${min} ns to arrive`)) });
    expect(c.options.at(-1)).toMatchObject({ option: c.n - 1, text: expect.stringContaining(`takes ${max} ns`) });
    expect(c.options.find((o) => o.option === c.taken)?.text).toContain(`takes ${min + c.taken} ns`);
  });

  it("names the message of a latency chosen while its send record is held back (a vhost call's kick IPI)", async () => {
    // The vsock device's call kicks the vCPU with an IPI: its send is written after the call record,
    // which waits for the vCPU leaf the interrupt moves; the latency is chosen meanwhile.
    const vs = builtin('T-vsock-restart');
    const lines = traceText(vs, 1).trim().split('\n');
    const r = readTrace(lines.join('\n') + '\n');
    if (!r.ok) throw new Error(r.error);
    const at = lines.findIndex((l, i) => l.includes('"what":"call"') && (lines[i + 1] ?? '').includes('"t":"send"') && (lines[i + 2] ?? '').includes('"kind":"latency"'));
    expect(at).toBeGreaterThan(0);
    const send = JSON.parse(lines[at + 1] as string) as { msg: number; from: number; dest: string };
    const k = (JSON.parse(lines[at + 2] as string) as { i: number }).i;
    const c = await choicesAt({ scenario: vs, seed: 1, mode: 'timed' }, r.trace.picks, k);
    expect(c.kind).toBe('latency');
    expect(c.options[0]?.text).toContain(`#${send.msg} from CPU${send.from} to ${send.dest} takes`);
  });

  it('refuses a decision the trace does not have', async () => {
    await expect(choicesAt(base, picks, picks.length)).rejects.toThrow(BranchError);
    await expect(choicesAt(base, picks, -1)).rejects.toThrow(/the trace has \d+ decisions/);
  });
});

describe('a branch', () => {
  const branch = async (decision: number, option: number) => {
    const lines: string[] = [];
    await runBranch(base, picks, { from: 'T5', decision, option }, (r) => lines.push(formatRecord(r)));
    return lines;
  };

  it('taking the option the trace took reproduces it (the seeded chooser stays in step)', async () => {
    const k = firstNext();
    const lines = await branch(k, picks[k]?.pick as number);
    expect(JSON.parse(lines[0] as string).branch).toEqual({ from: 'T5', decision: k, option: picks[k]?.pick });
    expect(lines.slice(1)).toEqual(records.slice(1));
  });

  it('taking another option keeps the picks before it and differs after it', async () => {
    const k = firstNext();
    const other = ((picks[k]?.pick as number) + 1) % (picks[k]?.n as number);
    const lines = await branch(k, other);
    const at = records.findIndex((l) => l.startsWith(`{"t":"choice","i":${k},`));
    expect(lines.slice(1, at)).toEqual(records.slice(1, at));
    expect(JSON.parse(lines[at] as string)).toMatchObject({ t: 'choice', i: k, pick: other });
    expect(lines.slice(at)).not.toEqual(records.slice(at));
  });

  it('refuses an option out of range', async () => {
    await expect(branch(0, picks[0]?.n as number)).rejects.toThrow(/option \d+: decision 0 has \d+ choices/);
  });

  it('is stopped by its pause, with its error, a few steps past the bound the caller keeps (what the viewer bounds a branch by)', async () => {
    const k = firstNext();
    const whole = (await branch(k, picks[k]?.pick as number)).length;
    const bound = Math.floor(whole / 4);
    let written = 0;
    const stop = new BranchError('too long', 422);
    const run = runBranch(base, picks, { from: 'T5', decision: k, option: picks[k]?.pick as number }, () => (written += 1), () => (written > bound ? Promise.reject(stop) : null));
    await expect(run).rejects.toBe(stop);
    expect(written).toBeGreaterThan(bound);
    expect(written).toBeLessThan(whole);
  });
});

describe('the branch point in a trace header', () => {
  const header = JSON.parse(records[0] as string) as Record<string, unknown>;
  const withBranch = (branch: unknown) => [JSON.stringify({ ...header, branch }), ...records.slice(1)].join('\n') + '\n';

  it('is read back for the replay', () => {
    const r = readTrace(withBranch({ from: 'T5', decision: 3, option: 0 }));
    expect(r.ok && r.trace.branch).toEqual({ from: 'T5', decision: 3, option: 0 });
  });

  it.each([
    [[1], /header\.branch: expected \{from, decision, option\}/],
    [{ from: 'T5', decision: -1, option: 0 }, /header\.branch\.decision: expected a choice index/],
    [{ from: 'T5', decision: 1, option: 0.5 }, /header\.branch\.option: expected a choice index/],
    [{ from: 'x'.repeat(300), decision: 1, option: 0 }, /header\.branch\.from: expected a name of at most 256 characters/],
    [{ from: 'T5', decision: 1, option: 0, seed: 2 }, /header\.branch\.seed: not a field of a branch point/],
  ])('%j is refused, naming the field', async (branch, message) => {
    const r = readTrace(withBranch(branch));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(message);
    const io = memoryIo({ 'bad.jsonl': withBranch(branch) });
    expect(await main(['run', '--replay', 'bad.jsonl'], io.cli)).toBe(2);
    expect(io.err()).toMatch(message);
  });
});
