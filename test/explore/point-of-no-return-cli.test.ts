/**
 * The point of no return as `shootdown explore` reports it: per counterexample in --json and in the
 * human report, as a `noreturn` record in the counterexample's trace just after the choice that
 * sealed it (a trace that still replays, and whose misplaced or malformed mark is refused),
 * `--no-pnr` to skip it, `--pnr-max-states` to bound it (then "unknown before", in words).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readTrace } from '../../src/trace/file.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-pnr-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Point {
  step: number;
  decision: number | null;
  description: string;
  complete: boolean;
  unknownAt?: { step: number; bound: string };
}
interface Json {
  violations: { property: string; traceFile: string; length: number; pointOfNoReturn?: Point | null }[];
}

async function explore(args: string[], out: string): Promise<{ code: number; json: Json; err: string }> {
  const t = memoryIo();
  const code = await main(['explore', ...args, '--json', '--out', out], t.cli);
  return { code, json: JSON.parse(t.out()) as Json, err: t.err() };
}

const lines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n');

describe('explore R2 --kernel v5.11', () => {
  const out = path.join(dir, 'default');
  let json: Json;

  it('gives each counterexample its point of no return: the step, the choice, what happened, complete', async () => {
    const r = await explore(['R2', '--kernel', 'v5.11'], out);
    json = r.json;
    expect(r.code).toBe(1);
    expect(json.violations.length).toBeGreaterThan(1);
    for (const v of json.violations) {
      const p = v.pointOfNoReturn as Point;
      expect(p, v.property).toMatchObject({ complete: true });
      expect(p.step).toBeGreaterThan(0);
      expect(p.step).toBeLessThanOrEqual(v.length);
      expect(p.description).toMatch(new RegExp(`^choice ${p.decision} \\(decision ${p.step} of the run, \\d+ options\\): CPU \\d .*from here every continuation violates ${v.property}`));
    }
    expect(r.err).toMatch(/^explore: point of no return of counterexample 1 of \d \(/m);
  });

  it('marks it in the trace: a noreturn record just after the choice that sealed it', () => {
    for (const v of json.violations) {
      const p = v.pointOfNoReturn as Point;
      const records = lines(v.traceFile).map((l) => JSON.parse(l) as Record<string, unknown>);
      const marks = records.filter((r) => r.t === 'noreturn');
      expect(marks).toEqual([{ t: 'noreturn', property: v.property, step: p.step, choice: p.decision, complete: true, text: p.description }]);
      const at = records.indexOf(marks[0] as Record<string, unknown>);
      expect(records[at - 1]).toMatchObject({ t: 'choice', i: p.decision });
    }
  });

  it('the marked trace still replays to the line (the mark is not the run\'s)', async () => {
    const v = json.violations[0] as Json['violations'][number];
    const t = memoryIo();
    expect(await main(['run', '--replay', v.traceFile, '--json'], t.cli), t.err()).toBe(0);
    expect(t.err()).toMatch(new RegExp(`replay: reproduced all ${lines(v.traceFile).length - 1} trace lines`));
  });

  it('the human report says it under each violation', async () => {
    const t = memoryIo();
    expect(await main(['explore', 'R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--out', out], t.cli)).toBe(1);
    expect(t.out()).toMatch(/VIOLATION no-kernel-bug: .*\n {2}shortest run found: \d+ decisions — .*\n {2}point of no return: choice \d+ \(decision \d+ of the run, 2 options\): CPU 1 takes its next step — CPU 1: crashing_cpu write 1/);
  });
});

describe('bounds and switches', () => {
  it('--pnr-max-states too small: the mark says "at the latest", and the words say what is unknown', async () => {
    const out = path.join(dir, 'bounded');
    const r = await explore(['R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--pnr-max-states', '3'], out);
    const v = r.json.violations[0] as Json['violations'][number];
    const p = v.pointOfNoReturn as Point;
    expect(p.complete).toBe(false);
    expect(p.unknownAt).toMatchObject({ bound: 'max-states' });
    expect(p.description).toMatch(/unknown: the search from (the start|the state after decision \d+) ran out of its state budget \(raise it with --pnr-max-states N\)/);
    const mark = lines(v.traceFile).map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x.t === 'noreturn');
    expect(mark).toMatchObject({ complete: false });
    const t = memoryIo();
    await main(['explore', 'R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--pnr-max-states', '3', '--out', out], t.cli);
    expect(t.out()).toMatch(/point of no return \(at the latest\): /);
  });

  it('with guests the default budget is 1,000 states a prefix (their states cost far more), said when it runs out', async () => {
    const args = ['T-vsock-restart', '--kernel', 'v5.10', '--strategy', 'random', '--runs', '30'];
    const byDefault = await explore(args, path.join(dir, 'guests'));
    const explicit = await explore([...args, '--pnr-max-states', '1000'], path.join(dir, 'guests'));
    const points = (j: Json) => j.violations.map((v) => v.pointOfNoReturn);
    expect(points(byDefault.json).length).toBeGreaterThan(0);
    expect(points(byDefault.json)).toEqual(points(explicit.json));
    expect(points(byDefault.json)[0]).toMatchObject({ complete: false, unknownAt: { bound: 'max-states' } });
  }, 120_000);

  it('--no-pnr: no field, no mark in the trace', async () => {
    const out = path.join(dir, 'none');
    const r = await explore(['R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--no-pnr'], out);
    const v = r.json.violations[0] as Json['violations'][number];
    expect(v).not.toHaveProperty('pointOfNoReturn');
    expect(fs.readFileSync(v.traceFile, 'utf8')).not.toMatch(/"t":"noreturn"/);
    expect(r.err).not.toMatch(/point of no return/);
  });

  it('no violation: no counterexample, nothing to mark', async () => {
    const out = path.join(dir, 'clean');
    const r = await explore(['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug'], out);
    expect(r.code).toBe(0);
    expect(r.json.violations).toEqual([]);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
  });

  it.each([
    [['--pnr-max-states', '0'], /--pnr-max-states: expected a whole number from 1 to 1,000,000,000, got "0" \(too small\)/],
    [['--pnr-max-states', 'lots'], /--pnr-max-states: expected a whole number/],
    [['--no-pnr', '--pnr-max-states', '5'], /--pnr-max-states bounds the point-of-no-return search, which --no-pnr skips: give one/],
  ])('%j is bad input', async (args, message) => {
    const t = memoryIo();
    expect(await main(['explore', 'R2', '--kernel', 'v5.11', ...args, '--out', dir], t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.out()).toBe('');
  });
});

describe('a noreturn record is input too', () => {
  const out = path.join(dir, 'input');
  let text = '';

  it('is read where it stands and left out of what a replay compares', async () => {
    const r = await explore(['R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug'], out);
    text = fs.readFileSync((r.json.violations[0] as Json['violations'][number]).traceFile, 'utf8');
    const read = readTrace(text);
    expect(read.ok).toBe(true);
    if (read.ok) expect(read.trace.records.some((l) => l.includes('"t":"noreturn"'))).toBe(false);
  });

  it('a replay that diverges after the mark names the line of the file', async () => {
    const ls = text.trim().split('\n');
    const last = ls.length - 1;
    expect(ls[last]).toMatch(/"t":"end"/);
    ls[last] = (ls[last] as string).replace(/"steps":\d+/, '"steps":999999');
    const file = path.join(dir, 'diverges.jsonl');
    fs.writeFileSync(file, ls.join('\n') + '\n');
    const t = memoryIo();
    expect(await main(['run', '--replay', file, '--json'], t.cli)).toBe(1);
    expect(t.err()).toMatch(new RegExp(`replay diverged at trace line ${last + 1},`));
  });

  it.each([
    ['moved away from its choice', (ls: string[], at: number) => ls.splice(at + 2, 0, ...ls.splice(at, 1)), /a point of no return must follow choice \d+ \(the line before it\)/],
    ['naming another choice', (ls: string[], at: number) => (ls[at] = (ls[at] as string).replace(/"choice":\d+/, '"choice":0')), /a point of no return must follow choice 0/],
    ['an unknown property', (ls: string[], at: number) => (ls[at] = (ls[at] as string).replace(/"property":"[^"]*"/, '"property":"no-such"')), /noreturn\.property: expected one of "no-kernel-bug"/],
    ['a negative step', (ls: string[], at: number) => (ls[at] = (ls[at] as string).replace(/"step":\d+/, '"step":-3')), /noreturn\.step: expected a non-negative integer, got -3/],
    ['complete not a boolean', (ls: string[], at: number) => (ls[at] = (ls[at] as string).replace(/"complete":true/, '"complete":"yes"')), /noreturn\.complete: expected true or false/],
  ])('%s: refused, naming the line', (_what, corrupt, message) => {
    const ls = text.trim().split('\n');
    const at = ls.findIndex((l) => l.includes('"t":"noreturn"'));
    corrupt(ls, at);
    const read = readTrace(ls.join('\n') + '\n');
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.error).toMatch(message);
    if (!read.ok) expect(read.error).toMatch(/^line \d+: /);
  });
});
