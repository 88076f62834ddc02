#!/usr/bin/env node
/**
 * The command line: `shootdown run | list | kernels`. `main()` takes its input and output as
 * arguments, so tests drive exactly what a user runs; exit 0 for a completed run (whatever its
 * outcome), 1 when a replay does not reproduce its trace, 2 for bad input, with one line naming it.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BUILTIN_SCENARIOS, DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import type { Scenario } from '../scenarios/types.js';
import { runScenario } from '../sim/run.js';
import { ReplayDivergence } from '../sim/chooser.js';
import { PRESETS, SWITCHES, resolveFeatures } from '../kernel/variants.js';
import { formatRecord, type TraceRecord } from '../trace/records.js';
import { readTrace, TraceFileWriter, type ReadTrace } from '../trace/file.js';
import { formatOutcome, formatTimelineRecord } from './format.js';
import { exportCommand, exportTraceCommand, viewCommand } from './viz-commands.js';
import { EXPLORE_USAGE, exploreCommand } from './explore-command.js';
import { InputError, KERNEL_FLAGS, kernelOf, loadScenario, parseSeed, withKernel } from './scenario-args.js';
import { inspectPlan, startInspection } from './inspect.js';
import { ACTOR_KINDS } from '../viz/actor-kinds.js';

export interface CliIo {
  /** Whether progress lines can be drawn (stderr is a terminal). */
  isTty?: boolean;
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(file: string): string;
  fs: { open(file: string): TraceFileWriter };
}

export const nodeIo: CliIo = {
  isTty: process.stderr.isTTY === true,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readFile: (f) => fs.readFileSync(f, 'utf8'),
  fs: { open: (f) => new TraceFileWriter(f) },
};

const USAGE = `usage:
  shootdown run [<scenario file | built-in>] [--seed N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                [--json] [--trace FILE] [--replay TRACE] [--steps]
                [--inspect [--inspect-port N] [--inspect-linger S] [--inspect-host ADDR]]
${EXPLORE_USAGE.trimEnd()}
  shootdown list                 built-in scenarios
  shootdown kernels              kernel presets and fix switches
  shootdown view [<trace file | scenario file | built-in>] [--port N] [--host ADDR] | [--out DIR [--force]]
                 [--seed N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                                 the viewer: statecharts with the active states lit, playback, message sequence
  shootdown export <actor kind> [--format mermaid|scxml|dot|json] [--root PATH] [--depth N]
                                 a chart drawn from its machine (kinds: ${ACTOR_KINDS.map((k) => k.name).join(', ')})
  shootdown export-trace <trace file> [--format mermaid-sequence|json]
`;

export async function main(argv: readonly string[], io: CliIo = nodeIo): Promise<number> {
  try {
    const [command, ...rest] = argv;
    const beforeDashes = rest.indexOf('--') === -1 ? rest : rest.slice(0, rest.indexOf('--'));
    if (command !== undefined && (beforeDashes.includes('--help') || beforeDashes.includes('-h'))) {
      io.stdout(USAGE);
      return 0;
    }
    switch (command) {
      case 'run':
        return await run(rest, io);
      case 'list':
        io.stdout(listText());
        return 0;
      case 'kernels':
        io.stdout(kernelsText());
        return 0;
      case 'view':
        return viewCommand(rest, io);
      case 'export':
        return exportCommand(rest, io);
      case 'export-trace':
        return exportTraceCommand(rest, io);
      case 'explore':
        return await exploreCommand(rest, { ...io, isTty: io.isTty ?? false });
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new InputError(`unknown command '${command}' (expected run, explore, view, export, export-trace, list or kernels)`);
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

async function run(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        seed: { type: 'string' },
        ...KERNEL_FLAGS,
        json: { type: 'boolean' },
        trace: { type: 'string' },
        replay: { type: 'string' },
        steps: { type: 'boolean' },
        inspect: { type: 'boolean' },
        'inspect-port': { type: 'string' },
        'inspect-linger': { type: 'string' },
        'inspect-host': { type: 'string' },
      },
    });
  } catch (e) {
    throw new InputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new InputError(`run takes one scenario, got ${positionals.length}: ${positionals.join(' ')}`);
  const inspection = inspectPlan(values);

  let replay: ReadTrace | null = null;
  if (values.replay !== undefined) replay = loadReplay(values.replay, io);
  const name = positionals[0] ?? replay?.scenario ?? DEFAULT_SCENARIO;
  // A replay runs the machine the trace was recorded on: its CPU count and its kernel, unless the
  // command line says otherwise.
  let scenario = loadScenario(name, io.readFile, replay?.cpus);
  const kernelFlags = values.kernel !== undefined || values.fix !== undefined || values['no-fix'] !== undefined;
  if (replay && !kernelFlags) scenario = { ...scenario, kernel: kernelOf(replay.preset, replay.switches) };
  scenario = withKernel(scenario, values.kernel, values.fix ?? [], values['no-fix'] ?? []);
  resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix);
  const seed = replay ? replay.seed : parseSeed(values.seed);
  if (replay && values.seed !== undefined) throw new InputError('--seed and --replay cannot be combined: the trace fixes every choice');

  // The bridge first: a port it cannot have must not leave a trace file begun.
  const session = inspection ? await startInspection(inspection, io) : null;
  const writer = values.trace !== undefined ? io.fs.open(values.trace) : null;
  const timeline: string[] = [];
  let produced = 0;
  let divergence: string | null = null;
  const onRecord = (r: TraceRecord) => {
    const line = formatRecord(r);
    writer?.write(line);
    if (replay && divergence === null) {
      const expected = replay.records[produced];
      if (expected !== line) divergence = `replay diverged at trace line ${produced + 1}:\n  trace: ${expected ?? '(end of trace)'}\n  run:   ${line}`;
    }
    produced += 1;
    if (!values.json) {
      const text = formatTimelineRecord(r, values.steps === true);
      if (text !== null) timeline.push(text);
    }
  };
  let result;
  try {
    result = runScenario(scenario, {
      seed,
      onRecord,
      ...(replay ? { replay: replay.picks, mode: replay.mode } : {}),
      ...(session ? { inspect: session.inspect } : {}),
    });
  } catch (e) {
    writer?.abort();
    await session?.close();
    throw e;
  }
  writer?.close();
  await session?.linger(io);
  if (replay && divergence === null && produced !== replay.records.length) {
    divergence = `replay produced ${produced} trace lines, the trace has ${replay.records.length}`;
  }

  if (values.json) {
    io.stdout(
      JSON.stringify(
        {
          scenario: { id: scenario.id, name: scenario.name },
          kernel: { preset: scenario.kernel.preset, fix: scenario.kernel.fix, noFix: scenario.kernel.noFix },
          seed,
          outcome: result.outcome,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    io.stdout(`${scenario.id}: ${scenario.name} — kernel ${scenario.kernel.preset}${kernelDelta(scenario)}, seed ${seed}\n\n`);
    io.stdout(timeline.join('\n') + '\n\n');
    io.stdout(formatOutcome(result.outcome));
  }
  if (divergence !== null) {
    io.stderr(`shootdown: ${divergence}\n`);
    return 1;
  }
  if (replay) io.stderr(`replay: reproduced all ${produced} trace lines\n`);
  return 0;
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
    throw new InputError(`--replay ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const r = readTrace(text);
  if (!r.ok) throw new InputError(`--replay ${file}: ${r.error}`);
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
