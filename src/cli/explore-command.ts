/**
 * `shootdown explore`: every interleaving of a scenario, checked against the properties; each
 * violation comes with the shortest run found, written as a trace that `shootdown run --replay`
 * reproduces. Exit 0 for a complete search with no violation, 1 when a property fails, 2 on bad
 * input, 3 when the search stopped at a bound (states, depth, time) without finding any.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommandArgs } from './args.js';
import { escapeControls, replayCommand } from './terminal.js';
import type { ExploreIo } from './io.js';
import { checkOutFiles, idForFileName, writeOutFiles, type OutFile } from './out-files.js';
import { InputError, KERNEL_FLAGS, loadScenario, withKernel } from './scenario-args.js';
import { hasGuests } from '../sim/simulation.js';
import { PROPERTY_NAMES, whyInapplicable } from '../spec/index.js';
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult, type Progress, type StopReason, type Strategy } from '../explore/explorer.js';
import { exploreParallel } from '../explore/parallel.js';
import { confirm } from '../explore/counterexample.js';
import { DEFAULT_PNR_MAX_STATES, DEFAULT_PNR_MAX_STATES_GUESTS, pointOfNoReturn, type PointOfNoReturn } from '../explore/point-of-no-return.js';
import { formatRecord } from '../trace/records.js';
import { exploreShard } from '../explore/shard.js';
import { SYMMETRY_BY_DEFAULT_FROM, symmetryByDefault, symmetryGroups } from '../explore/symmetry.js';
import { shardRun, type MergedShards, type ShardPlan } from './shard-command.js';
import { MAX_EXPLORE_CPUS, NUMERIC } from './explore-limits.js';
import type { Scenario } from '../scenarios/types.js';
import { DEFAULT_OPTIONS } from '../scenarios/validate.js';



/** Exit code of a search that stopped at a bound and found nothing: not a proof, not a failure. */
export const EXIT_INCOMPLETE = 3;

export type { ExploreIo };


/** A numeric option's value, checked: a whole number in its range, with a message naming the option. */
function numeric(name: string, text: string | undefined, fallback: number): number;
function numeric(name: string, text: string | undefined, fallback: null): number | null;
function numeric(name: string, text: string | undefined, fallback: number | null): number | null {
  if (text === undefined) return fallback;
  const [min, max] = NUMERIC[name] as [number, number];
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  const range = `a whole number from ${min} to ${max.toLocaleString('en-US')}`;
  if (text === '') throw new InputError(`--${name}: expected ${range}, got an empty value`);
  if (!/^[+-]?\d+$/.test(text)) throw new InputError(`--${name}: expected ${range}, got ${shown} (digits only: no point, exponent or separator)`);
  const n = Number(text);
  if (n < min) throw new InputError(`--${name}: expected ${range}, got ${shown} (too small)`);
  if (n > max) throw new InputError(`--${name}: expected ${range}, got ${shown} (too large)`);
  return n;
}

/** How to raise each bound, for the message that says which one stopped the search. */
const RAISE: Record<StopReason, string> = {
  violations: 'every property checked was violated, so the search stopped at the first (shortest) violation of each; --all-violations goes on',
  'max-states': 'the state bound was reached: raise it with --max-states N',
  'max-depth': 'runs were cut at the depth bound: raise it with --max-depth N',
  'max-time': 'the time bound ran out: raise it with --max-time S',
  memory: 'the JavaScript heap was three-quarters full: lower --max-states or --cpus, or give node more (NODE_OPTIONS=--max-old-space-size=MB)',
  sampled: 'random walks and PCT sample the space, they never exhaust it: --strategy exhaustive searches all of it',
};

/**
 * Where counterexample traces go, checked before the search (a search can take minutes): a
 * directory, or a path whose nearest existing ancestor is a writable directory; not under /proc,
 * /sys or /dev, whose files are not files.
 */
export function checkOutDir(dir: string): void {
  if (dir === '') throw new InputError("--out: expected a directory for the counterexample traces, got ''");
  if (dir.includes('\0')) throw new InputError('--out: the path contains a NUL byte');
  let probe = path.resolve(dir);
  const missing: string[] = [];
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(probe);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new InputError(`--out: '${dir}' is under a file, not a directory`);
      if (code !== 'ENOENT') throw new InputError(`--out: cannot use '${dir}': ${(e as Error).message}`);
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new InputError(missing.length === 0 ? `--out: '${dir}' exists and is not a directory` : `--out: '${dir}' is under a file, not a directory`);
      }
      break;
    }
    missing.push(path.basename(probe));
    const up = path.dirname(probe);
    if (up === probe) break;
    probe = up;
  }
  const real = fs.realpathSync(probe);
  if (/^\/(proc|sys|dev)(\/|$)/.test(real)) throw new InputError(`--out: '${dir}' is in ${real.split('/')[1] === 'dev' ? '/dev' : `/${real.split('/')[1]}`}, a pseudo-filesystem, not a place for trace files`);
  try {
    fs.accessSync(real, fs.constants.W_OK);
  } catch {
    throw new InputError(`--out: cannot write in '${real}'`);
  }
}

/**
 * The scenario file a merged counterexample replays on: the shards' file as they named it when that
 * name finds the same text from here (null: nothing to write), else a copy of the text the shard file
 * carries, to write beside the traces in a directory named by the scenario's digest (the file keeps its
 * name: a trace names a scenario file by its id), so that the printed command works wherever the merge ran.
 */
function mergedScenarioCopy(name: string, text: string, scenario: Scenario, outDir: string): OutFile | null {
  let here: string | null = null;
  try {
    // (Read only if it is a regular file of the copy's size: nothing else can be the same.)
    const st = fs.statSync(name);
    if (st.isFile() && st.size === Buffer.byteLength(text)) here = fs.readFileSync(name, 'utf8');
  } catch {
    // Not here: the copy.
  }
  if (here === text) return null;
  return { dir: path.join(outDir, `scenario-${scenario.digest ?? 'file'}`), name: path.basename(name), text };
}

/** `merged`: from `explore merge`, the shards' result in place of a search (and what to say about them). */
export async function exploreCommand(args: string[], io: ExploreIo, merged?: MergedShards): Promise<number> {
  const { values, positionals } = parseCommandArgs({
      args,
      allowPositionals: true,
      options: {
        cpus: { type: 'string' },
        ...KERNEL_FLAGS,
        strategy: { type: 'string' },
        property: { type: 'string', multiple: true },
        'max-states': { type: 'string' },
        'max-depth': { type: 'string' },
        'max-time': { type: 'string' },
        'all-violations': { type: 'boolean' },
        seed: { type: 'string' },
        runs: { type: 'string' },
        'pct-depth': { type: 'string' },
        'no-reduction': { type: 'boolean' },
        symmetry: { type: 'boolean' },
        'no-symmetry': { type: 'boolean' },
        workers: { type: 'string' },
        shard: { type: 'string' },
        'split-depth': { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        'no-pnr': { type: 'boolean' },
        'pnr-max-states': { type: 'string' },
        'max-pass-over': { type: 'string' },
      },
    });
  if (positionals.length !== 1) throw new InputError(`explore takes one scenario (a file or a built-in such as R2), got ${positionals.length}`);
  const strategy = (values.strategy ?? 'exhaustive') as Strategy;
  if (!['exhaustive', 'random', 'pct'].includes(strategy)) throw new InputError(`--strategy: expected exhaustive, random or pct, got '${strategy}'`);
  const properties = values.property ?? [];
  for (const p of properties) {
    if (!(PROPERTY_NAMES as readonly string[]).includes(p)) throw new InputError(`--property: unknown property '${p}' (known: ${PROPERTY_NAMES.join(', ')})`);
  }
  const cpus = numeric('cpus', values.cpus, null);
  const workers = numeric('workers', values.workers, 1);
  const maxTime = numeric('max-time', values['max-time'], null);
  const pnrMaxStatesGiven = numeric('pnr-max-states', values['pnr-max-states'], null);
  if (values['no-pnr'] && values['pnr-max-states'] !== undefined) throw new InputError('--pnr-max-states bounds the point-of-no-return search, which --no-pnr skips: give one');
  const maxPassOver = numeric('max-pass-over', values['max-pass-over'], null);
  if (maxPassOver !== null) {
    // The bound keys per-CPU counts the sleep sets, symmetry and the split of the space do not know.
    if (strategy !== 'exhaustive') throw new InputError(`--max-pass-over bounds the exhaustive search: not with --strategy ${strategy}`);
    if (values.symmetry) throw new InputError('--max-pass-over counts per CPU number: not with --symmetry');
    if (workers > 1 || values.shard !== undefined) throw new InputError('--max-pass-over is for one search: not with --workers or --shard');
  }
  const opts: Omit<ExploreOptions, 'onProgress'> = {
    ...DEFAULT_EXPLORE,
    strategy,
    properties,
    maxStates: numeric('max-states', values['max-states'], DEFAULT_EXPLORE.maxStates),
    maxDepth: numeric('max-depth', values['max-depth'], DEFAULT_EXPLORE.maxDepth),
    seed: numeric('seed', values.seed, DEFAULT_EXPLORE.seed),
    runs: numeric('runs', values.runs, DEFAULT_EXPLORE.runs),
    pctDepth: numeric('pct-depth', values['pct-depth'], DEFAULT_EXPLORE.pctDepth),
    reduction: values['no-reduction'] !== true,
    ...(maxTime !== null ? { maxTimeMs: maxTime * 1000 } : {}),
    ...(values['all-violations'] ? { allViolations: true } : {}),
    ...(maxPassOver !== null ? { maxPassOver } : {}),
  };
  // Where the traces go is checked before the search, not after it.
  const outDir = values.out ?? 'shootdown-traces';
  checkOutDir(outDir);
  let scenarioText: string | null = null;
  const readFile = (file: string) => (scenarioText = io.readFile(file));
  const scenario = withKernel(loadScenario(positionals[0] as string, readFile, cpus ?? undefined), values.kernel, values.fix ?? [], values['no-fix'] ?? []);
  // A property no run of the scenario could violate would pass without checking anything.
  for (const p of properties) {
    const why = whyInapplicable(p, scenario);
    if (why !== null) throw new InputError(`--property ${p} cannot apply to ${escapeControls(scenario.id)}: ${why}`);
  }
  // Workers and shards split the space by root choices and merge counts: symmetry is for one search.
  if (values.symmetry && values['no-symmetry']) throw new InputError('--symmetry and --no-symmetry: give one');
  if (values.symmetry && (workers > 1 || values.shard !== undefined)) throw new InputError('--symmetry is for one search: not with --workers or --shard');
  if (values.symmetry && opts.strategy !== 'exhaustive') throw new InputError(`--symmetry keys the states of the exhaustive search: not with --strategy ${opts.strategy}`);
  const symmetry = values.symmetry === true || (values['no-symmetry'] !== true && maxPassOver === null && symmetryByDefault(scenario, opts.strategy, workers, values.shard !== undefined));
  if (symmetry) opts.symmetry = true;
  const shard: ShardPlan | null = shardRun(values, numeric('split-depth', values['split-depth'], null), { opts, workers, maxTimeS: maxTime, cpus, scenario, scenarioText: scenarioText as string | null, name: positionals[0] as string, outDir });
  // Every explored state holds a copy of every CPU: exploration is for small machines.
  if (scenario.machine.cpus > MAX_EXPLORE_CPUS) {
    throw new InputError(`explore handles at most ${MAX_EXPLORE_CPUS} CPUs (${positionals[0]} has ${scenario.machine.cpus}; --cpus N narrows it, \`shootdown run\` runs it)`);
  }

  // Progress on stderr: redrawn in place on a terminal, else a line every few seconds (a log, a pipe).
  const progressText = (p: Progress) => {
    const rate = p.states / Math.max(p.elapsedMs / 1000, 1e-3);
    return `${p.states} states, ${Math.round(rate)} states/s, depth ${p.depth}, frontier ${p.frontier}, ${Math.round(p.elapsedMs / 1000)} s`;
  };
  const progress = io.isTty
    ? { progressMs: 500, onProgress: (p: Progress) => io.stderr(`\r${progressText(p)}   `) }
    : { progressMs: io.progressMs ?? 5000, onProgress: (p: Progress) => io.stderr(`explore: ${progressText(p)}\n`) };
  let result: ExploreResult;
  // --max-time covers the search and the points of no return after it.
  const started = performance.now();
  if (merged) result = merged.result;
  else if (shard) result = exploreShard(scenario, { ...opts, ...progress }, shard.index, shard.of, shard.splitDepth);
  else if (workers > 1) result = await exploreParallel(scenario, opts, workers, { everyMs: progress.progressMs, onProgress: progress.onProgress });
  else result = explore(scenario, { ...opts, ...progress });
  // Asked for and not applied: say why rather than leave the user to compare counts.
  if (values.symmetry && !result.symmetry && !merged) io.stderr(`shootdown: --symmetry: no reduction here: ${symmetryGroups(scenario).none ?? 'no two CPUs are alike'}\n`);
  if (io.isTty && !merged) io.stderr('\n');
  if (!merged) io.stderr(untimedAtNote(scenario) + maxStepsNote(scenario));
  if (shard) return shard.write(result, io, values.json === true);

  // Every violation is confirmed by replay and written as a trace file named by its content, with
  // its point of no return marked in it (a `noreturn` record after the choice that sealed it).
  const traceName = (v: (typeof result.violations)[number]): string => {
    const digest = crypto
      .createHash('sha256')
      .update(JSON.stringify({ property: v.property, picks: v.picks.filter((p) => p.n > 1) }))
      .digest('hex')
      .slice(0, 12);
    return `${idForFileName(scenario.id)}-${scenario.kernel.preset}-${v.property}-${digest}.jsonl`;
  };
  // A trace's header names a scenario file by its id only: the replay names the file as it was given
  // (from `explore merge`, as the shards were given it, which may be elsewhere: see mergedScenarioCopy).
  const given = positionals[0] as string;
  const copy = scenarioText !== null && merged && !values.json && result.violations.length > 0 ? mergedScenarioCopy(given, scenarioText, scenario, outDir) : null;
  const fromFile = scenarioText === null ? null : copy ? path.join(copy.dir, copy.name) : given;
  // Every file's name is free (or a file's) before the points of no return are searched; all are
  // written at the end, or none: an exit 2 leaves no trace behind.
  const names = result.violations.map(traceName);
  checkOutFiles([...names.map((name) => ({ dir: outDir, name, text: '' })), ...(copy ? [copy] : [])]);
  const deadline = maxTime !== null ? started + maxTime * 1000 : undefined;
  const pnrMaxStates = pnrMaxStatesGiven ?? (hasGuests(scenario) ? DEFAULT_PNR_MAX_STATES_GUESTS : DEFAULT_PNR_MAX_STATES);
  const files: OutFile[] = [];
  const violations = result.violations.map((v, k) => {
    const c = confirm(scenario, v);
    let pnr: PointOfNoReturn | null = null;
    if (!values['no-pnr']) {
      const what = `point of no return of counterexample ${k + 1} of ${result.violations.length} (${v.property}, ${v.picks.length} decisions)`;
      io.stderr(io.isTty ? `\r${what}   ${k + 1 === result.violations.length ? '\n' : ''}` : `explore: ${what}\n`);
      pnr = pointOfNoReturn(scenario, v.property, v.picks, { maxStates: pnrMaxStates, maxDepth: opts.maxDepth, ...(deadline !== undefined ? { deadline } : {}) });
      if (pnr) markPointOfNoReturn(c.lines, pnr);
    }
    const name = traceName(v);
    files.push({ dir: outDir, name, text: c.lines.join('\n') + '\n' });
    // The point of no return is searched over every run, stalls included, also under a pass-over bound.
    const point = pnr
      ? { step: pnr.step, decision: pnr.decision, description: pnr.description, complete: pnr.complete, ...(pnr.unknownAt ? { unknownAt: pnr.unknownAt } : {}), ...(maxPassOver !== null ? { stallsIncluded: true } : {}) }
      : null;
    return { property: c.property, message: c.message, traceFile: path.join(outDir, name), length: c.length, ...(values['no-pnr'] ? {} : { pointOfNoReturn: point }) };
  });
  writeOutFiles(copy ? [...files, copy] : files);
  const code = violations.length > 0 ? 1 : result.complete ? 0 : EXIT_INCOMPLETE;
  const bounds = result.stoppedBy.map((r) => ({ reason: r, how: RAISE[r] }));

  if (values.json) {
    io.stdout(
      JSON.stringify(
        {
          complete: result.complete,
          stoppedBy: result.stoppedBy,
          statesVisited: result.statesVisited,
          transitions: result.transitions,
          ...(result.slept !== undefined ? { slept: result.slept } : {}),
          maxDepth: result.maxDepth,
          elapsedMs: Math.round(result.elapsedMs),
          bounds: { maxStates: opts.maxStates, maxDepth: opts.maxDepth, maxTimeS: maxTime, ...(maxPassOver !== null ? { maxPassOver } : {}) },
          violations,
          ...(result.cache ? { cache: result.cache } : {}),
          ...(result.symmetry ? { symmetry: result.symmetry } : {}),
          ...(merged ? { shards: merged.shards } : {}),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    const rate = Math.round(result.statesVisited / Math.max(result.elapsedMs / 1000, 1e-3));
    io.stdout(
      escapeControls(`${scenario.id}`) + ` (${scenario.machine.cpus} CPUs, kernel ${scenario.kernel.preset}), ${strategy}${opts.reduction && maxPassOver === null ? ' with sleep sets' : ''}` +
        `${workers > 1 ? `, ${workers} workers` : ''}` +
        `${maxPassOver !== null ? `, runs where no CPU with a step ready waits through more than ${maxPassOver} decisions of others` : ''}: ${result.statesVisited} states, ${result.transitions} transitions` +
        `${result.slept !== undefined ? ` (${result.slept} slept)` : ''}, ` +
        `depth ${result.maxDepth}, ${Math.round(result.elapsedMs)} ms (${rate} states/s), ${result.complete ? 'complete' : 'NOT complete'}\n` +
        (merged ? merged.text : '') +
        bounds.map((b) => `  stopped: ${b.how}\n`).join('') +
        (result.cache
          ? `transition cache: ${result.cache.hits} transitions applied from it, ${result.cache.misses} run in the simulation\n`
          : '') +
        (result.symmetry
          ? `symmetry: CPUs ${result.symmetry.groups.map((g) => g.join(',')).join(' / ')} interchangeable: ${result.symmetry.states} states stand for ` +
            (result.symmetry.exact
              ? `${result.symmetry.unreducedStates} (reduction ${result.symmetry.factor.toFixed(2)}x${result.complete ? '' : ', of the part searched'})`
              : 'more (not counted: too many interchangeable CPUs to count orbits exactly)') +
            `${values.symmetry ? '' : `; on by default with ${SYMMETRY_BY_DEFAULT_FROM} or more interchangeable CPUs, --no-symmetry searches without`}\n`
          : ''),
    );
    if (violations.length === 0) {
      io.stdout(
        result.complete
          ? `no violation of ${properties.length ? properties.join(', ') : 'any property'}\n`
          : `no violation found, but the search is NOT complete: this is no proof (exit ${EXIT_INCOMPLETE})\n`,
      );
    }
    // Messages quote the scenario (a panic message, a file name): control characters shown, not obeyed.
    for (const v of violations) {
      io.stdout(`VIOLATION ${v.property}: ${escapeControls(v.message)}\n  shortest run found: ${v.length} decisions — ${replayCommand(fromFile, v.traceFile)}\n`);
      const p = v.pointOfNoReturn;
      if (p) io.stdout(`  point of no return${p.complete ? '' : ' (at the latest)'}${maxPassOver !== null ? ' (over every run, stalls included)' : ''}: ${escapeControls(p.description)}\n`);
      else if (p === null) io.stdout('  point of no return: none found (the run\'s own end does not violate the property)\n');
    }
  }
  return code;
}

/**
 * Puts the point of no return into a counterexample's trace lines: a `noreturn` record just after
 * the choice record that sealed the violation, or after the header when every run violates.
 */
export function markPointOfNoReturn(lines: string[], p: PointOfNoReturn): void {
  const at = p.decision === null ? 0 : lines.findIndex((l) => l.startsWith('{"t":"choice"') && (JSON.parse(l) as { i: number }).i === p.decision);
  if (at < 0) throw new Error(`internal error: the counterexample's trace has no choice ${p.decision}`);
  lines.splice(at + 1, 0, formatRecord({ t: 'noreturn', property: p.property, step: p.step, choice: p.decision, complete: p.complete, text: p.description }));
}

/**
 * What `explore` does with script steps `at` different times, said once on stderr (empty when all are
 * at one time): it searches untimed, where steps take no time, so it keeps the order of the steps and
 * of the timeouts (sim/agenda.ts, earlyScripts) but not the time between a step and the work before
 * it: a step may land anywhere in that work (a panic 300 ns after a restart hits it mid-way in most
 * seeds of `run`), and a result may need that work to have stalled until the step.
 */
/** A scenario's step budget bounds `run`, not the search (nor its counterexamples' replays): said once. */
export function maxStepsNote(scenario: Scenario): string {
  if (scenario.options.maxSteps >= DEFAULT_OPTIONS.maxSteps) return '';
  return `shootdown: note: the scenario's maxSteps (${scenario.options.maxSteps}) bounds \`run\`, not explore: every run is searched to its end (--max-depth bounds the search), and a counterexample replays to its end\n`;
}

export function untimedAtNote(scenario: Scenario): string {
  const times = [...new Set(scenario.script.flatMap((s) => (s.trigger.kind === 'at' ? [s.trigger.timeNs] : [])))].sort((a, b) => a - b);
  if (times.length < 2) return '';
  return (
    `shootdown: note: explore keeps the order of the \`at\` steps (${times.map((t) => `${t} ns`).join(', ')}) and the timeouts, not the time ` +
    `between a step and the work before it: a step may come anywhere in that work (every stall is explored); ` +
    `trigger a step \`when\` a CPU enters a state to pin it\n`
  );
}
