/**
 * Exit 2 leaves nothing behind (README: "no output file is left behind"), run as a user runs the CLI
 * through main(): a --strict failure drops the trace it was writing; an output that would overwrite
 * the command's own input is refused before anything is written; explore checks every trace target
 * before it writes the first.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, nodeIo, type CliIo } from '../../src/cli/main.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-exit2-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh directory of its own for each test. */
function freshDir(): string {
  const d = path.join(root, `t${n++}`);
  fs.mkdirSync(d);
  return d;
}

function io(): { cli: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { cli: { ...nodeIo, isTty: false, stdout: (t) => void (out += t), stderr: (t) => void (err += t) }, out: () => out, err: () => err };
}

/** The names in `dir`, temporary files included. */
const entries = (dir: string): string[] => fs.readdirSync(dir).sort();

describe('run --strict: a trigger that never fired exits 2 and leaves no trace file', () => {
  // T5 with steps waiting for a state v5.11 never enters (KVM's emergency callback walk).
  const raw = findBuiltin('T5')?.raw as Record<string, unknown>;
  const scenario = JSON.stringify({
    ...raw,
    name: 'r2-in-the-callback-walk',
    script: [
      { cpu: 1, do: 'emergency-restart', at: 0 },
      { cpu: 1, do: 'stall', when: { cpu: 1, enters: 'selfVirt.cbWalk.vmclear' } },
    ],
  });

  it('a new --trace file is not created', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'cb.json');
    fs.writeFileSync(file, scenario);
    const t = io();
    expect(await main(['run', file, '--kernel', 'v5.11', '--strict', '--trace', path.join(dir, 'out.jsonl')], t.cli)).toBe(2);
    expect(t.err()).toMatch(/^shootdown: script\[1\] never ran/m);
    expect(entries(dir)).toEqual(['cb.json']);
  });

  it('an existing --trace file keeps what it had', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'cb.json');
    fs.writeFileSync(file, scenario);
    fs.writeFileSync(path.join(dir, 'out.jsonl'), 'before\n');
    expect(await main(['run', file, '--kernel', 'v5.11', '--strict', '--trace', path.join(dir, 'out.jsonl')], io().cli)).toBe(2);
    expect(entries(dir)).toEqual(['cb.json', 'out.jsonl']);
    expect(fs.readFileSync(path.join(dir, 'out.jsonl'), 'utf8')).toBe('before\n');
  });

  it('the same run without --strict writes its trace (exit 0)', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'cb.json');
    fs.writeFileSync(file, scenario);
    expect(await main(['run', file, '--kernel', 'v5.11', '--trace', path.join(dir, 'out.jsonl')], io().cli)).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'out.jsonl'), 'utf8')).toMatch(/^\{"t":"header"/);
  });
});

describe('run --trace naming the command\'s own input is refused before anything is written', () => {
  const example = fs.readFileSync(new URL('../../docs/examples/nmi-between-vmxoff-and-cr4-clear.json', import.meta.url), 'utf8');

  it.each([
    ['the same name', (f: string) => f],
    ['a ./ path to it', (f: string) => `./${path.relative(process.cwd(), f)}`],
    ['a hard link to it', (f: string) => {
      const link = path.join(path.dirname(f), 'hard.json');
      fs.linkSync(f, link);
      return link;
    }],
  ])('the scenario file, by %s: exit 2, the scenario untouched', async (_how, target) => {
    const dir = freshDir();
    const file = path.join(dir, 'my.json');
    fs.writeFileSync(file, example);
    const t = io();
    expect(await main(['run', file, '--trace', target(file)], t.cli)).toBe(2);
    expect(t.err()).toMatch(/--trace .*: is the scenario file this run reads/);
    expect(t.out()).toBe('');
    expect(fs.readFileSync(file, 'utf8')).toBe(example);
    expect(entries(dir).filter((e) => e.endsWith('.partial'))).toEqual([]);
  });

  it('the scenario file through a symbolic link to it (as the scenario): exit 2, the scenario untouched', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'my.json');
    fs.writeFileSync(file, example);
    fs.symlinkSync(file, path.join(dir, 'link.json'));
    const t = io();
    expect(await main(['run', path.join(dir, 'link.json'), '--trace', file], t.cli)).toBe(2);
    expect(t.err()).toMatch(/is the scenario file this run reads/);
    expect(fs.readFileSync(file, 'utf8')).toBe(example);
  });

  it('the trace being replayed: exit 2, the trace untouched', async () => {
    const dir = freshDir();
    const trace = path.join(dir, 'r.jsonl');
    expect(await main(['run', 'T5', '--trace', trace], io().cli)).toBe(0);
    const recorded = fs.readFileSync(trace, 'utf8');
    const t = io();
    expect(await main(['run', '--replay', trace, '--trace', path.join(dir, '.', 'r.jsonl')], t.cli)).toBe(2);
    expect(t.err()).toMatch(/--trace .*: is the trace this run replays/);
    expect(fs.readFileSync(trace, 'utf8')).toBe(recorded);
    expect(entries(dir)).toEqual(['r.jsonl']);
  });

  it('another file beside it is written as before', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'my.json');
    fs.writeFileSync(file, example);
    expect(await main(['run', file, '--trace', path.join(dir, 'my.jsonl')], io().cli)).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(example);
    expect(entries(dir)).toEqual(['my.json', 'my.jsonl']);
  });
});

describe('explore and explore merge check every counterexample target before writing the first', () => {
  interface Found { code: number; names: string[] }
  /** The traces a search writes, from a run into a scratch directory (their names come from their content). */
  async function traceNames(args: string[]): Promise<Found> {
    const scratch = freshDir();
    const t = io();
    const code = await main([...args, '--json', '--out', scratch], t.cli);
    const names = (JSON.parse(t.out()) as { violations: { traceFile: string }[] }).violations.map((v) => path.basename(v.traceFile));
    return { code, names };
  }

  const search = ['explore', 'R2', '--kernel', 'v5.11', '--no-pnr'];

  /** `args` writes several counterexamples; with the last one's name taken by a directory in --out, it exits 2 and writes none. */
  const lastNameTaken = async (args: string[]): Promise<void> => {
    const found = await traceNames(args);
    expect(found.code).toBe(1);
    expect(found.names.length).toBeGreaterThan(1);
    const out = freshDir();
    const last = found.names.at(-1) as string;
    fs.mkdirSync(path.join(out, last));
    const t = io();
    expect(await main([...args, '--out', out], t.cli)).toBe(2);
    expect(t.err()).toContain(`'${path.join(out, last)}' exists and is not a regular file`);
    expect(entries(out)).toEqual([last]);
    expect(fs.readdirSync(path.join(out, last))).toEqual([]);
  };

  it('explore: the last counterexample\'s name taken by a directory: exit 2 and no trace written', async () => {
    await lastNameTaken(search);
  });

  it('explore merge: the same', async () => {
    const shards = freshDir();
    for (let i = 0; i < 2; i++) expect(await main([...search.slice(0, 4), '--shard', `${i}/2`, '--out', shards], io().cli)).toBe(0);
    await lastNameTaken(['explore', 'merge', shards, '--no-pnr']);
  });

  it('explore merge: the scenario copy it writes beside the traces blocked by a file: exit 2 and no trace written', async () => {
    // Shards of a scenario file that is gone by the merge: the merge writes a copy of it for the replay commands.
    const shards = freshDir();
    const file = path.join(freshDir(), 'r2copy.json');
    fs.writeFileSync(file, JSON.stringify({ ...(findBuiltin('R2')?.raw as Record<string, unknown>), name: 'r2copy' }));
    for (let i = 0; i < 2; i++) expect(await main(['explore', file, '--kernel', 'v5.11', '--shard', `${i}/2`, '--out', shards], io().cli)).toBe(0);
    fs.rmSync(file);
    const scratch = freshDir();
    expect(await main(['explore', 'merge', shards, '--no-pnr', '--out', scratch], io().cli)).toBe(1);
    const copyDir = entries(scratch).find((e) => e.startsWith('scenario-')) as string;
    expect(copyDir).toBeDefined();
    const out = freshDir();
    fs.writeFileSync(path.join(out, copyDir), 'not a directory\n');
    const t = io();
    expect(await main(['explore', 'merge', shards, '--no-pnr', '--out', out], t.cli)).toBe(2);
    expect(t.err()).toContain(copyDir);
    expect(entries(out)).toEqual([copyDir]);
    expect(fs.readFileSync(path.join(out, copyDir), 'utf8')).toBe('not a directory\n');
  });
});
