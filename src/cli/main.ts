#!/usr/bin/env node
/**
 * The command line: `shootdown run | explore | view | export | export-trace | list | kernels | help`.
 * `main()` takes its input and output as arguments, so tests drive exactly what a user runs; exit 0
 * for a completed run (whatever its outcome), 1 when a replay does not reproduce its trace (or a
 * property fails with `--fail-on-violation`), 2 for bad input, with one line naming it; the entry point
 * exits 74 when stdout cannot be written, and 130 / 143 on SIGINT / SIGTERM after removing partial output files.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILTIN_SCENARIOS, DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import { ReplayDivergence } from '../sim/chooser.js';
import { PRESETS, SWITCHES } from '../kernel/variants.js';
import { TraceFileWriter } from '../trace/file.js';
import { readInputFile } from './input-file.js';
import { kernelsJson, listJson, wantsJson } from './json-output.js';
import { InputError } from './scenario-args.js';
import { ACTOR_KINDS } from '../viz/actor-kinds.js';
import { PROPERTY_NAMES } from '../spec/index.js';
import { COMMAND_NAMES, commandHelpText, findCommand, usageText } from './help.js';
import { didYouMean } from './suggest.js';
import { errorLine, quote, stdoutSafe } from './terminal.js';
import { removeTempFilesOnSignals } from './output-file.js';
import { version } from './version.js';
import type { CliIo } from './io.js';
import { run, RUN_OPTION_NAMES } from './run-command.js';

export type { CliIo } from './io.js';

/** The exit status when stdout cannot be written (sysexits.h EX_IOERR). */
export const EXIT_OUTPUT_FAILED = 74;
export { RUN_OPTION_NAMES };

export const nodeIo: CliIo = {
  isTty: process.stderr.isTTY === true,
  stdout: (t) => process.stdout.write(t),
  stdoutBusy: () =>
    process.stdout.writableNeedDrain
      ? new Promise((resolve) => {
          const done = () => {
            process.stdout.off('drain', done);
            process.stdout.off('close', done);
            resolve();
          };
          process.stdout.on('drain', done);
          process.stdout.on('close', done);
        })
      : null,
  stderr: (t) => process.stderr.write(t),
  readFile: (f) => readInputFile(f),
  fs: { open: (f) => new TraceFileWriter(f) },
};

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
  // `shootdown run … | head` closes the pipe early: that is not an error of ours, but the command's
  // own status still stands (`explore … | head` must not hide a violation, 1, or an incomplete
  // search, 3, behind a 0): once the reader is gone, later writes are dropped and the process ends
  // with the command's status as soon as it is known. Any other failure to write the output (a full
  // disk, /dev/full) ends the command with one line saying so.
  let readerGone = false;
  let status: number | undefined;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || readerGone) {
      readerGone = true;
      if (status !== undefined) process.exit(status);
      return;
    }
    process.stderr.write(`shootdown: cannot write to stdout: ${errorLine(e.message)}\n`);
    process.exit(EXIT_OUTPUT_FAILED);
  });
  removeTempFilesOnSignals();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = status = code;
      if (readerGone) process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`shootdown: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
