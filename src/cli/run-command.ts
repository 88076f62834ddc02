/**
 * `shootdown run`: one run of a scenario (main.ts dispatches here) — its timeline, summary or JSON, a trace
 * file, a replay checked record by record against its trace, and `--inspect`.
 */
import { DEFAULT_SCENARIO, findBuiltin } from '../scenarios/builtin.js';
import type { Scenario } from '../scenarios/types.js';
import { runScenarioInSlices } from '../sim/run.js';
import { ReplayDivergence } from '../sim/chooser.js';
import type { UnreadRecord } from '../sim/simulation.js';
import { resolveFeatures } from '../kernel/variants.js';
import { asVersion1, formatRecord, TRACE_VERSION, type TraceRecord } from '../trace/records.js';
import { readTrace, TraceFileWriter, type ReadTrace } from '../trace/file.js';
import { formatOutcome, formatTimelineRecord } from './format.js';
import { JsonTimeline, writeRunJson } from './json-output.js';
import { InputError, KERNEL_FLAGS, kernelOf, loadScenario, parseSeed, withKernel } from './scenario-args.js';
import { QUOTE_MAX, escapeControls, quote, shellWord } from './terminal.js';
import { isSameFile, OutputFileError, outputTargetProblem } from './output-file.js';
import type { CliIo } from './io.js';
import { MAX_INPUT_BYTES } from './input-file.js';
import { parseCommandArgs } from './args.js';

const RUN_OPTIONS = {
  seed: { type: 'string' },
  ...KERNEL_FLAGS,
  json: { type: 'boolean' },
  timeline: { type: 'boolean' },
  trace: { type: 'string' },
  replay: { type: 'string' },
  steps: { type: 'boolean' },
  'fail-on-violation': { type: 'boolean' },
  strict: { type: 'boolean' },
  inspect: { type: 'boolean' },
  'inspect-port': { type: 'string' },
  'inspect-linger': { type: 'string' },
  'inspect-host': { type: 'string' },
  'inspect-wait': { type: 'boolean' },
} as const;

const INSPECT_FLAGS = ['inspect', 'inspect-wait', 'inspect-port', 'inspect-host', 'inspect-linger'] as const;

/** The options `run` takes (the help lists each; a test holds the two together). */
export const RUN_OPTION_NAMES = Object.keys(RUN_OPTIONS);

/** The record kinds only a trace file, a replay or `--steps` reads. */
const UNREAD: readonly UnreadRecord[] = ['step', 'choice', 'insn', 'timer'];

/** Human-mode timeline lines are written in chunks of this size as the run goes. */
const STDOUT_CHUNK = 64 * 1024;

/**
 * The most a trace file may hold: what `--replay`, `view` and `export-trace` read back (MAX_INPUT_BYTES).
 * A run whose trace would pass it (a guest looping on exits until a large options.maxSteps writes about
 * 160 bytes a step: 10^8 steps would be 16 GB) stops there as bad input and leaves no file. An object so
 * that a test can lower it.
 */
export const TRACE_FILE_LIMIT = { bytes: MAX_INPUT_BYTES };

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args, allowPositionals: true, options: RUN_OPTIONS });
  if (positionals.length > 1) throw new InputError(`run takes one scenario, got ${positionals.length}: ${positionals.join(' ')}`);
  const traceFile = values.trace;
  // The output file is checked before anything else is spent on the run.
  if (traceFile !== undefined) {
    const problem = outputTargetProblem(traceFile);
    if (problem !== null) throw new InputError(`--trace '${quote(traceFile)}': ${problem}`);
    // The trace must not replace what this run reads: the trace it replays, or its scenario file (below).
    if (values.replay !== undefined && isSameFile(traceFile, values.replay)) throw new InputError(`--trace '${quote(traceFile)}': is the trace this run replays (--replay ${quote(values.replay)}); name another file for the run's trace`);
  }
  // The inspector's bridge (an HTTP server and its page) loads only for a run that names an --inspect flag.
  const inspector = INSPECT_FLAGS.some((f) => values[f] !== undefined) ? await import('./inspect.js') : null;
  const inspection = inspector ? inspector.inspectPlan(values) : null;

  let replay: ReadTrace | null = null;
  if (values.replay !== undefined) replay = loadReplay(values.replay, io);
  const name = positionals[0] ?? replay?.scenario ?? DEFAULT_SCENARIO;
  // A built-in's name is read as the built-in, never as a file.
  if (traceFile !== undefined && !findBuiltin(name) && isSameFile(traceFile, name)) {
    throw new InputError(`--trace '${quote(traceFile)}': is the scenario file this run reads (${quote(name)}); name another file for the trace`);
  }
  // A replay runs the machine the trace was recorded on: its CPU count and its kernel, unless the
  // command line says otherwise.
  let scenario: Scenario;
  try {
    scenario = loadScenario(name, io.readFile, replay?.cpus, "the trace's header.cpus");
  } catch (e) {
    if (!(e instanceof InputError) || positionals[0] !== undefined || values.replay === undefined) throw e;
    // A trace keeps a scenario file's id (its name without directories or .json), not its path.
    throw new InputError(
      `--replay ${quote(values.replay)}: line 1: header.scenario: ${e.message} (a trace names a scenario file by its name only: name the file, shootdown run <file> --replay ${shellWord(values.replay)})`,
    );
  }
  // A replay runs the trace's kernel; a flag may only say what the trace says.
  if (replay) scenario = { ...scenario, kernel: kernelOf(replay.preset, replay.switches) };
  scenario = withKernel(scenario, values.kernel, values.fix ?? [], values['no-fix'] ?? []);
  const features = resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix);
  if (replay && values.replay !== undefined) {
    const conflict = replayConflict(replay, scenario, features, values, name);
    if (conflict !== null) throw new InputError(`${conflict[0]} contradicts the trace ${quote(values.replay)}: it was recorded ${conflict[1]}; a replay reproduces the recorded run, it cannot change it`);
    // A trace from before digests: the run writes its header as the trace has it.
    if (replay.scenarioDigest === undefined && scenario.digest !== undefined) {
      const { digest: _digest, ...rest } = scenario;
      scenario = rest;
    }
  }
  const seed = replay ? replay.seed : parseSeed(values.seed);
  if (replay && values.seed !== undefined) throw new InputError('--seed and --replay cannot be combined: the trace fixes every choice');
  // An untimed trace is explore's: its run went to its end past the scenario's step budget, and so
  // does its replay (a timed run's trace ended where the budget ended it, and its replay does too).
  const simOptions = {
    seed,
    ...(replay ? { replay: replay.picks, mode: replay.mode, ...(replay.branch ? { branch: replay.branch } : {}), ...(replay.mode === 'untimed' ? { maxSteps: Number.MAX_SAFE_INTEGER } : {}) } : {}),
  };
  // The bridge first: a port it cannot have must not leave a trace file begun. It re-runs the
  // scenario with the same options for a page that connects after its history outgrew its cap.
  const session = inspection && inspector ? await inspector.startInspection(inspection, io, { scenario, options: simOptions }) : null;
  if (session && inspection?.wait) {
    io.stderr('inspection: waiting for the inspector page (or a WebSocket client) to connect before starting the run (Ctrl-C to stop)\n');
    await session.firstClient;
    io.stderr('inspection: connected, running\n');
  }

  let writer: TraceFileWriter | null = null;
  const traceError = (e: unknown): never => {
    if (e instanceof OutputFileError) throw new InputError(`--trace '${quote(traceFile ?? '')}': ${e.message}`);
    throw e;
  };
  if (traceFile !== undefined) {
    try {
      writer = io.fs.open(traceFile);
    } catch (e) {
      await session?.close();
      traceError(e);
    }
  }

  // The human timeline is written as the run goes, in chunks: memory stays bounded however long the run.
  let pending = '';
  let shown = 0;
  const flushTimeline = () => {
    if (pending.length > 0) io.stdout(pending);
    pending = '';
  };
  if (!values.json) {
    io.stdout(escapeControls(`${scenario.id}: ${scenario.name} — kernel ${scenario.kernel.preset}${kernelDelta(scenario)}, seed ${seed}`) + '\n\n');
  }
  const jsonTimeline = values.json && values.timeline ? new JsonTimeline(values.steps === true) : null;
  let produced = 0;
  let divergence: { line: number; expected: string | null; actual: string } | null = null;
  // A record's trace line is made only for a trace file or a replay (formatting is a large part of a big run).
  const wantsLines = writer !== null || replay !== null;
  let traceBytes = 0;
  let traceFull = false;
  const traceFullError = () =>
    new InputError(
      `--trace '${quote(traceFile ?? '')}': the run's trace passes ${TRACE_FILE_LIMIT.bytes % (1024 * 1024) === 0 ? `${TRACE_FILE_LIMIT.bytes / (1024 * 1024)} MiB` : `${TRACE_FILE_LIMIT.bytes} bytes`}, the most shootdown reads back (--replay, view, export-trace); lower options.maxSteps, or run without --trace (the text timeline is not bounded)`,
    );
  const onRecord = (r: TraceRecord) => {
    if (wantsLines) {
      const line = formatRecord(r);
      if (writer && !traceFull) {
        traceBytes += Buffer.byteLength(line, 'utf8') + 1;
        if (traceBytes > TRACE_FILE_LIMIT.bytes) traceFull = true;
        else writer.write(line);
      }
      if (replay && divergence === null) {
        const expected = replay.records[produced];
        // A version 1 trace has no leaves: the run's lines are compared without them.
        const compared = replay.version < TRACE_VERSION ? formatRecord(asVersion1(r)) : line;
        if (expected !== compared) divergence = { line: lineNumber(replay, produced), expected: expected ?? null, actual: compared };
      }
    }
    produced += 1;
    if (!values.json) {
      const text = formatTimelineRecord(r, values.steps === true);
      if (text !== null) {
        pending += text + '\n';
        shown += 1;
        if (pending.length >= STDOUT_CHUNK) flushTimeline();
      }
    }
    jsonTimeline?.add(r);
  };
  let result;
  try {
    result = await runScenarioInSlices(scenario, {
      ...simOptions,
      // Records nothing here reads are not built: without a trace file, a replay, `--steps` or the inspector,
      // no step, choice, instruction or timer record is written, shown or observed (most of a large run's).
      ...(wantsLines || values.steps === true || session ? {} : { unread: UNREAD }),
      onRecord,
      ...(session ? { inspect: session.inspect } : {}),
      // Between slices, the run waits for stdout to take what it was given: on a pipe read slower than
      // the run writes, the stream's buffer (not the whole timeline) is what memory holds.
      // A JSON timeline past its bound stops the run there (the error goes out as bad input).
      // So does a trace file past TRACE_FILE_LIMIT.
    }, undefined, () =>
      traceFull ? Promise.reject(traceFullError()) : jsonTimeline?.overflow ? Promise.reject(jsonTimeline.overflowError()) : (io.stdoutBusy?.() ?? null),
    );
    if (traceFull) throw traceFullError();
    if (jsonTimeline?.overflow) throw jsonTimeline.overflowError();
  } catch (e) {
    flushTimeline();
    // A replay that cannot go on keeps the trace of the run up to there, as a replay that ran to
    // its end with different lines does: the two traces side by side show the difference.
    if (e instanceof ReplayDivergence && writer) {
      try {
        writer.close();
      } catch (closeError) {
        traceError(closeError);
      }
      io.stderr(`shootdown: ${e.message}\n`);
      io.stderr(`the run's trace up to there is in ${quote(traceFile ?? '')}\n`);
      await session?.close();
      return 1;
    }
    writer?.abort();
    await session?.close();
    return traceError(e);
  }
  // --strict fails the run (exit 2) when a trigger never fired: its trace is dropped, as every exit 2
  // leaves no output file (a file already there keeps what it had).
  const strictFailed = values.strict === true && result.unfired.length > 0;
  try {
    if (strictFailed) writer?.abort();
    else writer?.close();
  } catch (e) {
    traceError(e);
  }
  await session?.linger(io);
  if (replay && divergence === null && produced !== replay.records.length) {
    divergence = { line: lineNumber(replay, Math.min(produced, replay.records.length)), expected: replay.records[produced] ?? null, actual: '(end of the run)' };
  }

  const unfired = result.unfired.map((u) => ({ ...u, kernel: scenario.kernel.preset }));
  if (values.json) {
    await writeRunJson(io, scenario, seed, { ...result.outcome, unfired }, jsonTimeline);
  } else {
    flushTimeline();
    io.stdout(shown === 0 ? '\n\n' : '\n');
    io.stdout(formatOutcome(result.outcome));
  }
  for (const u of unfired) {
    const who = u.actor === 'cpu' ? `CPU${u.id}` : u.actor === 'vcpu' ? `vCPU${u.id}` : `vsock device ${u.id}`;
    io.stderr(`shootdown: ${values.strict ? '' : 'warning: '}script[${u.index}] never ran: its trigger waits for ${who} to enter '${quote(u.state)}', which the run never did (kernel ${scenario.kernel.preset}${kernelDelta(scenario)})\n`);
  }
  if (strictFailed) return 2;
  if (divergence !== null) {
    const { expected, actual } = divergence;
    const at = expected === null ? 0 : firstDifference(expected, actual);
    io.stderr(`shootdown: replay diverged at trace line ${divergence.line}${expected === null ? '' : `, column ${at + 1}`}:\n`);
    io.stderr(`  trace: ${expected === null ? '(end of trace)' : around(expected, at)}\n`);
    io.stderr(`  run:   ${around(actual, at)}\n`);
    if (traceFile !== undefined) io.stderr(`the run's trace is in ${quote(traceFile)}\n`);
    return 1;
  }
  if (replay) io.stderr(`replay: reproduced all ${produced} trace lines\n`);
  if (values['fail-on-violation'] && result.outcome.violations.length > 0) {
    io.stderr(`shootdown: ${result.outcome.violations.length} propert${result.outcome.violations.length === 1 ? 'y' : 'ies'} violated (--fail-on-violation)\n`);
    return 1;
  }
  return 0;
}

/**
 * The first option (or the scenario named) that contradicts what the replayed trace's header records: the
 * option, and what the header says (naming its field); null when none does.
 */
function replayConflict(
  replay: ReadTrace,
  scenario: Scenario,
  features: Record<string, boolean>,
  values: { kernel?: string; fix?: string[]; 'no-fix'?: string[]; replay?: string },
  name: string,
): [string, string] | null {
  if (scenario.id !== replay.scenario) return [`scenario ${quote(scenario.id)}`, `on scenario ${quote(replay.scenario)} (header.scenario)`];
  // A file's id is its name: a built-in, another file or an edited one may share it (a trace from
  // before digests, with none, is taken at its word).
  if (replay.scenarioDigest !== undefined && scenario.digest !== replay.scenarioDigest) {
    if (scenario.digest === undefined) {
      return [
        `the built-in scenario ${quote(scenario.id)}`,
        `on a scenario file named ${quote(replay.scenario)} (header.scenarioDigest ${replay.scenarioDigest}), not on the built-in: name that file, shootdown run <file> --replay ${shellWord(values.replay ?? '')}`,
      ];
    }
    return [`scenario file ${quote(name)} (digest ${scenario.digest})`, `on other contents (header.scenarioDigest ${replay.scenarioDigest}): the file was edited since, or is another file of the same name`];
  }
  if (values.kernel !== undefined && values.kernel !== replay.preset) return [`--kernel ${quote(values.kernel)}`, `with kernel ${quote(replay.preset)} (header.preset)`];
  for (const n of values.fix ?? []) if (!replay.switches.includes(n)) return [`--fix ${n}`, `with ${n} off (header.switches)`];
  for (const n of values['no-fix'] ?? []) if (replay.switches.includes(n)) return [`--no-fix ${n}`, `with ${n} on (header.switches)`];
  const on = Object.keys(features).filter((n) => features[n]);
  if (on.length !== replay.switches.length || on.some((n) => !replay.switches.includes(n))) return ['the kernel switches', `with ${replay.switches.join(', ') || 'none'} (header.switches)`];
  // The rest of the header comes from the scenario: a file edited since the trace was written.
  const header = JSON.parse(replay.records[0] as string) as { vendor?: unknown; options?: Record<string, unknown> };
  const mine: Record<string, unknown> = { kdump: scenario.options.kdump, panicTimeout: scenario.options.panicTimeout, initOnlyReset: scenario.options.reset.initOnly };
  if (header.vendor !== undefined && header.vendor !== scenario.machine.vendor) {
    return [`scenario ${quote(scenario.id)} (machine.vendor ${quote(scenario.machine.vendor)})`, `with vendor ${quote(String(header.vendor))} (header.vendor)`];
  }
  for (const [k, v] of Object.entries(header.options ?? {})) {
    if (Object.hasOwn(mine, k) && mine[k] !== v) return [`scenario ${quote(scenario.id)} (${k} ${JSON.stringify(mine[k])})`, `with ${k} ${quote(JSON.stringify(v))} (header.options.${k})`];
  }
  return null;
}

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** About QUOTE_MAX characters of `line` around column `at`, with what was left out on each side. */
function around(line: string, at: number): string {
  const start = Math.max(0, Math.min(at - 20, line.length - QUOTE_MAX));
  const end = Math.min(line.length, start + QUOTE_MAX);
  const before = start > 0 ? `(${start} characters before) …` : '';
  const after = end < line.length ? `… (${line.length - end} more characters)` : '';
  return `${before}${escapeControls(line.slice(start, end))}${after}`;
}

function kernelDelta(s: Scenario): string {
  const parts = [...s.kernel.fix.map((n) => `+${n}`), ...s.kernel.noFix.map((n) => `-${n}`)];
  return parts.length ? ` (${parts.join(' ')})` : '';
}

function loadReplay(file: string, io: CliIo): ReadTrace {
  let text: string;
  try {
    text = io.readFile(file);
  } catch (e) {
    throw new InputError(`--replay ${quote(file)}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const r = readTrace(text);
  if (!r.ok) throw new InputError(`--replay ${quote(file)}: ${r.error}`);
  return r.trace;
}

/** The trace file's line number of a replay's record `k` (past the last: the line after it). */
function lineNumber(replay: ReadTrace, k: number): number {
  return replay.lineOf[k] ?? (replay.lineOf.at(-1) ?? 0) + 1 + (k - replay.lineOf.length);
}
