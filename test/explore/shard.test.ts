/**
 * `shootdown explore --shard I/N` and `shootdown explore merge`, as a user on a cluster meets them:
 * four shards merged give the verdict, exit code, shortest counterexamples (the same trace files,
 * replayable) and properties of one process; merge refuses shards of another search, missing or
 * duplicated shards and damaged files (exit 2, one line naming the file, no trace written); a bad
 * --shard is a clear error before any search.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { DEFAULT_EXPLORE, type ExploreOptions } from '../../src/explore/explorer.js';
import { exploreShard, FRONTIER_PER_SHARD } from '../../src/explore/shard.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-shards-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The parts of a shard result file these tests edit. */
interface ShardJson {
  shard: { index: number; of: number };
  result: { complete: boolean; split: { depth: number | null; frontier: number; kept: number } };
}

interface Json {
  complete: boolean;
  stoppedBy: string[];
  statesVisited: number;
  violations: { property: string; message: string; traceFile: string; length: number }[];
  shards?: { count: number; split: { depth: number | null; frontier: number; prefixStates: number } | null; each: { index: number; statesVisited: number }[] };
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo();
  const code = await main(args, t.cli);
  return { code, out: t.out(), err: t.err() };
}

/** One process, then four shards into `shards/`, then merge: both reports as JSON. */
async function oneAndMerged(name: string, args: string[]): Promise<{ one: { code: number; json: Json }; merged: { code: number; json: Json }; shards: string }> {
  const shards = path.join(dir, name, 'shards');
  const one = await cli(['explore', ...args, '--json', '--out', path.join(dir, name, 'one')]);
  for (let i = 0; i < 4; i++) {
    const s = await cli(['explore', ...args, '--shard', `${i}/4`, '--out', shards]);
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(new RegExp(`shard ${i} of 4 \\(split at depth \\d+: \\d+ of the \\d+ frontier states are this shard's\\)`));
  }
  const merged = await cli(['explore', 'merge', shards, '--json', '--out', path.join(dir, name, 'merged')]);
  return { one: { code: one.code, json: JSON.parse(one.out) as Json }, merged: { code: merged.code, json: JSON.parse(merged.out) as Json }, shards };
}

const summary = (j: Json) => ({
  complete: j.complete,
  stoppedBy: j.stoppedBy,
  violations: j.violations.map((v) => ({ property: v.property, message: v.message, length: v.length, trace: path.basename(v.traceFile) })).sort((a, b) => a.property.localeCompare(b.property)),
});

let v511: Awaited<ReturnType<typeof oneAndMerged>>;
let mainline: Awaited<ReturnType<typeof oneAndMerged>>;
beforeAll(async () => {
  v511 = await oneAndMerged('v5.11', ['R2', '--cpus', '3', '--kernel', 'v5.11']);
  mainline = await oneAndMerged('mainline', ['R2', '--cpus', '3', '--kernel', 'mainline', '--property', 'no-kernel-bug']);
}, 600_000);

describe('four shards of R2 with 3 CPUs, merged, give the verdict of one process', () => {
  it('v5.11: exit 1, the same properties violated, the same shortest counterexamples (the same trace files)', () => {
    expect(v511.one.code).toBe(1);
    expect(v511.merged.code).toBe(1);
    expect(v511.merged.json.violations.length).toBeGreaterThan(0);
    expect(summary(v511.merged.json)).toEqual(summary(v511.one.json));
  });

  it('the merge finds each point of no return, as one process does; --no-pnr skips it', async () => {
    type Pnr = { property: string; pointOfNoReturn?: unknown };
    const pnr = (j: Json) =>
      (j.violations as unknown as Pnr[])
        .map((v) => [v.property, v.pointOfNoReturn] as const)
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([, p]) => p);
    expect(pnr(v511.merged.json)).toEqual(pnr(v511.one.json));
    expect(pnr(v511.merged.json).every((p) => p !== undefined)).toBe(true);
    const skipped = await cli(['explore', 'merge', v511.shards, '--json', '--no-pnr', '--out', path.join(dir, 'v5.11', 'merged-no-pnr')]);
    expect(skipped.code, skipped.err).toBe(1);
    expect(pnr(JSON.parse(skipped.out) as Json).every((p) => p === undefined)).toBe(true);
  });

  it('mainline, no-kernel-bug: exit 0, complete, no violation', () => {
    expect(mainline.one.code).toBe(0);
    expect(mainline.merged.code).toBe(0);
    expect(summary(mainline.merged.json)).toEqual(summary(mainline.one.json));
    expect(mainline.merged.json).toMatchObject({ complete: true, violations: [] });
  });

  it("the merged counts are the shared prefix once plus each shard's own below the split, and say so", () => {
    const s = v511.merged.json.shards;
    expect(s?.count).toBe(4);
    expect(s?.split?.depth).toBeGreaterThan(0);
    expect(s?.split?.frontier).toBeGreaterThanOrEqual(32);
    const sum = (s?.each ?? []).reduce((a, e) => a + e.statesVisited, 0);
    expect(v511.merged.json.statesVisited).toBe(sum - 3 * (s?.split?.prefixStates ?? NaN));
    expect(s?.each.map((e) => e.index)).toEqual([0, 1, 2, 3]);
  });

  it('the text report says what the numbers mean', async () => {
    const r = await cli(['explore', 'merge', v511.shards, '--out', path.join(dir, 'v5.11', 'merged-text')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/merged from 4 shards/);
    expect(r.out).toMatch(/the counts are the shared prefix \(\d+ states\) once, and what each shard searched below the split/);
    expect(r.out).toMatch(/^VIOLATION no-kernel-bug: /m);
  });

  it('a merged counterexample replays with run --replay', async () => {
    for (const v of v511.merged.json.violations) {
      const r = await cli(['run', '--replay', v.traceFile, '--json']);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(v.property);
    }
  });
});

describe('merge refuses what is not exactly the shards of one search (exit 2, naming the file, no trace)', () => {
  const copy = (name: string, skip: (f: string) => boolean = () => false): string => {
    const to = path.join(dir, 'bad', name);
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(v511.shards)) if (!skip(f)) fs.copyFileSync(path.join(v511.shards, f), path.join(to, f));
    return to;
  };
  const refused = async (args: string[], pattern: RegExp) => {
    const out = path.join(dir, 'bad', `out-${Math.random().toString(16).slice(2)}`);
    const r = await cli(['explore', 'merge', ...args, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
    expect(r.out).toBe('');
  };

  it('a missing shard, naming its index', async () => {
    await refused([copy('missing', (f) => f.includes('shard-2-of-4'))], /shootdown: explore merge: shard 2 of 4 is missing \(3 of 4 given\)/);
  });

  it('a shard given twice, naming both files', async () => {
    const d = copy('twice');
    await refused([d, path.join(d, 'R2-v5.11-shard-1-of-4.json')], /shard 1 of 4 is given twice: '.*R2-v5\.11-shard-1-of-4\.json' and '.*R2-v5\.11-shard-1-of-4\.json'/);
  });

  it("a shard of another search: another kernel and properties, each named", async () => {
    const d = copy('mixed', (f) => f.includes('shard-3-of-4'));
    await refused([d, path.join(mainline.shards, 'R2-mainline-shard-3-of-4.json')], /is not a shard of the same search as .*: the scenario searched \(its content hash differs\); kernel "mainline" against "v5\.11"; properties \["no-kernel-bug"\] against \[\]$/m);
  });

  it('a shard of a search split another number of ways', async () => {
    const other = path.join(dir, 'bad', 'halves');
    expect((await cli(['explore', 'R2', '--cpus', '3', '--kernel', 'v5.11', '--shard', '1/2', '--out', other])).code).toBe(0);
    const d = copy('of', (f) => f.includes('shard-1-of-4'));
    await refused([d, path.join(other, 'R2-v5.11-shard-1-of-2.json')], /not a shard of the same search .*: shard 1 of 2 against shards of 4/);
  });

  it('a shard that split at another frontier', async () => {
    const d = copy('frontier');
    const f = path.join(d, 'R2-v5.11-shard-1-of-4.json');
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { result: { split: { frontier: number } } };
    doc.result.split.frontier += 1;
    fs.writeFileSync(f, JSON.stringify(doc));
    await refused([d], /'.*R2-v5\.11-shard-1-of-4\.json' split the search at another frontier than '.*R2-v5\.11-shard-0-of-4\.json'/);
  });

  it('a file cut short', async () => {
    const d = copy('cut');
    const f = path.join(d, 'R2-v5.11-shard-0-of-4.json');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 500));
    await refused([d], /'.*R2-v5\.11-shard-0-of-4\.json': damaged shard result: not JSON/);
  });

  it('a field out of range, naming it', async () => {
    const d = copy('field');
    const f = path.join(d, 'R2-v5.11-shard-3-of-4.json');
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { result: { statesVisited: number } };
    doc.result.statesVisited = -1;
    fs.writeFileSync(f, JSON.stringify(doc));
    await refused([d], /'.*R2-v5\.11-shard-3-of-4\.json': damaged shard result: result\.statesVisited: expected a whole number/);
  });

  it('a counterexample that does not replay to its violation', async () => {
    const d = copy('replay');
    // In every shard, one decision of the shortest BUG's run said to have had one more choice than it had.
    for (const name of fs.readdirSync(d)) {
      const f = path.join(d, name);
      const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { violations: { property: string; picks: number[][] }[] };
      const v = doc.violations.find((x) => x.property === 'no-kernel-bug') as { picks: number[][] };
      const at = v.picks.findIndex((p) => (p[1] as number) > 1);
      v.picks[at] = [v.picks[at]?.[0] as number, (v.picks[at]?.[1] as number) + 1];
      fs.writeFileSync(f, JSON.stringify(doc));
    }
    await refused([d], /'.*R2-v5\.11-shard-\d-of-4\.json': its no-kernel-bug counterexample \(26 decisions\) does not replay to its violation: damaged \(the 26 decisions are not a run of the scenario: decision \d+ has \d+ options in the run, the list says \d+\)/);
  });

  it('a counterexample with forced decisions appended to it', async () => {
    // Forced decisions ([0, 1]) are not choices a replay makes, so only a replay of every decision
    // sees that the list goes on where the run does not (this crashed the point-of-no-return search).
    const d = copy('forced');
    for (const name of fs.readdirSync(d)) {
      const f = path.join(d, name);
      const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { violations: { property: string; picks: number[][]; keys?: string[]; length: number }[] };
      const v = doc.violations.find((x) => x.property === 'no-kernel-bug') as { picks: number[][]; keys?: string[]; length: number };
      for (let i = 0; i < 500; i++) {
        v.picks.push([0, 1]);
        v.keys?.push('');
      }
      v.length = v.picks.length;
      fs.writeFileSync(f, JSON.stringify(doc));
    }
    await refused([d], /'.*R2-v5\.11-shard-\d-of-4\.json': its no-kernel-bug counterexample \(526 decisions\) does not replay to its violation: damaged \(the 526 decisions are not a run of the scenario: decision \d+ has \d+ options? in the run, the list says 1\)/);
  });

  it('a choice list longer than the depth bound of its search is refused as read, naming the field', async () => {
    const d = copy('longer');
    const f = path.join(d, 'R2-v5.11-shard-0-of-4.json');
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { run: { maxDepth: number }; violations: { picks: number[][] }[] };
    doc.run.maxDepth = 10;
    fs.writeFileSync(f, JSON.stringify(doc));
    await refused([d], /'.*R2-v5\.11-shard-0-of-4\.json': damaged shard result: violations\[0\]\.picks/);
  });

  it("run fields are held to explore's own ranges", async () => {
    const d = copy('ranges');
    const f = path.join(d, 'R2-v5.11-shard-1-of-4.json');
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { run: { maxDepth: number } };
    doc.run.maxDepth = 1e12;
    fs.writeFileSync(f, JSON.stringify(doc));
    await refused([d], /'.*R2-v5\.11-shard-1-of-4\.json': damaged shard result: run\.maxDepth/);
  });

  /** Shard `index` of `from`'s four, relabelled as shard `to.index` of `to.of` (file name and `shard`). */
  const relabel = (from: string, name: string, index: number, to: { index: number; of: number }, edit: (doc: ShardJson) => void = () => {}): string => {
    const d = path.join(dir, 'bad', name);
    fs.mkdirSync(d, { recursive: true });
    const file = fs.readdirSync(from).find((f) => f.endsWith(`-shard-${index}-of-4.json`)) as string;
    const doc = JSON.parse(fs.readFileSync(path.join(from, file), 'utf8')) as ShardJson;
    doc.shard = to;
    edit(doc);
    const out = path.join(d, file.replace(/-shard-\d+-of-4\.json$/, `-shard-${to.index}-of-${to.of}.json`));
    fs.writeFileSync(out, JSON.stringify(doc));
    return out;
  };

  it('one complete shard of four relabelled as the only shard: its kept frontier states are not the frontier', async () => {
    // Before, merge called the quarter of the search it holds "complete" (exit 0, no violation).
    const f = relabel(mainline.shards, 'quarter', 0, { index: 0, of: 1 });
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as ShardJson;
    expect(doc.result.complete).toBe(true);
    const { kept, frontier, depth } = doc.result.split;
    expect(kept).toBeLessThan(frontier);
    await refused([path.dirname(f)], new RegExp(`damaged shard results: the one shard keeps ${kept} of the ${frontier} frontier states at split depth ${depth}, where each frontier state is exactly one shard's \\('.*-shard-0-of-1\\.json' keeps ${kept}\\)$`, 'm'));
  });

  it('three complete shards of four relabelled as three: a quarter of the frontier is nobody\'s', async () => {
    const files = [0, 1, 2].map((i) => relabel(mainline.shards, 'three', i, { index: i, of: 3 }));
    const docs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as ShardJson);
    const kept = docs.reduce((a, d) => a + d.result.split.kept, 0);
    const frontier = docs[0]?.result.split.frontier as number;
    expect(kept).toBeLessThan(frontier);
    await refused([path.dirname(files[0] as string)], new RegExp(`the 3 shards keep ${kept} of the ${frontier} frontier states .*'.*-shard-0-of-3\\.json' keeps \\d+, '.*-shard-1-of-3\\.json' keeps \\d+, '.*-shard-2-of-3\\.json' keeps \\d+\\)$`, 'm'));
  });

  it("a shard's split that contradicts itself or its number of shards, naming the file and the field", async () => {
    const frontier = (JSON.parse(fs.readFileSync(path.join(mainline.shards, 'R2-mainline-shard-1-of-4.json'), 'utf8')) as ShardJson).result.split.frontier;
    const more = relabel(mainline.shards, 'kept-more', 1, { index: 1, of: 4 }, (d) => (d.result.split.kept = frontier + 1));
    await refused([more], new RegExp(`'.*shard-1-of-4\\.json': damaged shard result: result\\.split\\.kept: ${frontier + 1} frontier states kept of the ${frontier} there were`));
    // Split as a search in fewer shards splits: fewer frontier states than one in 4·FRONTIER_PER_SHARD shards waits for.
    const least = FRONTIER_PER_SHARD * Math.ceil((frontier + 1) / FRONTIER_PER_SHARD);
    const ways = least / FRONTIER_PER_SHARD;
    const many = relabel(mainline.shards, 'more-ways', 0, { index: 0, of: ways });
    await refused([many], new RegExp(`'.*shard-0-of-${ways}\\.json': damaged shard result: result\\.split\\.frontier: ${frontier} states, but a search in ${ways} shards splits at the first depth with at least ${least} \\(${FRONTIER_PER_SHARD} per shard\\): not a shard of ${ways}`));
    const unsplit = relabel(mainline.shards, 'unsplit', 2, { index: 2, of: 4 }, (d) => Object.assign(d.result.split, { depth: null }));
    await refused([unsplit], /'.*shard-2-of-4\.json': damaged shard result: result\.split: no split depth \(the search ended above it\), yet \d+ frontier states and \d+ kept/);
  });

  it('a file that is not a shard result, and a directory with none', async () => {
    const f = path.join(dir, 'bad', 'not-a-shard.json');
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, '{"format":"something else"}');
    await refused([f], /not-a-shard\.json': damaged shard result: format: expected 'shootdown-explore-shard'/);
    const empty = path.join(dir, 'bad', 'empty');
    fs.mkdirSync(empty, { recursive: true });
    await refused([empty], /holds no shard results/);
    await refused([], /explore merge takes the shard results/);
    await refused([v511.shards, '--kernel', 'mainline'], /explore merge: unknown option '--kernel': merge takes --out DIR, --json, --no-pnr and --pnr-max-states N \(the point of no return is found at the merge\); the search's own options come from the shard results/);
  });
});

describe('--shard and --split-depth are checked before any search', () => {
  it.each([
    ['4/4', /--shard 4\/4: index 4 is out of range: the 4 shards are numbered 0 to 3/],
    ['1/0', /--shard 1\/0: the number of shards must be from 1 to 10,000/],
    ['two/4', /--shard: expected I\/N, .* got 'two\/4'/],
    ['/4', /got '\/4' \(an empty index or count: is \$JOB_COMPLETION_INDEX set\?\)/],
    ['1.5/4', /--shard: expected I\/N/],
  ])('--shard %s', async (value, pattern) => {
    const out = path.join(dir, 'never');
    const r = await cli(['explore', 'R2', `--shard=${value}`, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(fs.existsSync(out)).toBe(false);
  });

  it.each([
    [['--shard', '0/2', '--workers', '2'], /--shard and --workers cannot be combined/],
    [['--split-depth', '5'], /--split-depth: only for a sharded search/],
    [['--shard', '0/2', '--split-depth', '5', '--strategy', 'random'], /--split-depth: only for --strategy exhaustive/],
    [['--shard', '0/2', '--split-depth', '0'], /--split-depth: expected a whole number from 1/],
  ])('%j', async (args, pattern) => {
    const r = await cli(['explore', 'R2', ...args, '--out', path.join(dir, 'never')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
  });

  it('a shard result that would replace a directory is refused before the search', async () => {
    const out = path.join(dir, 'occupied');
    fs.mkdirSync(path.join(out, 'R2-v5.11-shard-0-of-2.json'), { recursive: true });
    const r = await cli(['explore', 'R2', '--kernel', 'v5.11', '--shard', '0/2', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out: cannot write the shard result '.*R2-v5\.11-shard-0-of-2\.json': it is a directory/);
  });
});

describe('more', () => {
  it('a scenario file (over 1 MiB): merge needs only the shard results (the file is gone by then)', async () => {
    const raw = (findBuiltin('R2') as { raw: object }).raw;
    const file = path.join(dir, 'my-race.json');
    fs.writeFileSync(file, JSON.stringify(raw, null, 2) + ' '.repeat(1_200_000) + '\n');
    const shards = path.join(dir, 'file-shards');
    const args = [file, '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--split-depth', '6'];
    for (const i of [0, 1, 2]) expect((await cli(['explore', ...args, '--shard', `${i}/3`, '--out', shards])).code).toBe(0);
    const one = await cli(['explore', ...args.slice(0, -2), '--json', '--out', path.join(dir, 'file-one')]);
    fs.rmSync(file);
    const merged = await cli(['explore', 'merge', shards, '--json', '--out', path.join(dir, 'file-merged')]);
    expect(merged.code, merged.err).toBe(1);
    expect(summary(JSON.parse(merged.out) as Json)).toEqual(summary(JSON.parse(one.out) as Json));
    expect((JSON.parse(merged.out) as Json).shards?.split?.depth).toBe(6);
    // The text report's replay command works without the file: it names a copy beside the traces.
    const text = await cli(['explore', 'merge', shards, '--no-pnr', '--out', path.join(dir, 'file-merged')]);
    const command = /shortest run found: \d+ decisions — shootdown run (\S+) --replay (\S+)$/m.exec(text.out);
    expect(command, text.out).not.toBeNull();
    const [, scenarioFile, trace] = command as RegExpExecArray;
    expect(scenarioFile).toBe(path.join(dir, 'file-merged', `scenario-${/"scenarioDigest":"([0-9a-f]{16})"/.exec(fs.readFileSync(trace as string, 'utf8'))?.[1]}`, 'my-race.json'));
    const replay = await cli(['run', scenarioFile as string, '--replay', trace as string]);
    expect(replay.err).toMatch(/replay: reproduced all/);
    expect(replay.code).toBe(0);
    // With the file where the shards had it, the command names it.
    fs.writeFileSync(file, JSON.stringify(raw, null, 2) + ' '.repeat(1_200_000) + '\n');
    const again = await cli(['explore', 'merge', shards, '--no-pnr', '--out', path.join(dir, 'file-merged')]);
    expect(again.out).toContain(`shootdown run ${file} --replay`);
  });

  it('a search that ends above the split depth is searched whole by every shard; the merged counts are one shard\'s', async () => {
    const args = ['R1', '--kernel', 'mainline', '--split-depth', '100000'];
    const shards = path.join(dir, 'unsplit');
    for (const i of [0, 1]) expect((await cli(['explore', ...args, '--shard', `${i}/2`, '--out', shards])).code).toBe(0);
    const one = JSON.parse((await cli(['explore', ...args.slice(0, 3), '--json', '--out', path.join(dir, 'unsplit-one')])).out) as Json;
    const merged = await cli(['explore', 'merge', shards, '--json', '--out', path.join(dir, 'unsplit-merged')]);
    expect(merged.code).toBe(0);
    const json = JSON.parse(merged.out) as Json;
    expect(json.shards?.split?.depth).toBeNull();
    expect(json.statesVisited).toBe(one.statesVisited);
    const text = await cli(['explore', 'merge', shards, '--out', path.join(dir, 'unsplit-merged')]);
    expect(text.out).toMatch(/the search never reached the split depth \(it ended or stopped above it\): every shard searched the same states; the counts are the largest shard's/);
  });

  it('a shard cut by --max-time before the split is merged, not refused: the verdict is incomplete', async () => {
    const d = path.join(dir, 'cut-by-time');
    fs.mkdirSync(d, { recursive: true });
    for (const f of fs.readdirSync(v511.shards)) fs.copyFileSync(path.join(v511.shards, f), path.join(d, f));
    // Shard 2 as --max-time would leave it had the time run out in the prefix: fewer states, no split, nothing found.
    const f = path.join(d, 'R2-v5.11-shard-2-of-4.json');
    const doc = JSON.parse(fs.readFileSync(f, 'utf8')) as { result: { complete: boolean; stoppedBy: string[]; statesVisited: number; transitions: number; split: object }; violations: unknown[] };
    Object.assign(doc.result, { complete: false, stoppedBy: ['max-time'], statesVisited: 50, transitions: 60, split: { depth: null, frontier: 0, kept: 0, prefixStates: 50, prefixTransitions: 60 } });
    doc.violations = [];
    fs.writeFileSync(f, JSON.stringify(doc));
    const r = await cli(['explore', 'merge', d, '--json', '--out', path.join(dir, 'cut-by-time-out')]);
    expect(r.code, r.err).toBe(1);
    const json = JSON.parse(r.out) as Json;
    expect(json).toMatchObject({ complete: false, stoppedBy: ['max-time'] });
    const each = json.shards?.each ?? [];
    const prefix = json.shards?.split?.prefixStates ?? NaN;
    expect(json.statesVisited).toBe(prefix + each.reduce((a, e) => a + (e.index === 2 ? 0 : e.statesVisited - prefix), 0));
  });

  it('more than 16 shards: the text report sums them up in two lines (the JSON lists each)', async () => {
    const shards = path.join(dir, 'many');
    for (let i = 0; i < 20; i++) expect((await cli(['explore', 'R1', '--kernel', 'mainline', '--shard', `${i}/20`, '--out', shards])).code).toBe(0);
    const r = await cli(['explore', 'merge', shards, '--out', path.join(dir, 'many-out')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ {2}shard states: \d+ \(shard 0\) to \d+ \(shard \d+\); the slowest: shard \d+, \d+ ms\n {2}every shard complete \(--json lists each shard\)$/m);
    expect(r.out).not.toMatch(/^ {2}shard \d+:/m);
    const json = JSON.parse((await cli(['explore', 'merge', shards, '--json', '--out', path.join(dir, 'many-out')])).out) as Json;
    expect(json.shards?.each).toHaveLength(20);
  });

  it('a bound met in the shards is the merged verdict: exit 3, the bound named', async () => {
    const args = ['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-states', '300'];
    const shards = path.join(dir, 'bounded');
    for (const i of [0, 1]) expect((await cli(['explore', ...args, '--shard', `${i}/2`, '--out', shards])).code).toBe(0);
    const merged = await cli(['explore', 'merge', shards, '--out', path.join(dir, 'bounded-merged')]);
    expect(merged.code).toBe(3);
    expect(merged.out).toMatch(/stopped: the state bound was reached: raise it with --max-states N/);
  });

  it('random walks shard by seeds as --workers does: the same counterexamples', async () => {
    const args = ['R2', '--kernel', 'v5.11', '--strategy', 'random', '--runs', '12'];
    const shards = path.join(dir, 'random-shards');
    for (const i of [0, 1, 2]) expect((await cli(['explore', ...args, '--shard', `${i}/3`, '--out', shards])).code).toBe(0);
    const merged = await cli(['explore', 'merge', shards, '--json', '--out', path.join(dir, 'random-merged')]);
    const workers = await cli(['explore', ...args, '--workers', '3', '--json', '--out', path.join(dir, 'random-workers')]);
    expect(merged.code).toBe(workers.code);
    expect(summary(JSON.parse(merged.out) as Json)).toEqual(summary(JSON.parse(workers.out) as Json));
    expect((JSON.parse(merged.out) as Json).shards?.split).toBeNull();
  });

  it('both engines split the same way: the shard is a function of the states, not of the engine', () => {
    const b = findBuiltin('R2') as { raw: object };
    const r = validateScenario(b.raw, 'R2', validationContext);
    if (!r.ok) throw new Error('R2 does not validate');
    const scenario = { ...r.scenario, kernel: { preset: 'v5.11', fix: [], noFix: [] } };
    const opts: ExploreOptions = { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true };
    for (const i of [0, 1, 2]) {
      const cached = exploreShard(scenario, { ...opts, engine: 'cached' }, i, 3);
      const direct = exploreShard(scenario, { ...opts, engine: 'direct' }, i, 3);
      expect(cached.split?.depth).toBeGreaterThan(0);
      expect({ ...direct, elapsedMs: 0, firstViolationMs: 0, cache: null }).toEqual({ ...cached, elapsedMs: 0, firstViolationMs: 0, cache: null });
    }
  });
});

describe('as processes (the built command, as a batch system runs it)', () => {
  const bin = path.join(__dirname, '../../dist/src/cli/main.js');
  it('merge refuses, exit 2 naming the file, a shard of two relabelled as the only one (part of the search is not "complete")', () => {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
    const results = path.join(dir, 'process', 'half');
    const shard = spawnSync(process.execPath, [bin, 'explore', 'R2', '--kernel', 'v5.11', '--shard', '0/2', '--out', results, '--all-violations'], { encoding: 'utf8' });
    expect(shard.status, shard.stderr).toBe(0);
    const one = path.join(dir, 'process', 'one');
    fs.mkdirSync(one, { recursive: true });
    const doc = JSON.parse(fs.readFileSync(path.join(results, 'R2-v5.11-shard-0-of-2.json'), 'utf8')) as ShardJson;
    expect(doc.result.complete).toBe(true);
    doc.shard = { index: 0, of: 1 };
    const file = path.join(one, 'R2-v5.11-shard-0-of-1.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const traces = path.join(dir, 'process', 'one-traces');
    const merge = spawnSync(process.execPath, [bin, 'explore', 'merge', one, '--out', traces], { encoding: 'utf8' });
    expect(merge.status, merge.stdout).toBe(2);
    const { kept, frontier } = doc.result.split;
    expect(merge.stderr).toBe(`shootdown: explore merge: damaged shard results: the one shard keeps ${kept} of the ${frontier} frontier states at split depth ${doc.result.split.depth}, where each frontier state is exactly one shard's ('${file}' keeps ${kept})\n`);
    expect(merge.stdout).toBe('');
    expect(fs.existsSync(traces)).toBe(false);
  });

  it('shards exit 0 whatever they found; merge exits 1 for a violation and writes its trace', () => {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
    const results = path.join(dir, 'process', 'results');
    for (const i of [0, 1]) {
      const shard = spawnSync(process.execPath, [bin, 'explore', 'R2', '--kernel', 'v5.11', '--property', 'no-kernel-bug', '--shard', `${i}/2`, '--out', results], { encoding: 'utf8' });
      expect(shard.status, shard.stderr).toBe(0);
      expect(shard.stdout).toMatch(/1 violation found\nshard result written to .*R2-v5\.11-shard-\d-of-2\.json/);
    }
    const traces = path.join(dir, 'process', 'traces');
    const merge = spawnSync(process.execPath, [bin, 'explore', 'merge', results, '--out', traces, '--json'], { encoding: 'utf8' });
    expect(merge.status, merge.stderr).toBe(1);
    const json = JSON.parse(merge.stdout) as Json;
    expect(json.violations.map((v) => v.property)).toEqual(['no-kernel-bug']);
    expect(fs.existsSync(json.violations[0]?.traceFile as string)).toBe(true);
  });
});

describe('docs/sharding.md', () => {
  it("the Kubernetes manifests' commands run as written (the search bounded to a few states here)", async () => {
    const doc = fs.readFileSync(path.join(__dirname, '../../docs/sharding.md'), 'utf8');
    // Each `args: - >-` block: the shell command a container runs, folded onto one line.
    const blocks = [...doc.matchAll(/^( +)- >-\n((?:\1  .*\n)+)/gm)].map((m) => (m[2] as string).replace(/\s+/g, ' ').trim());
    const shard = blocks.find((b) => b.includes(' --shard ')) as string;
    const merge = blocks.find((b) => b.includes(' explore merge ')) as string;
    expect(shard).toMatch(/^exec node \/opt\/shootdown\/dist\/bin\/shootdown\.js explore /);
    const completions = Number(/completions: (\d+)/.exec(doc)?.[1]);
    expect(shard).toContain(`--shard "$JOB_COMPLETION_INDEX/${completions}"`);
    const root = path.join(dir, 'k8s');
    const argv = (command: string, index: number) =>
      command
        .replace(/^(exec )?node \S+\/shootdown\.js /, '')
        .replace(/ > \S+$/, '')
        .replaceAll('$JOB_COMPLETION_INDEX', String(index))
        .replaceAll('/results', root)
        .split(' ')
        .map((a) => a.replace(/^"(.*)"$/, '$1'));
    // The manifest's own --max-states, bounded to a few states here (an option given twice with two values is refused).
    const bounded = (args: string[]) => {
      const at = args.indexOf('--max-states');
      return at < 0 ? [...args, '--max-states', '20'] : args.map((a, j) => (j === at + 1 ? '20' : a));
    };
    for (let i = 0; i < completions; i++) {
      const r = await cli(bounded(argv(shard, i)));
      expect(r.code, r.err).toBe(0);
    }
    const r = await cli(argv(merge, 0));
    expect(r.code, r.err).toBe(3);
    expect((JSON.parse(r.out) as Json).shards?.count).toBe(completions);
  });
});

