/**
 * `shootdown explore`: every interleaving of a scenario, checked against the properties; each
 * violation comes with the shortest run found, written as a trace that `shootdown run --replay`
 * reproduces. Exit 1 when a property fails, 0 when none does, 2 on bad input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { InputError, KERNEL_FLAGS, loadScenario, parseInteger, withKernel } from './scenario-args.js';
import { PROPERTY_NAMES } from '../spec/index.js';
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult, type Strategy } from '../explore/explorer.js';
import { exploreParallel } from '../explore/parallel.js';
import { confirm } from '../explore/counterexample.js';

export const EXPLORE_USAGE = `  shootdown explore <scenario file | built-in> [--cpus N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                [--strategy exhaustive|random|pct] [--property NAME]... [--max-states N] [--max-depth N]
                [--seed N] [--runs N] [--pct-depth D] [--no-reduction] [--workers N] [--out DIR] [--json]
`;

const MAX_EXPLORE_CPUS = 64;

export interface ExploreIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(file: string): string;
  /** Progress lines go here when it is a terminal. */
  isTty: boolean;
}

export async function exploreCommand(args: string[], io: ExploreIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        cpus: { type: 'string' },
        ...KERNEL_FLAGS,
        strategy: { type: 'string' },
        property: { type: 'string', multiple: true },
        'max-states': { type: 'string' },
        'max-depth': { type: 'string' },
        seed: { type: 'string' },
        runs: { type: 'string' },
        'pct-depth': { type: 'string' },
        'no-reduction': { type: 'boolean' },
        workers: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new InputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new InputError(`explore takes one scenario (a file or a built-in such as R2), got ${positionals.length}`);
  const strategy = (values.strategy ?? 'exhaustive') as Strategy;
  if (!['exhaustive', 'random', 'pct'].includes(strategy)) throw new InputError(`--strategy: expected exhaustive, random or pct, got '${strategy}'`);
  const properties = values.property ?? [];
  for (const p of properties) {
    if (!(PROPERTY_NAMES as readonly string[]).includes(p)) throw new InputError(`--property: unknown property '${p}' (known: ${PROPERTY_NAMES.join(', ')})`);
  }
  const cpus = values.cpus === undefined ? null : parseInteger('cpus', values.cpus, 1, 64, 2);
  const workers = parseInteger('workers', values.workers, 1, 64, 1);
  const opts: Omit<ExploreOptions, 'onProgress'> = {
    ...DEFAULT_EXPLORE,
    strategy,
    properties,
    maxStates: parseInteger('max-states', values['max-states'], 1, 1e9, DEFAULT_EXPLORE.maxStates),
    maxDepth: parseInteger('max-depth', values['max-depth'], 1, 1e7, DEFAULT_EXPLORE.maxDepth),
    seed: parseInteger('seed', values.seed, 0, 0xffff_ffff, DEFAULT_EXPLORE.seed),
    runs: parseInteger('runs', values.runs, 1, 1e9, DEFAULT_EXPLORE.runs),
    pctDepth: parseInteger('pct-depth', values['pct-depth'], 1, 100, DEFAULT_EXPLORE.pctDepth),
    reduction: values['no-reduction'] !== true,
  };
  const scenario = withKernel(loadScenario(positionals[0] as string, io.readFile, cpus ?? undefined), values.kernel, values.fix ?? [], values['no-fix'] ?? []);
  // Every explored state holds a copy of every CPU: exploration is for small machines.
  if (scenario.machine.cpus > MAX_EXPLORE_CPUS) {
    throw new InputError(`explore handles at most ${MAX_EXPLORE_CPUS} CPUs (${positionals[0]} has ${scenario.machine.cpus}; --cpus N narrows it, \`shootdown run\` runs it)`);
  }

  const progress = (p: { states: number; transitions: number; depth: number; frontier: number; elapsedMs: number }) => {
    const rate = p.states / Math.max(p.elapsedMs / 1000, 1e-3);
    io.stderr(`\r${p.states} states, ${Math.round(rate)} states/s, depth ${p.depth}, frontier ${p.frontier}   `);
  };
  let result: ExploreResult;
  if (workers > 1) result = await exploreParallel(scenario, opts, workers);
  else result = explore(scenario, { ...opts, ...(io.isTty && !values.json ? { onProgress: progress } : {}) });
  if (io.isTty && !values.json && workers === 1) io.stderr('\n');

  // Every violation is confirmed by replay and written as a trace file.
  const outDir = values.out ?? 'shootdown-traces';
  const violations = result.violations.map((v, i) => {
    const c = confirm(scenario, v);
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `${scenario.id}-${scenario.kernel.preset}-${c.property}-${i + 1}.jsonl`);
    fs.writeFileSync(`${file}.partial`, c.lines.join('\n') + '\n');
    fs.renameSync(`${file}.partial`, file);
    return { property: c.property, message: c.message, traceFile: file, length: c.length };
  });

  if (values.json) {
    io.stdout(
      JSON.stringify(
        {
          complete: result.complete,
          statesVisited: result.statesVisited,
          transitions: result.transitions,
          maxDepth: result.maxDepth,
          elapsedMs: Math.round(result.elapsedMs),
          violations,
          ...(result.cache ? { cache: result.cache } : {}),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    const rate = Math.round(result.statesVisited / Math.max(result.elapsedMs / 1000, 1e-3));
    io.stdout(
      `${scenario.id} (${scenario.machine.cpus} CPUs, kernel ${scenario.kernel.preset}), ${strategy}${opts.reduction ? ' with sleep sets' : ''}` +
        `${workers > 1 ? `, ${workers} workers` : ''}: ${result.statesVisited} states, ${result.transitions} transitions, ` +
        `depth ${result.maxDepth}, ${Math.round(result.elapsedMs)} ms (${rate} states/s), ${result.complete ? 'complete' : 'NOT complete (bounds reached or sampled)'}\n` +
        (result.cache
          ? `transition cache: ${result.cache.hits} transitions applied from it, ${result.cache.misses} run in the simulation\n`
          : ''),
    );
    if (violations.length === 0) io.stdout(`no violation of ${properties.length ? properties.join(', ') : 'any property'}\n`);
    for (const v of violations) io.stdout(`VIOLATION ${v.property}: ${v.message}\n  shortest run found: ${v.length} decisions — shootdown run --replay ${v.traceFile}\n`);
  }
  return violations.length > 0 ? 1 : 0;
}
