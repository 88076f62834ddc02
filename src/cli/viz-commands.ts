/**
 * `shootdown view`, `shootdown export` and `shootdown export-trace`. Each returns the exit status
 * the way `main()` does: 0 when done, 2 for bad input with one line on stderr naming it.
 */
import * as path from 'node:path';
import type { CliIo } from './io.js';
import { parseCommandArgs } from './args.js';
import { findBuiltin, DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import type { Scenario } from '../scenarios/types.js';
import { runScenarioInSlices } from '../sim/run.js';
import { InputError, KERNEL_FLAGS, loadScenario, parseInteger, parseSeed, withKernel } from './scenario-args.js';
import { track } from './output-file.js';
import { readTrace } from '../trace/file.js';
import { ACTOR_KINDS, PLANNED_KINDS, findActorKind } from '../viz/actor-kinds.js';
import { exportScope } from '../viz/chart-model.js';
import { chartToMermaid, MERMAID_MAX_EDGES, MERMAID_MAX_TEXT } from '../viz/export-mermaid.js';
import { chartToScxml } from '../viz/export-scxml.js';
import { chartToDot } from '../viz/export-dot.js';
import { traceJsonDoc, traceToMermaidSequence } from '../viz/export-trace.js';
import { jsonPieces } from '../viz/json-pieces.js';
import { boundedLines } from '../viz/bounded-lines.js';
import { writePieces } from './json-output.js';
import { buildSite, checkOutDir, serveSite, SiteError, traceViolations, VIEWER_PORT, writeSite, type RunningViewer, type SiteInput } from '../viz/site.js';
import { WhatIf, whatIfBounds } from '../viz/branch-server.js';
import { MAX_INPUT_BYTES } from './input-file.js';
import { bindingNote, exposureWarning, listenError, LOOPBACK, validHost } from '../viz/local-server.js';
import { perfettoJson, traceToPerfetto } from '../viz/export-perfetto.js';
import { traceModel } from '../viz/trace-model.js';

/** Bad input of these commands (the scenario loader's own errors are `InputError` too). */
class VizInputError extends InputError {}

function report(io: CliIo, e: unknown): number {
  if (e instanceof InputError || e instanceof SiteError) {
    io.stderr(`shootdown: ${e.message}\n`);
    return 2;
  }
  throw e;
}

/** parseArgs, with its errors as bad input. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new VizInputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

function readInput(file: string, io: CliIo, what: string): string {
  try {
    return io.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VizInputError(`${file}: ${code === 'ENOENT' ? `no such file${what}` : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
}

/** A trace file starts with its header record; anything else is taken for a scenario. */
function looksLikeTrace(text: string): boolean {
  const first = text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : text.length).trim();
  if (!first.startsWith('{')) return false;
  try {
    return (JSON.parse(first) as { t?: unknown }).t === 'header';
  } catch {
    return false;
  }
}

function loadTrace(file: string, text: string): string {
  const r = readTrace(text);
  if (!r.ok) throw new VizInputError(`${file}: ${r.error}`);
  return text;
}

interface RunFlags {
  seed?: string;
  kernel?: string;
  fix?: string[];
  'no-fix'?: string[];
}

/**
 * The run of a scenario for the viewer, its trace as text: at most what `view` reads from a trace
 * file (MAX_INPUT_BYTES; an object so that a test can lower it), and the run stops once past it.
 * The server's what-if branches are held to it too (and to their own BRANCH_TRACE_CHARS, the lower).
 */
export const VIEW_TRACE_LIMIT = { chars: MAX_INPUT_BYTES };

async function scenarioTrace(loaded: Scenario, flags: RunFlags): Promise<SiteInput> {
  const seed = parseSeed(flags.seed);
  const scenario = withKernel(loaded, flags.kernel, flags.fix ?? [], flags['no-fix'] ?? []);
  const kernel = scenario.kernel;
  const max = VIEW_TRACE_LIMIT.chars;
  const kept = boundedLines(max);
  const { lines, onRecord } = kept;
  const tooLarge = () =>
    new VizInputError(
      `${scenario.id}: the run's trace passes ${max % (1024 * 1024) === 0 ? `${max / (1024 * 1024)} MiB` : `${max} characters`}, the most the viewer takes (a trace file to view may have as much); its text timeline (\`shootdown run\`) or its trace (\`shootdown run --trace FILE\`, then \`shootdown export-trace FILE --format perfetto\` for ui.perfetto.dev) show it`,
    );
  const result = await runScenarioInSlices(scenario, { seed, onRecord }, undefined, () => (kept.over() ? Promise.reject(tooLarge()) : null));
  if (kept.over()) throw tooLarge();
  const delta = [...kernel.fix.map((n) => `+${n}`), ...kernel.noFix.map((n) => `-${n}`)].join(' ');
  return {
    trace: lines.join('\n') + '\n',
    source: `${scenario.id}: ${scenario.name}${delta ? ` (${delta})` : ''}`,
    violations: result.outcome.violations,
    base: { scenario, seed, mode: 'timed' },
  };
}

/** What `view` shows: a trace file, a built-in scenario or a scenario file (run here). */
async function viewInput(name: string, io: CliIo, flags: RunFlags): Promise<SiteInput> {
  if (findBuiltin(name)) return await scenarioTrace(loadScenario(name, io.readFile), flags);
  const text = readInput(name, io, ', and not a built-in scenario (see `shootdown list`)');
  if (looksLikeTrace(text)) {
    for (const flag of ['seed', 'kernel', 'fix', 'no-fix'] as const) {
      if (flags[flag] !== undefined) throw new VizInputError(`--${flag} cannot be used with a trace file: the trace fixes the run`);
    }
    return { trace: loadTrace(name, text), source: path.basename(name) };
  }
  return await scenarioTrace(loadScenario(name, () => text), flags);
}

export interface ViewHooks {
  /** Called with the running server (tests close it; the CLI leaves it running until Ctrl-C). */
  onServer?: (viewer: RunningViewer) => void;
}

/** How many ports from the default on `view` tries before it gives up (an explicit --port: only that one). */
const DEFAULT_PORT_TRIES = 20;

export async function viewCommand(args: string[], io: CliIo, hooks: ViewHooks = {}): Promise<number> {
  try {
    const { values, positionals } = parsed(() =>
      parseCommandArgs({
        args,
        allowPositionals: true,
        options: {
          port: { type: 'string' },
          host: { type: 'string' },
          out: { type: 'string' },
          force: { type: 'boolean' },
          seed: { type: 'string' },
          ...KERNEL_FLAGS,
        },
      }),
    );
    if (positionals.length > 1) throw new VizInputError(`view takes one trace file or scenario, got ${positionals.length}: ${positionals.join(' ')}`);
    const port = parseInteger('port', values.port, 0, 65535, VIEWER_PORT);
    const host = values.host ?? LOOPBACK;
    if (!validHost(host)) throw new VizInputError(`--host: expected an IP address or a host name, got ${JSON.stringify(host)}`);
    const out = values.out;
    if (out !== undefined) {
      if (values.port !== undefined || values.host !== undefined) throw new VizInputError(`--out writes files and --${values.port !== undefined ? 'port' : 'host'} serves them: give one`);
      if (out === '') throw new VizInputError('--out: expected a directory');
      checkOutDir(out, values.force === true);
    } else if (values.force) {
      throw new VizInputError('--force goes with --out DIR (it lets the viewer be written into a non-empty directory)');
    }
    const input = await viewInput(positionals[0] ?? DEFAULT_SCENARIO, io, values as RunFlags);
    const site = await buildSite(input);
    if (out !== undefined) {
      writeSite(out, site, values.force === true, track);
      io.stdout(`wrote the viewer for ${input.source} to ${path.join(out, 'index.html')} (open it in a browser; it needs no server)\n`);
      return 0;
    }
    let viewer: RunningViewer;
    try {
      viewer = await serveSite(site, port, { host, tries: values.port === undefined ? DEFAULT_PORT_TRIES : 1, whatIf: new WhatIf(input, site, buildSite, whatIfBounds(VIEW_TRACE_LIMIT)) });
    } catch (e) {
      const words = listenError(e, '--port', port, '--host', host);
      if (words === null) throw e;
      throw new VizInputError(values.port === undefined && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `ports ${port} to ${port + DEFAULT_PORT_TRIES - 1} are all in use: give --port N (0 for any free port)` : words);
    }
    const warning = exposureWarning(host, viewer.port, '--host');
    if (warning) io.stderr(warning);
    const moved = viewer.wanted !== undefined ? `port ${viewer.wanted} is in use, so this one serves on port ${viewer.port}\n` : '';
    io.stdout(`shootdown viewer for ${input.source}\n  ${viewer.url}\n${moved}${bindingNote(host, '--host')}. Ctrl-C stops it.\n`);
    hooks.onServer?.(viewer);
    return 0;
  } catch (e) {
    return report(io, e);
  }
}

const CHART_FORMATS = ['mermaid', 'scxml', 'dot', 'json'] as const;

export function exportCommand(args: string[], io: CliIo): number {
  try {
    const { values, positionals } = parsed(() =>
      parseCommandArgs({ args, allowPositionals: true, options: { format: { type: 'string' }, root: { type: 'string' }, depth: { type: 'string' } } }),
    );
    const known = ACTOR_KINDS.map((k) => k.name);
    const name = positionals[0];
    if (name === undefined) throw new VizInputError(`export: name an actor kind (${[...known, ...PLANNED_KINDS].join(', ')})`);
    if (positionals.length > 1) throw new VizInputError(`export takes one actor kind, got ${positionals.length}: ${positionals.join(' ')}`);
    const kind = findActorKind(name);
    if (!kind) {
      if (PLANNED_KINDS.includes(name)) throw new VizInputError(`export: the ${name} machine is not modelled yet (available: ${known.join(', ')})`);
      throw new VizInputError(`export: unknown actor kind '${name}' (known: ${known.join(', ')})`);
    }
    const format = (values.format as string | undefined) ?? 'mermaid';
    if (!(CHART_FORMATS as readonly string[]).includes(format)) throw new VizInputError(`--format: expected one of ${CHART_FORMATS.join(', ')}, got '${format}'`);
    let depth: number | undefined;
    if (values.depth !== undefined) {
      if (typeof values.depth !== 'string' || !/^\d+$/.test(values.depth) || Number(values.depth) < 1) throw new VizInputError(`--depth: expected a positive integer, got '${String(values.depth)}'`);
      depth = Number(values.depth);
    }
    const chart = kind.chart();
    const scope = exportScope(chart, (values.root as string | undefined) ?? '', depth);
    if ('error' in scope) throw new VizInputError(`--root: ${scope.error} of the ${name} chart`);
    switch (format) {
      case 'mermaid': {
        const { text, edges } = chartToMermaid(chart, scope);
        io.stdout(text);
        if (text.length > MERMAID_MAX_TEXT || edges > MERMAID_MAX_EDGES) {
          io.stderr(
            `note: ${text.length} characters and ${edges} edges: over mermaid's default limits (${MERMAID_MAX_TEXT} characters, ${MERMAID_MAX_EDGES} edges), so GitHub will not render it; export a part with --root PATH or --depth N\n`,
          );
        }
        return 0;
      }
      case 'scxml':
        if (depth !== undefined) throw new VizInputError('--depth: SCXML keeps every state node; use --root to export a part');
        io.stdout(chartToScxml(chart, scope.root));
        return 0;
      case 'dot':
        io.stdout(chartToDot(chart, scope));
        return 0;
      default:
        io.stdout(JSON.stringify(scope.root === 0 ? chart : { ...chart, root: scope.root }, null, 1) + '\n');
        return 0;
    }
  } catch (e) {
    return report(io, e);
  }
}

const TRACE_FORMATS = ['mermaid-sequence', 'json', 'perfetto'] as const;

export async function exportTraceCommand(args: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parsed(() => parseCommandArgs({ args, allowPositionals: true, options: { format: { type: 'string' } } }));
    const file = positionals[0];
    if (file === undefined) throw new VizInputError('export-trace: name a trace file (written by `shootdown run --trace FILE`)');
    if (positionals.length > 1) throw new VizInputError(`export-trace takes one trace file, got ${positionals.length}: ${positionals.join(' ')}`);
    const format = (values.format as string | undefined) ?? 'mermaid-sequence';
    if (!(TRACE_FORMATS as readonly string[]).includes(format)) throw new VizInputError(`--format: expected one of ${TRACE_FORMATS.join(', ')}, got '${format}'`);
    const text = loadTrace(file, readInput(file, io, ''));
    const kind = findActorKind('physical-cpu');
    if (!kind) throw new Error('no physical-cpu chart');
    const model = traceModel(kind.chart(), text, traceViolations(text.split('\n').filter((l) => l.length > 0)));
    if ('error' in model) throw new VizInputError(`${file}: ${model.error}`);
    // The JSON export is written in pieces: a large trace's is longer than one string can be.
    if (format === 'json') await writePieces(io, jsonPieces(traceJsonDoc(model), 1), '\n');
    else io.stdout(format === 'perfetto' ? perfettoJson(traceToPerfetto(model)) : traceToMermaidSequence(model));
    return 0;
  } catch (e) {
    return report(io, e);
  }
}
