/**
 * The result of one shard of `shootdown explore --shard I/N`, as a file for `shootdown explore merge`:
 * versioned JSON naming the run it belongs to (shootdown's version, the scenario with a hash of its
 * content, the kernel flags, the bounds and options that shape the search), the shard, its counts,
 * where the search split, and each counterexample as the choices that replay it. Written whole or
 * not at all (output-file.ts); read back bounded, every field checked, so that merge refuses a
 * damaged file naming it and the field.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Scenario } from '../scenarios/types.js';
import type { ExploreResult, Found, StopReason, Strategy } from '../explore/explorer.js';
import { FRONTIER_PER_SHARD, type SplitInfo } from '../explore/shard-split.js';
import { PROPERTY_NAMES } from '../spec/index.js';
import { MAX_SCENARIO_BYTES, MAX_SEED } from '../scenarios/limits.js';
import { MAX_INPUT_BYTES, readInputFile } from './input-file.js';
import { OutputFile, OutputFileError } from './output-file.js';
import { InputError } from './scenario-args.js';
import { quote } from './terminal.js';
import { range } from './explore-limits.js';
import { idForFileName } from './out-files.js';

export const SHARD_FORMAT = 'shootdown-explore-shard';
export const SHARD_FORMAT_VERSION = 1;
/** Shards of one search at most (a Kubernetes Indexed Job allows 100,000 completions; merge reads one file each). */
export const MAX_SHARDS = 10_000;
/** How a shard result file is named: `<scenario>-<preset>-shard-<I>-of-<N>.json`. */
export const SHARD_FILE_NAME = /-shard-(\d+)-of-(\d+)\.json$/;

/** What must be the same in every shard of one search (merge compares it field by field). */
export interface ShardRun {
  shootdown: string;
  /** As named on the command line (a built-in or a file), its id, and a hash of the scenario searched (kernel and CPUs applied). */
  scenario: { name: string; id: string; sha256: string };
  /** The flags that shaped the scenario, as given. */
  cpus: number | null;
  kernel: string | null;
  fix: string[];
  noFix: string[];
  strategy: Strategy;
  properties: string[];
  maxStates: number;
  maxDepth: number;
  maxTimeS: number | null;
  allViolations: boolean;
  reduction: boolean;
  seed: number;
  runs: number;
  pctDepth: number;
  splitDepth: number | null;
}

export interface ShardViolation {
  property: string;
  message: string;
  /** Decisions in the run (forced ones included): picks.length. */
  length: number;
  /** Each decision: [the choice taken, the choices there were], from the start. */
  picks: [number, number][];
  /** The choices' keys (exhaustive search): they order counterexamples of equal length. */
  keys?: string[];
}

export interface ShardDocument {
  format: typeof SHARD_FORMAT;
  version: number;
  run: ShardRun;
  /** A scenario file's text, so that merge needs nothing but the shard results (null for a built-in). */
  scenarioText: string | null;
  shard: { index: number; of: number };
  /** The machine searched (informational: the scenario hash covers it). */
  machine: { cpus: number; kernel: Scenario['kernel'] };
  result: Pick<ExploreResult, 'complete' | 'stoppedBy' | 'statesVisited' | 'transitions' | 'maxDepth' | 'elapsedMs' | 'firstViolationMs'> & {
    cache: NonNullable<ExploreResult['cache']> | null;
    /** Exhaustive search: where it split (the same in every shard of the run). */
    split: SplitInfo | null;
  };
  violations: ShardViolation[];
}

/** `--shard I/N`: this shard's index (0 to N − 1, as Kubernetes' $JOB_COMPLETION_INDEX) and the number of shards. */
export function parseShardOption(text: string): { index: number; of: number } {
  const shown = quote(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  if (!m) {
    const hint = /^\/|\/$/.test(text) ? ' (an empty index or count: is $JOB_COMPLETION_INDEX set?)' : '';
    throw new InputError(`--shard: expected I/N, this shard's index from 0 to N-1 and the number of shards (e.g. --shard 0/8), got '${shown}'${hint}`);
  }
  const index = Number(m[1]);
  const of = Number(m[2]);
  if (of < 1 || of > MAX_SHARDS) throw new InputError(`--shard ${shown}: the number of shards must be from 1 to ${MAX_SHARDS.toLocaleString('en-US')}`);
  if (index >= of) throw new InputError(`--shard ${shown}: index ${index} is out of range: the ${of} shards are numbered 0 to ${of - 1}`);
  return { index, of };
}

/** A hash of the scenario as searched: every shard of a run searched the same one. */
export function scenarioSha256(scenario: Scenario): string {
  // (Without the file's digest, a function of the rest: shards written before digests still merge.)
  const { digest: _digest, ...searched } = scenario;
  return crypto.createHash('sha256').update(JSON.stringify(searched)).digest('hex');
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');

/** Where shard I of N of a scenario goes in `dir`. */
export function shardFilePath(dir: string, scenario: Scenario, index: number, of: number): string {
  return path.join(dir, `${safe(idForFileName(scenario.id))}-${safe(scenario.kernel.preset)}-shard-${index}-of-${of}.json`);
}

export function shardDocument(run: ShardRun, scenarioText: string | null, scenario: Scenario, shard: { index: number; of: number }, r: ExploreResult): ShardDocument {
  return {
    format: SHARD_FORMAT,
    version: SHARD_FORMAT_VERSION,
    run,
    scenarioText,
    shard,
    machine: { cpus: scenario.machine.cpus, kernel: scenario.kernel },
    result: {
      complete: r.complete,
      stoppedBy: r.stoppedBy,
      statesVisited: r.statesVisited,
      transitions: r.transitions,
      maxDepth: r.maxDepth,
      elapsedMs: Math.round(r.elapsedMs),
      firstViolationMs: r.firstViolationMs === null ? null : Math.round(r.firstViolationMs),
      cache: r.cache ?? null,
      split: r.split ?? null,
    },
    violations: r.violations.map((v) => ({
      property: v.property,
      message: v.message,
      length: v.picks.length,
      picks: v.picks.map((p) => [p.pick, p.n]),
      ...(v.keys ? { keys: v.keys } : {}),
    })),
  };
}

/** Write the shard result: a temporary file renamed into place (never a half-written or clobbered file). */
export function writeShardFile(file: string, doc: ShardDocument): void {
  try {
    const out = new OutputFile(file);
    out.write(JSON.stringify(doc) + '\n');
    out.close();
  } catch (e) {
    if (e instanceof OutputFileError) throw new InputError(`--out: cannot write the shard result '${quote(file)}': ${e.message}`);
    throw e;
  }
}

/** The search result a shard file holds, as the explorer gives it (to merge as --workers' are). */
export function resultOf(doc: ShardDocument): ExploreResult {
  const r = doc.result;
  return {
    complete: r.complete,
    stoppedBy: r.stoppedBy,
    statesVisited: r.statesVisited,
    transitions: r.transitions,
    maxDepth: r.maxDepth,
    elapsedMs: r.elapsedMs,
    firstViolationMs: r.firstViolationMs,
    violations: doc.violations.map((v): Found => ({
      property: v.property,
      message: v.message,
      picks: v.picks.map(([pick, n]) => ({ pick, n })),
      ...(v.keys ? { keys: v.keys } : {}),
    })),
    ...(r.cache ? { cache: r.cache } : {}),
    ...(r.split ? { split: r.split } : {}),
  };
}

const STOP_REASONS: readonly StopReason[] = ['violations', 'max-states', 'max-depth', 'max-time', 'memory', 'sampled'];
const STRATEGIES: readonly Strategy[] = ['exhaustive', 'random', 'pct'];
/** Longest string kept from a shard file (a choice key, a message, a scenario name). */
const MAX_TEXT = 1 << 20;
/** A counterexample's decisions at most (--max-depth's largest value). */
const MAX_PICKS = 10_000_000;

/**
 * The split a shard reports, against itself and its run (ShardSplit.info writes it): no split says
 * no frontier; a shard keeps at most the frontier; an automatic split waits for FRONTIER_PER_SHARD
 * states per shard, a given one is at `--split-depth`. (That the shards' kept states add up to the
 * frontier is checked by merge, which has them all.)
 */
function splitProblems(f: Fields, s: SplitInfo, run: ShardRun, of: number): void {
  if (run.strategy !== 'exhaustive') f.fail('result.split', `a ${run.strategy} search is split by runs and seeds, not at a frontier: expected null`);
  if (s.depth === null) {
    if (s.frontier !== 0 || s.kept !== 0) f.fail('result.split', `no split depth (the search ended above it), yet ${s.frontier} frontier states and ${s.kept} kept`);
    return;
  }
  if (s.kept > s.frontier) f.fail('result.split.kept', `${s.kept} frontier states kept of the ${s.frontier} there were`);
  if (run.splitDepth !== null && s.depth !== run.splitDepth) f.fail('result.split.depth', `split at depth ${s.depth}, but the search was split at --split-depth ${run.splitDepth}`);
  const least = FRONTIER_PER_SHARD * of;
  if (run.splitDepth === null && s.frontier < least) {
    f.fail('result.split.frontier', `${s.frontier} states, but a search in ${of} shard${of === 1 ? '' : 's'} splits at the first depth with at least ${least} (${FRONTIER_PER_SHARD} per shard): not a shard of ${of}`);
  }
}

/** A shard file's fields, checked one by one; a failure names the file and the field. */
class Fields {
  constructor(private readonly file: string) {}

  fail(where: string, what: string): never {
    throw new InputError(`explore merge: '${quote(this.file)}': damaged shard result: ${where ? `${where}: ` : ''}${what}`);
  }

  obj(v: unknown, where: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, 'expected an object');
    return v as Record<string, unknown>;
  }

  int(v: unknown, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(where, `expected a whole number from ${min} to ${max}`);
    return v;
  }

  intOrNull(v: unknown, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | null {
    return v === null ? null : this.int(v, where, min, max);
  }

  str(v: unknown, where: string, max = MAX_TEXT): string {
    if (typeof v !== 'string') this.fail(where, 'expected a string');
    if (v.length > max) this.fail(where, `longer than the ${max.toLocaleString('en-US')} characters it may have`);
    return v;
  }

  strOrNull(v: unknown, where: string): string | null {
    return v === null ? null : this.str(v, where);
  }

  bool(v: unknown, where: string): boolean {
    if (typeof v !== 'boolean') this.fail(where, 'expected true or false');
    return v;
  }

  arr(v: unknown, where: string, max: number): unknown[] {
    if (!Array.isArray(v) || v.length > max) this.fail(where, `expected a list of at most ${max} items`);
    return v;
  }

  strs(v: unknown, where: string, max = 1000): string[] {
    return this.arr(v, where, max).map((x, i) => this.str(x, `${where}[${i}]`));
  }

  oneOf<T extends string>(v: unknown, where: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(where, `expected one of ${allowed.join(', ')}`);
    return v as T;
  }
}

/**
 * A shard result file, read bounded (`max` bytes, at most MAX_INPUT_BYTES) and checked field by
 * field (InputError naming the file otherwise); `bytes`: its size.
 */
export function readShardFile(file: string, max = MAX_INPUT_BYTES): ShardDocument & { bytes: number } {
  let text: string;
  try {
    text = readInputFile(file, Math.min(max, MAX_INPUT_BYTES));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`explore merge: '${quote(file)}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const f = new Fields(file);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    f.fail('', `not JSON (${(e as Error).message}): cut short or changed since it was written?`);
  }
  const d = f.obj(raw, '');
  if (d.format !== SHARD_FORMAT) f.fail('format', `expected '${SHARD_FORMAT}': not a shard result of \`shootdown explore --shard\``);
  if (d.version !== SHARD_FORMAT_VERSION) f.fail('version', `shard result format ${JSON.stringify(d.version)}, this shootdown reads format ${SHARD_FORMAT_VERSION}`);
  const r = f.obj(d.run, 'run');
  const sc = f.obj(r.scenario, 'run.scenario');
  const run: ShardRun = {
    shootdown: f.str(r.shootdown, 'run.shootdown'),
    scenario: { name: f.str(sc.name, 'run.scenario.name'), id: f.str(sc.id, 'run.scenario.id'), sha256: f.str(sc.sha256, 'run.scenario.sha256') },
    cpus: f.intOrNull(r.cpus, 'run.cpus', 1, 64),
    kernel: f.strOrNull(r.kernel, 'run.kernel'),
    fix: f.strs(r.fix, 'run.fix'),
    noFix: f.strs(r.noFix, 'run.noFix'),
    strategy: f.oneOf(r.strategy, 'run.strategy', STRATEGIES),
    properties: f.arr(r.properties, 'run.properties', 100).map((p, i) => f.oneOf(p, `run.properties[${i}]`, PROPERTY_NAMES)),
    maxStates: f.int(r.maxStates, 'run.maxStates', ...range('max-states')),
    maxDepth: f.int(r.maxDepth, 'run.maxDepth', ...range('max-depth')),
    maxTimeS: f.intOrNull(r.maxTimeS, 'run.maxTimeS', ...range('max-time')),
    allViolations: f.bool(r.allViolations, 'run.allViolations'),
    reduction: f.bool(r.reduction, 'run.reduction'),
    seed: f.int(r.seed, 'run.seed', 0, MAX_SEED),
    runs: f.int(r.runs, 'run.runs', ...range('runs')),
    pctDepth: f.int(r.pctDepth, 'run.pctDepth', ...range('pct-depth')),
    splitDepth: f.intOrNull(r.splitDepth, 'run.splitDepth', ...range('split-depth')),
  };
  const scenarioText = d.scenarioText === null ? null : f.str(d.scenarioText, 'scenarioText', MAX_SCENARIO_BYTES);
  const s = f.obj(d.shard, 'shard');
  const of = f.int(s.of, 'shard.of', 1, MAX_SHARDS);
  const shard = { index: f.int(s.index, 'shard.index', 0, of - 1), of };
  const m = f.obj(d.machine, 'machine');
  const mk = f.obj(m.kernel, 'machine.kernel');
  const machine = { cpus: f.int(m.cpus, 'machine.cpus', 1), kernel: { preset: f.str(mk.preset, 'machine.kernel.preset'), fix: f.strs(mk.fix, 'machine.kernel.fix'), noFix: f.strs(mk.noFix, 'machine.kernel.noFix') } };
  const res = f.obj(d.result, 'result');
  const cache = res.cache === null ? null : f.obj(res.cache, 'result.cache');
  const split = res.split === null ? null : f.obj(res.split, 'result.split');
  const result: ShardDocument['result'] = {
    complete: f.bool(res.complete, 'result.complete'),
    stoppedBy: f.arr(res.stoppedBy, 'result.stoppedBy', STOP_REASONS.length).map((x, i) => f.oneOf(x, `result.stoppedBy[${i}]`, STOP_REASONS)),
    statesVisited: f.int(res.statesVisited, 'result.statesVisited'),
    transitions: f.int(res.transitions, 'result.transitions'),
    maxDepth: f.int(res.maxDepth, 'result.maxDepth'),
    elapsedMs: f.int(res.elapsedMs, 'result.elapsedMs'),
    firstViolationMs: f.intOrNull(res.firstViolationMs, 'result.firstViolationMs'),
    cache: cache === null ? null : { hits: f.int(cache.hits, 'result.cache.hits'), misses: f.int(cache.misses, 'result.cache.misses') },
    split:
      split === null
        ? null
        : {
            depth: f.intOrNull(split.depth, 'result.split.depth', 1),
            frontier: f.int(split.frontier, 'result.split.frontier'),
            kept: f.int(split.kept, 'result.split.kept'),
            prefixStates: f.int(split.prefixStates, 'result.split.prefixStates'),
            prefixTransitions: f.int(split.prefixTransitions, 'result.split.prefixTransitions'),
          },
  };
  if (result.complete !== (result.stoppedBy.length === 0)) f.fail('result.complete', 'says the opposite of result.stoppedBy');
  if (result.split) splitProblems(f, result.split, run, of);
  const violations = f.arr(d.violations, 'violations', 1000).map((x, i): ShardViolation => {
    const at = `violations[${i}]`;
    const v = f.obj(x, at);
    // No counterexample is longer than the depth bound of its search: that bounds the memory a list takes.
    const picks = f.arr(v.picks, `${at}.picks`, Math.min(MAX_PICKS, run.maxDepth)).map((p, j): [number, number] => {
      const pair = f.arr(p, `${at}.picks[${j}]`, 2);
      if (pair.length !== 2) f.fail(`${at}.picks[${j}]`, 'expected [choice taken, choices there were]');
      const n = f.int(pair[1], `${at}.picks[${j}][1]`, 1);
      return [f.int(pair[0], `${at}.picks[${j}][0]`, 0, n - 1), n];
    });
    const length = f.int(v.length, `${at}.length`);
    if (length !== picks.length) f.fail(`${at}.length`, `says ${length} decisions, the choice list has ${picks.length}`);
    const keys = v.keys === undefined ? undefined : f.strs(v.keys, `${at}.keys`, Math.min(MAX_PICKS, run.maxDepth));
    if (keys && keys.length !== picks.length) f.fail(`${at}.keys`, `${keys.length} keys for ${picks.length} decisions`);
    return {
      property: f.oneOf(v.property, `${at}.property`, PROPERTY_NAMES),
      message: f.str(v.message, `${at}.message`),
      length,
      picks,
      ...(keys ? { keys } : {}),
    };
  });
  return { format: SHARD_FORMAT, version: SHARD_FORMAT_VERSION, run, scenarioText, shard, machine, result, violations, bytes: Buffer.byteLength(text) };
}
