#!/usr/bin/env node
/**
 * The command line: `shootdown run | explore | view | export | export-trace | list | kernels | help`.
 * `main()` takes its input and output as arguments, so tests drive exactly what a user runs; exit 0
 * for a completed run (whatever its outcome), 1 when a replay does not reproduce its trace (or a
 * property fails with `--fail-on-violation`), 2 for bad input, with one line naming it; the entry
 * point exits 130 / 143 on SIGINT / SIGTERM after removing partial output files.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BUILTIN_SCENARIOS, DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import type { Scenario } from '../scenarios/types.js';
import { runScenarioInSlices } from '../sim/run.js';
import { ReplayDivergence } from '../sim/chooser.js';
import { PRESETS, SWITCHES, resolveFeatures } from '../kernel/variants.js';
import { asVersion1, formatRecord, TRACE_VERSION, type TraceRecord } from '../trace/records.js';
import { readTrace, TraceFileWriter, type ReadTrace } from '../trace/file.js';
import { formatOutcome, formatTimelineRecord } from './format.js';
import { readInputFile } from './input-file.js';
import { JsonTimeline, kernelsJson, listJson, runJson, wantsJson } from './json-output.js';
import { InputError, KERNEL_FLAGS, kernelOf, loadScenario, parseSeed, withKernel } from './scenario-args.js';
import { inspectPlan, startInspection } from './inspect.js';
import { ACTOR_KINDS } from '../viz/actor-kinds.js';
import { PROPERTY_NAMES } from '../spec/index.js';
import { COMMAND_NAMES, commandHelpText, findCommand, usageText } from './help.js';
import { didYouMean } from './suggest.js';
import { QUOTE_MAX, errorLine, escapeControls, quote, stdoutSafe } from './terminal.js';
import { OutputFileError, outputTargetProblem, removeTempFilesOnSignals } from './output-file.js';
import { version } from './version.js';
import type { CliIo } from './io.js';

export type { CliIo } from './io.js';

export const nodeIo: CliIo = {
  isTty: process.stderr.isTTY === true,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readFile: (f) => readInputFile(f),
  fs: { open: (f) => new TraceFileWriter(f) },
};

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

/** The options `run` takes (the help lists each; a test holds the two together). */
export const RUN_OPTION_NAMES = Object.keys(RUN_OPTIONS);

function unknownCommand(name: string): InputError {
  const expected = COMMAND_NAMES.filter((c) => c !== 'help');
  return new InputError(
    `unknown command '${quote(name)}'${didYouMean(name, COMMAND_NAMES)} (expected ${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1]}; see \`shootdown help\`)`,
  );
}

const UNKNOWN_OPTION = /^Unknown option '([^']*)'.*$/;
const SUGGESTIONS: [RegExp, () => readonly string[]][] = [
  [/unknown property '([^']*)'/, () => PROPERTY_NAMES],
  [/unknown actor kind '([^']*)'/, () => ACTOR_KINDS.map((k) => k.name)],
];

/**
 * An error message as the user sees it: parseArgs' "Unknown option" rewritten to name the command,
 * a "did you mean" where a known name is close (for the errors of every command), and then made
 * one safe line (controls escaped, long values cut).
 */
function polish(message: string, command: string | undefined): string {
  let m = message;
  const c = command === undefined ? undefined : findCommand(command);
  const unknown = UNKNOWN_OPTION.exec(m);
  if (unknown && c) {
    const option = unknown[1] as string;
    const options = [...c.options.map((o) => `--${o.name}`), '--help'];
    m = `unknown option '${option}' for \`shootdown ${c.name}\`${didYouMean(option, options)} (see \`shootdown help ${c.name}\`)`;
  }
  if (!m.includes('did you mean')) {
    for (const [pattern, names] of SUGGESTIONS) {
      const found = pattern.exec(m);
      if (found) {
        m = m.replace(found[0], `${found[0]}${didYouMean(found[1] as string, names())}`);
        break;
      }
    }
  }
  return errorLine(m);
}

/** `io` whose error lines (`shootdown: …`) are polished, whichever command writes them. */
function withPolishedErrors(io: CliIo, command: string | undefined): CliIo {
  const prefix = 'shootdown: ';
  return {
    ...io,
    stderr: (t) => {
      if (t.startsWith(prefix) && t.endsWith('\n') && !t.startsWith(`${prefix}internal error`)) {
        io.stderr(`${prefix}${polish(t.slice(prefix.length, -1), command)}\n`);
      } else io.stderr(t);
    },
  };
}

export async function main(argv: readonly string[], rawIo: CliIo = nodeIo): Promise<number> {
  const [command, ...rest] = argv;
  const polished = withPolishedErrors(rawIo, command);
  // Whatever a command prints, no control character reaches the terminal raw (see stdoutSafe).
  const io: CliIo = { ...polished, stdout: (t) => polished.stdout(stdoutSafe(t)) };
  try {
    const beforeDashes = rest.indexOf('--') === -1 ? rest : rest.slice(0, rest.indexOf('--'));
    if (command === undefined) {
      io.stdout(usageText());
      return 2;
    }
    if (command === '--version' || command === '-V' || command === 'version') {
      io.stdout(`shootdown ${version()}\n`);
      return 0;
    }
    if (command === 'help' || command === '--help' || command === '-h') {
      const topic = rest[0];
      if (topic === undefined) io.stdout(usageText());
      else io.stdout(commandHelpText(findCommand(topic) ?? throwError(unknownCommand(topic))));
      return 0;
    }
    const help = findCommand(command);
    if (!help) throw unknownCommand(command);
    if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
      io.stdout(commandHelpText(help));
      return 0;
    }
    switch (command) {
      case 'run':
        return await run(rest, io);
      case 'list':
        io.stdout(wantsJson('list', rest) ? listJson() : listText());
        return 0;
      case 'kernels':
        io.stdout(wantsJson('kernels', rest) ? kernelsJson() : kernelsText());
        return 0;
      // The viewer, the exporters and the explorer load only for their own commands: `run` starts sooner.
      case 'view':
        return (await import('./viz-commands.js')).viewCommand(rest, io);
      case 'export':
        return (await import('./viz-commands.js')).exportCommand(rest, io);
      case 'export-trace':
        return (await import('./viz-commands.js')).exportTraceCommand(rest, io);
      case 'explore':
        if (rest[0] === 'merge') return await (await import('./merge-command.js')).mergeCommand(rest.slice(1), { ...io, isTty: io.isTty ?? false });
        return await (await import('./explore-command.js')).exploreCommand(rest, { ...io, isTty: io.isTty ?? false });
      default:
        throw unknownCommand(command);
    }
  } catch (e) {
    if (e instanceof InputError) {
      io.stderr(`shootdown: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ReplayDivergence) {
      io.stderr(`shootdown: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function throwError(e: Error): never {
  throw e;
}

function listText(): string {
  const width = Math.max(...BUILTIN_SCENARIOS.map((s) => s.id.length));
  const nameWidth = Math.max(...BUILTIN_SCENARIOS.map((s) => s.name.length));
  return (
    BUILTIN_SCENARIOS.map((s) => `${s.id.padEnd(width)}  ${s.name.padEnd(nameWidth)}  ${s.summary}`).join('\n') +
    `\n\ndefault: ${DEFAULT_SCENARIO}\n`
  );
}

function kernelsText(): string {
  const lines = ['presets (default mainline):'];
  for (const p of PRESETS) lines.push(`  ${p.name.padEnd(9)} ${p.summary}`, `            ${p.switches.length ? p.switches.join(', ') : '(no fixes)'}`);
  lines.push('', 'switches:');
  for (const s of SWITCHES) lines.push(`  ${s.name}  [${s.era}]`, `      ${s.summary}`, `      upstream: ${s.upstream}`);
  return lines.join('\n') + '\n';
}

/** Human-mode timeline lines are written in chunks of this size as the run goes. */
const STDOUT_CHUNK = 64 * 1024;

async function run(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: RUN_OPTIONS });
  } catch (e) {
    throw new InputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new InputError(`run takes one scenario, got ${positionals.length}: ${positionals.join(' ')}`);
  const traceFile = values.trace;
  // The output file is checked before anything else is spent on the run.
  if (traceFile !== undefined) {
    const problem = outputTargetProblem(traceFile);
    if (problem !== null) throw new InputError(`--trace '${quote(traceFile)}': ${problem}`);
  }
  const inspection = inspectPlan(values);

  let replay: ReadTrace | null = null;
  if (values.replay !== undefined) replay = loadReplay(values.replay, io);
  const name = positionals[0] ?? replay?.scenario ?? DEFAULT_SCENARIO;
  // A replay runs the machine the trace was recorded on: its CPU count and its kernel, unless the
  // command line says otherwise.
  let scenario: Scenario;
  try {
    scenario = loadScenario(name, io.readFile, replay?.cpus);
  } catch (e) {
    if (!(e instanceof InputError) || positionals[0] !== undefined || values.replay === undefined) throw e;
    throw new InputError(`--replay ${quote(values.replay)}: line 1: header.scenario: ${e.message} (name the scenario: shootdown run <scenario> --replay …)`);
  }
  const kernelFlags = values.kernel !== undefined || values.fix !== undefined || values['no-fix'] !== undefined;
  if (replay && !kernelFlags) scenario = { ...scenario, kernel: kernelOf(replay.preset, replay.switches) };
  scenario = withKernel(scenario, values.kernel, values.fix ?? [], values['no-fix'] ?? []);
  resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix);
  const seed = replay ? replay.seed : parseSeed(values.seed);
  if (replay && values.seed !== undefined) throw new InputError('--seed and --replay cannot be combined: the trace fixes every choice');
  const simOptions = { seed, ...(replay ? { replay: replay.picks, mode: replay.mode, ...(replay.branch ? { branch: replay.branch } : {}) } : {}) };
  // The bridge first: a port it cannot have must not leave a trace file begun. It re-runs the
  // scenario with the same options for a page that connects after its history outgrew its cap.
  const session = inspection ? await startInspection(inspection, io, { scenario, options: simOptions }) : null;
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
  const onRecord = (r: TraceRecord) => {
    if (wantsLines) {
      const line = formatRecord(r);
      writer?.write(line);
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
      onRecord,
      ...(session ? { inspect: session.inspect } : {}),
    });
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
  try {
    writer?.close();
  } catch (e) {
    traceError(e);
  }
  await session?.linger(io);
  if (replay && divergence === null && produced !== replay.records.length) {
    divergence = { line: lineNumber(replay, Math.min(produced, replay.records.length)), expected: replay.records[produced] ?? null, actual: '(end of the run)' };
  }

  const unfired = result.unfired.map((u) => ({ ...u, kernel: scenario.kernel.preset }));
  if (values.json) {
    io.stdout(runJson(scenario, seed, { ...result.outcome, unfired }, jsonTimeline));
  } else {
    flushTimeline();
    io.stdout(shown === 0 ? '\n\n' : '\n');
    io.stdout(formatOutcome(result.outcome));
  }
  for (const u of unfired) {
    const who = u.actor === 'cpu' ? `CPU${u.id}` : u.actor === 'vcpu' ? `vCPU${u.id}` : `vsock device ${u.id}`;
    io.stderr(`shootdown: ${values.strict ? '' : 'warning: '}script[${u.index}] never ran: its trigger waits for ${who} to enter '${quote(u.state)}', which the run never did (kernel ${scenario.kernel.preset}${kernelDelta(scenario)})\n`);
  }
  if (values.strict && unfired.length > 0) return 2;
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

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npx and npm link call us through a symlink in node_modules/.bin.
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invokedDirectly = isEntryPoint();
if (invokedDirectly) {
  // `shootdown run … | head` closes the pipe early: that is not an error of ours.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  removeTempFilesOnSignals();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`shootdown: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}

/** The trace file's line number of a replay's record `k` (past the last: the line after it). */
function lineNumber(replay: ReadTrace, k: number): number {
  return replay.lineOf[k] ?? (replay.lineOf.at(-1) ?? 0) + 1 + (k - replay.lineOf.length);
}
