/**
 * One search over many machines, the shard half: `shootdown explore <scenario> --shard I/N` searches shard I of N
 * (src/explore/shard.ts) and writes its result file. A shard exits 0 once its file is written (2 on bad
 * input), whatever it found: in a batch system a failed pod is retried, and the verdict is merge's
 * (merge-command.ts).
 */
import * as fs from 'node:fs';
import type { Scenario } from '../scenarios/types.js';
import type { ExploreOptions, ExploreResult } from '../explore/explorer.js';
import type { ExploreIo } from './io.js';
import { outputTargetProblem } from './output-file.js';
import { InputError } from './scenario-args.js';
import { parseShardOption, scenarioSha256, shardDocument, shardFilePath, writeShardFile, type ShardRun } from './shard-file.js';
import { escapeControls, quote } from './terminal.js';
import { version } from './version.js';

/** A sharded search about to run: which shard, and how its result is written. */
export interface ShardPlan {
  index: number;
  of: number;
  splitDepth?: number;
  /** Write the shard result and say so; the exit code (0). */
  write(result: ExploreResult, io: ExploreIo, json: boolean): number;
}

/** What `explore merge` hands explore in place of a search. */
export interface MergedShards {
  result: ExploreResult;
  /** The `shards` field of the JSON. */
  shards: object;
  /** Lines after the summary line of the text report. */
  text: string;
}

interface ShardContext {
  opts: Omit<ExploreOptions, 'onProgress'>;
  workers: number;
  maxTimeS: number | null;
  cpus: number | null;
  scenario: Scenario;
  scenarioText: string | null;
  /** The scenario as named on the command line. */
  name: string;
  outDir: string;
}

/** `--shard` and `--split-depth` checked before the search; null when the search is not sharded. */
export function shardRun(
  values: { shard?: string; kernel?: string; fix?: string[]; 'no-fix'?: string[] },
  splitDepth: number | null,
  c: ShardContext,
): ShardPlan | null {
  if (values.shard === undefined) {
    if (splitDepth !== null) throw new InputError('--split-depth: only for a sharded search (--shard I/N)');
    return null;
  }
  const { index, of } = parseShardOption(values.shard);
  if (c.workers > 1) {
    throw new InputError('--shard and --workers cannot be combined: run one shard per core instead (N shards over all the machines\' cores)');
  }
  if (splitDepth !== null && c.opts.strategy !== 'exhaustive') {
    throw new InputError(`--split-depth: only for --strategy exhaustive (${c.opts.strategy} shards split the runs and seeds)`);
  }
  const file = shardFilePath(c.outDir, c.scenario, index, of);
  // Checked before the search; the directory is made, if need be, when the result is written.
  if (fs.existsSync(c.outDir)) {
    const problem = outputTargetProblem(file);
    if (problem !== null) throw new InputError(`--out: cannot write the shard result '${quote(file)}': it ${problem}`);
  }
  const run: ShardRun = {
    shootdown: version(),
    scenario: { name: c.name, id: c.scenario.id, sha256: scenarioSha256(c.scenario) },
    cpus: c.cpus,
    kernel: values.kernel ?? null,
    fix: values.fix ?? [],
    noFix: values['no-fix'] ?? [],
    strategy: c.opts.strategy,
    properties: [...c.opts.properties],
    maxStates: c.opts.maxStates,
    maxDepth: c.opts.maxDepth,
    maxTimeS: c.maxTimeS,
    allViolations: c.opts.allViolations === true,
    reduction: c.opts.reduction,
    seed: c.opts.seed,
    runs: c.opts.runs,
    pctDepth: c.opts.pctDepth,
    splitDepth,
  };
  return {
    index,
    of,
    ...(splitDepth !== null ? { splitDepth } : {}),
    write(result, io, json) {
      try {
        fs.mkdirSync(c.outDir, { recursive: true });
      } catch (e) {
        throw new InputError(`--out: cannot create '${quote(c.outDir)}': ${(e as Error).message}`);
      }
      writeShardFile(file, shardDocument(run, c.scenarioText, c.scenario, { index, of }, result));
      const found = result.violations.map((v) => ({ property: v.property, message: v.message, length: v.picks.length }));
      if (json) {
        const { complete, stoppedBy, statesVisited, transitions, maxDepth } = result;
        io.stdout(JSON.stringify({ shard: { index, of }, file, complete, stoppedBy, statesVisited, transitions, maxDepth, elapsedMs: Math.round(result.elapsedMs), split: result.split ?? null, violations: found }, null, 2) + '\n');
      } else {
        const s = result.split;
        io.stdout(
          `${escapeControls(c.scenario.id)} (${c.scenario.machine.cpus} CPUs, kernel ${c.scenario.kernel.preset}), ${c.opts.strategy}, shard ${index} of ${of}` +
            `${s ? (s.depth === null ? ' (the search ended above the split: this shard searched all of it)' : ` (split at depth ${s.depth}: ${s.kept} of the ${s.frontier} frontier states are this shard's)`) : ''}: ` +
            `${result.statesVisited} states, ${result.transitions} transitions, ${Math.round(result.elapsedMs)} ms, ${result.complete ? 'complete' : `stopped by ${result.stoppedBy.join(', ')}`}, ` +
            `${found.length} violation${found.length === 1 ? '' : 's'} found\n` +
            `shard result written to ${escapeControls(file)}; the verdict is \`shootdown explore merge\`'s, once every shard has run\n`,
        );
      }
      return 0;
    },
  };
}
