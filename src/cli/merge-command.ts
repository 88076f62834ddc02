/**
 * One search over many machines, the merge half: `shootdown explore merge DIR…` reads the N shard result files
 * (shard-command.ts writes them), refuses them unless they are exactly the shards 0 to N−1 of one run, and reports
 * them as one explore does — the same verdict, exit code, counterexample traces (confirmed by replay, for
 * `run --replay`) and JSON, plus `shards`. Its own module because it hands the merged result to exploreCommand,
 * which imports the shard half.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommandArgs } from './args.js';
import type { Scenario } from '../scenarios/types.js';
import type { Found } from '../explore/explorer.js';
import { mergeShards, type SplitInfo } from '../explore/shard.js';
import { confirm, pathProblem } from '../explore/counterexample.js';
import type { ExploreIo } from './io.js';
import { InputError, loadScenario, withKernel } from './scenario-args.js';
import { MAX_SHARDS, readShardFile, resultOf, scenarioSha256, SHARD_FILE_NAME, type ShardDocument, type ShardRun } from './shard-file.js';
import { quote } from './terminal.js';
import { version } from './version.js';
import { exploreCommand } from './explore-command.js';

/** The shard results merge reads at most, all files together: they are held in memory. */
const MAX_MERGE_BYTES = 1 << 30;

/** The shard result files named: each file, and in each directory the files named as shard results. */
function shardFiles(args: readonly string[]): string[] {
  const files: string[] = [];
  for (const a of args) {
    let st: fs.Stats;
    try {
      st = fs.statSync(a);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(`explore merge: '${quote(a)}': ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (st.isDirectory()) {
      const found = fs
        .readdirSync(a)
        .filter((n) => SHARD_FILE_NAME.test(n))
        .sort()
        .map((n) => path.join(a, n));
      if (found.length === 0) throw new InputError(`explore merge: '${quote(a)}' holds no shard results (files named <scenario>-<preset>-shard-I-of-N.json)`);
      files.push(...found);
    } else files.push(a);
    if (files.length > MAX_SHARDS) throw new InputError(`explore merge: more than ${MAX_SHARDS.toLocaleString('en-US')} shard results`);
  }
  return files;
}

/** The fields of two runs' identities that differ, for the message: `a`'s value against `b`'s. */
function differences(a: ShardRun, b: ShardRun): string {
  const show = (v: unknown) => {
    const t = JSON.stringify(v) ?? 'none';
    return quote(t.length > 60 ? `${t.slice(0, 60)}…` : t);
  };
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof ShardRun)[]) {
    if (JSON.stringify(a[k]) === JSON.stringify(b[k])) continue;
    if (k === 'scenario' && a.scenario.name === b.scenario.name && a.scenario.id === b.scenario.id) out.push('the scenario searched (its content hash differs)');
    else out.push(`${k} ${show(a[k])} against ${show(b[k])}`);
  }
  return out.join('; ');
}

const ranges = (xs: readonly number[]): string => {
  const out: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && (xs[j + 1] as number) === (xs[j] as number) + 1) j++;
    out.push(j === i ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(', ');
};

/** Shards listed one per line in the text report, at most (the JSON lists every one). */
const SHARD_LINES = 16;

/** The shards in three lines: the fewest and most states, the slowest, those that did not complete. */
function manyShards(each: readonly { index: number; statesVisited: number; elapsedMs: number; complete: boolean }[]): string {
  const by = <T>(f: (e: (typeof each)[number]) => number) => [...each].sort((a, b) => f(a) - f(b) || a.index - b.index);
  const states = by((e) => e.statesVisited);
  const fewest = states[0] as (typeof each)[number];
  const most = states[states.length - 1] as (typeof each)[number];
  const slowest = by((e) => e.elapsedMs)[each.length - 1] as (typeof each)[number];
  const incomplete = each.filter((e) => !e.complete).map((e) => e.index);
  return (
    `  shard states: ${fewest.statesVisited} (shard ${fewest.index}) to ${most.statesVisited} (shard ${most.index}); the slowest: shard ${slowest.index}, ${slowest.elapsedMs} ms\n` +
    `  ${incomplete.length === 0 ? 'every shard complete' : `not complete: shard${incomplete.length === 1 ? '' : 's'} ${ranges(incomplete)}`} (--json lists each shard)\n`
  );
}

/** `shootdown explore merge <dir | file>... [--out DIR] [--json] [--no-pnr] [--pnr-max-states N]`. */
export async function mergeCommand(args: string[], io: ExploreIo): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, json: { type: 'boolean' }, 'no-pnr': { type: 'boolean' }, 'pnr-max-states': { type: 'string' } } });
  } catch (e) {
    const message = (e as Error).message.split('\n')[0] ?? 'bad arguments';
    const unknown = /^Unknown option '([^']*)'/.exec(message);
    if (unknown) {
      throw new InputError(`explore merge: unknown option '${quote(unknown[1] as string)}': merge takes --out DIR, --json, --no-pnr and --pnr-max-states N (the point of no return is found at the merge); the search's own options come from the shard results`);
    }
    throw new InputError(message);
  }
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new InputError('explore merge takes the shard results: directories holding them, or the files');
  const files = shardFiles(positionals);
  const docs: { file: string; doc: ShardDocument }[] = [];
  let budget = MAX_MERGE_BYTES;
  for (const file of files) {
    if (budget <= 0) throw new InputError(`explore merge: the shard results come to more than ${MAX_MERGE_BYTES / (1 << 20)} MiB; '${quote(file)}' is over it`);
    const doc = readShardFile(file, budget);
    budget -= doc.bytes;
    // One copy of a scenario file's text is enough (the scenario's hash is compared, not its text).
    docs.push({ file, doc: docs.length === 0 ? doc : { ...doc, scenarioText: null } });
  }

  // One run: the same identity, the same number of shards, the same shared prefix; each shard once.
  const first = docs[0] as { file: string; doc: ShardDocument };
  const of = first.doc.shard.of;
  // The prefix is the same in every shard — but --max-time may cut a shard before the split.
  const cut = (d: ShardDocument) => d.result.split?.depth === null && d.result.stoppedBy.includes('max-time');
  const split = (d: ShardDocument) => JSON.stringify(d.result.split && { ...d.result.split, kept: 0 });
  const reference = docs.find(({ doc }) => !cut(doc)) ?? first;
  for (const { file, doc } of docs.slice(1)) {
    const other = `'${quote(file)}' is not a shard of the same search as '${quote(first.file)}'`;
    const diff = differences(doc.run, first.doc.run);
    if (diff) throw new InputError(`explore merge: ${other}: ${diff}`);
    if (doc.shard.of !== of) throw new InputError(`explore merge: ${other}: shard ${doc.shard.index} of ${doc.shard.of} against shards of ${of}`);
  }
  for (const { file, doc } of docs) {
    if (!cut(doc) && split(doc) !== split(reference.doc)) {
      throw new InputError(`explore merge: '${quote(file)}' split the search at another frontier than '${quote(reference.file)}' (damaged, or another build of shootdown)`);
    }
  }
  const byIndex = new Map<number, string>();
  for (const { file, doc } of docs) {
    const prior = byIndex.get(doc.shard.index);
    if (prior !== undefined) throw new InputError(`explore merge: shard ${doc.shard.index} of ${of} is given twice: '${quote(prior)}' and '${quote(file)}'`);
    byIndex.set(doc.shard.index, file);
  }
  const missing = Array.from({ length: of }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new InputError(`explore merge: shard${missing.length === 1 ? '' : 's'} ${ranges(missing)} of ${of} ${missing.length === 1 ? 'is' : 'are'} missing (${docs.length} of ${of} given)`);
  }
  // Each frontier state is expanded by exactly one shard (its state hash modulo N): the shards keep the
  // whole frontier between them, or the merged verdict would speak for states no shard searched. A shard
  // stopped by a bound may have stopped inside the frontier, so then it is only "at most".
  const at = reference.doc.result.split;
  if (at && at.depth !== null) {
    const kept = docs.reduce((sum, { doc }) => sum + (doc.result.split?.kept ?? 0), 0);
    const whole = docs.every(({ doc }) => doc.result.complete);
    if (whole ? kept !== at.frontier : kept > at.frontier) {
      const each = docs.slice(0, SHARD_LINES).map(({ file, doc }) => `'${quote(file)}' keeps ${doc.result.split?.kept ?? 0}`);
      const more = docs.length > SHARD_LINES ? `, and ${docs.length - SHARD_LINES} more` : '';
      throw new InputError(
        `explore merge: damaged shard results: ${of === 1 ? 'the one shard keeps' : `the ${of} shards keep`} ${kept} of the ${at.frontier} frontier states at split depth ${at.depth}, where each frontier state is exactly one shard's (${each.join(', ')}${more})`,
      );
    }
  }
  const run = first.doc.run;
  if (run.shootdown !== version()) {
    throw new InputError(`explore merge: the shards were searched by shootdown ${quote(run.shootdown)}, this is ${version()}: merge with the version that searched them (counterexamples replay on it)`);
  }

  // The scenario again, from the shard file alone; it must be the one searched.
  const readFile = (file: string): string => {
    if (file === run.scenario.name && first.doc.scenarioText !== null) return first.doc.scenarioText;
    throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  };
  let scenario: Scenario;
  try {
    scenario = withKernel(loadScenario(run.scenario.name, readFile, run.cpus ?? undefined), run.kernel ?? undefined, run.fix, run.noFix);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    throw new InputError(`explore merge: '${quote(first.file)}': the scenario the shards searched does not load: ${e.message}`);
  }
  if (scenarioSha256(scenario) !== run.scenario.sha256) {
    throw new InputError(`explore merge: '${quote(first.file)}': the scenario ${quote(run.scenario.name)} loaded here differs from the one the shards searched (damaged, or another build of shootdown)`);
  }

  docs.sort((a, b) => a.doc.shard.index - b.doc.shard.index);
  const results = docs.map(({ doc }) => resultOf(doc));
  const result = mergeShards(results, run.allViolations);
  // Each counterexample kept must replay to its violation: a damaged choice list is refused here, naming its file.
  for (const v of result.violations) {
    const at = results.findIndex((r) => r.violations.includes(v as Found));
    try {
      // A list read from a file is checked decision by decision first (confirm replays only the real choices).
      const problem = pathProblem(scenario, v.property, v.picks);
      if (problem !== null) throw new Error(`the ${v.picks.length} decisions are not a run of the scenario: ${problem}`);
      confirm(scenario, v);
    } catch (e) {
      throw new InputError(`explore merge: '${quote(docs[at]?.file ?? first.file)}': its ${v.property} counterexample (${v.picks.length} decisions) does not replay to its violation: damaged (${(e as Error).message})`);
    }
  }

  const s: SplitInfo | null = reference.doc.result.split;
  const each = docs.map(({ file, doc }) => ({
    index: doc.shard.index,
    file,
    complete: doc.result.complete,
    stoppedBy: doc.result.stoppedBy,
    statesVisited: doc.result.statesVisited,
    transitions: doc.result.transitions,
    maxDepth: doc.result.maxDepth,
    elapsedMs: doc.result.elapsedMs,
    violations: doc.violations.length,
    ...(doc.result.split ? { kept: doc.result.split.kept } : {}),
  }));
  const shards = {
    count: of,
    split: s && { depth: s.depth, frontier: s.frontier, prefixStates: s.prefixStates, prefixTransitions: s.prefixTransitions },
    each,
  };
  const counted = s
    ? s.depth === null
      ? `  the search never reached the split depth (it ended or stopped above it): every shard searched the same states; the counts are the largest shard's\n`
      : `  split at depth ${s.depth} (${s.frontier} frontier states); the counts are the shared prefix (${s.prefixStates} states) once, and what each shard searched below the split: a state reached from the frontier states of several shards counts once for each\n`
    : `  the shards' counts summed (each counts the distinct states of its own runs)\n`;
  const text =
    `  merged from ${of} shard${of === 1 ? '' : 's'}; elapsed: the longest shard's\n` +
    counted +
    (each.length <= SHARD_LINES ? each.map((e) => `  shard ${e.index}: ${e.statesVisited} states, ${e.transitions} transitions, ${e.elapsedMs} ms, ${e.complete ? 'complete' : `stopped by ${e.stoppedBy.join(', ')}`}\n`).join('') : manyShards(each));

  // The report, counterexample traces and exit code of explore itself, with the run's own options.
  const flags = [
    ...(run.cpus !== null ? ['--cpus', String(run.cpus)] : []),
    ...(run.kernel !== null ? ['--kernel', run.kernel] : []),
    ...run.fix.flatMap((f) => ['--fix', f]),
    ...run.noFix.flatMap((f) => ['--no-fix', f]),
    '--strategy', run.strategy,
    ...run.properties.flatMap((p) => ['--property', p]),
    '--max-states', String(run.maxStates),
    '--max-depth', String(run.maxDepth),
    ...(run.maxTimeS !== null ? ['--max-time', String(run.maxTimeS)] : []),
    ...(run.allViolations ? ['--all-violations'] : []),
    '--seed', String(run.seed),
    '--runs', String(run.runs),
    '--pct-depth', String(run.pctDepth),
    ...(run.reduction ? [] : ['--no-reduction']),
    ...(values.out !== undefined ? ['--out', values.out] : []),
    ...(values.json ? ['--json'] : []),
    // The points of no return are searched here, from the merged counterexamples: the merge's own choice.
    ...(values['no-pnr'] ? ['--no-pnr'] : []),
    ...(values['pnr-max-states'] !== undefined ? ['--pnr-max-states', values['pnr-max-states']] : []),
  ];
  return exploreCommand([...flags, '--', run.scenario.name], { ...io, readFile }, { result, shards, text });
}
