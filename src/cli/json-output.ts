/**
 * Machine-readable output: `run --json` (with `--timeline`, the human timeline's lines as objects),
 * `list --json` and `kernels --json`. docs/outcome.schema.json describes the `run --json` document.
 */
import { parseArgs } from 'node:util';
import type { TraceRecord } from '../trace/records.js';
import type { Outcome } from '../sim/outcome.js';
import type { UnfiredTrigger } from '../sim/simulation.js';
import type { Scenario } from '../scenarios/types.js';
import { BUILTIN_SCENARIOS, DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import { DEFAULT_PRESET, PRESETS, SWITCHES } from '../kernel/variants.js';
import { formatTimelineRecord } from './format.js';
import { InputError } from './scenario-args.js';
import { jsonPieces } from '../viz/json-pieces.js';
import type { CliIo } from './io.js';

/**
 * One line of the human timeline as an object: when, on which CPU (null for the run's end), which
 * actor (a CPU, a vCPU, a VMM thread, a vhost-vsock device, the platform), the record kind, the
 * line's text without its time stamp and CPU column, and the trace record with all its fields.
 */
export interface TimelineEntry {
  timeNs: number;
  cpu: number | null;
  actor: string | null;
  kind: TraceRecord['t'];
  text: string;
  record: TraceRecord;
}

/** The actor a record is about, named as the text timeline names it. */
function actorOf(r: TraceRecord): string | null {
  switch (r.t) {
    case 'ioctl':
      return r.dev === undefined ? `vCPU${r.vcpu}` : `VMM${r.vcpu}`;
    case 'kvm':
      return `vCPU${r.vcpu}`;
    case 'gstep':
      return r.actor === 'vcpu' ? `vCPU${r.vcpu}` : r.actor === 'vmm' ? `VMM${r.vcpu}` : `vsock${r.vcpu}`;
    case 'vsock':
      return `vsock${r.dev}`;
    case 'send':
      return r.from === 'platform' ? 'platform' : `CPU${r.from}`;
    case 'end':
      return null;
    default:
      return 'cpu' in r ? `CPU${r.cpu}` : null;
  }
}

/**
 * Timeline lines one `run --json --timeline` document holds: each is kept until the run ends (the
 * outcome comes first in the document), about 1 KB apiece; a 1,024-CPU run where every CPU restarts
 * at once has a million. An object so that a test can lower it.
 */
export const JSON_TIMELINE_LIMIT = { lines: 2_097_152 };

/** Collects the timeline lines a text run would print, as objects. */
export class JsonTimeline {
  readonly entries: TimelineEntry[] = [];
  /** More lines than JSON_TIMELINE_LIMIT.lines came: none is kept any more, and the run is to stop. */
  overflow = false;

  constructor(
    private readonly steps: boolean,
    private readonly max = JSON_TIMELINE_LIMIT.lines,
  ) {}

  /** The error of a timeline that overflowed. */
  overflowError(): InputError {
    return new InputError(
      `--json --timeline: the run's timeline passed ${this.max.toLocaleString('en-US')} lines, the most one JSON document holds (they are all kept until the run's outcome, which comes first, is known); write the run as JSON lines with --trace FILE, or the text timeline without --json`,
    );
  }

  add(r: TraceRecord): void {
    if (this.overflow) return;
    const line = formatTimelineRecord(r, this.steps);
    if (line === null || !('ns' in r)) return;
    if (this.entries.length >= this.max) {
      this.overflow = true;
      this.entries.length = 0;
      return;
    }
    const cpu = r.t === 'send' ? (r.from === 'platform' ? null : r.from) : 'cpu' in r ? r.cpu : null;
    // "[    0.000000020] CPU1  text" or "[…] platform  text" or "[…] end: …".
    const text = line.replace(/^\[\s*\d+\.\d+\] /, '').replace(/^(CPU\d+|platform) {2}/, '');
    this.entries.push({ timeNs: r.ns, cpu, actor: actorOf(r), kind: r.t, text, record: r });
  }
}

/**
 * The `run --json` document, written to `io` in pieces (with `--timeline` it can pass the largest
 * string V8 makes: a million timeline lines of a 1,024-CPU run), waiting for stdout between chunks.
 */
export async function writeRunJson(
  io: CliIo,
  scenario: Scenario,
  seed: number,
  outcome: Outcome & { unfired: readonly (UnfiredTrigger & { kernel: string })[] },
  timeline: JsonTimeline | null,
): Promise<void> {
  const doc = {
    scenario: { id: scenario.id, name: scenario.name },
    kernel: { preset: scenario.kernel.preset, fix: scenario.kernel.fix, noFix: scenario.kernel.noFix },
    seed,
    outcome,
    ...(timeline ? { timeline: timeline.entries } : {}),
  };
  await writePieces(io, jsonPieces(doc, 2), '\n');
}

/** Pieces are joined into chunks of about this size before they are written. */
const CHUNK = 64 * 1024;

/** Write `pieces` (then `end`) to stdout in chunks, each after stdout has taken the one before. */
export async function writePieces(io: CliIo, pieces: Iterable<string>, end = ''): Promise<void> {
  let chunk: string[] = [];
  let size = 0;
  for (const piece of pieces) {
    chunk.push(piece);
    size += piece.length;
    if (size < CHUNK) continue;
    io.stdout(chunk.join(''));
    chunk = [];
    size = 0;
    const busy = io.stdoutBusy?.() ?? null;
    if (busy !== null) await busy;
  }
  io.stdout(chunk.join('') + end);
}

/** Whether `list` / `kernels` was asked for JSON; any other argument is an error. */
export function wantsJson(command: string, args: readonly string[]): boolean {
  try {
    const { values } = parseArgs({ args: [...args], options: { json: { type: 'boolean' } } });
    return values.json === true;
  } catch (e) {
    throw new InputError(`${command}: ${(e as Error).message.split('\n')[0] ?? 'bad arguments'}`);
  }
}

export function listJson(): string {
  return (
    JSON.stringify(
      {
        default: DEFAULT_SCENARIO,
        scenarios: BUILTIN_SCENARIOS.map((s) => ({ id: s.id, name: s.name, summary: s.summary })),
      },
      null,
      2,
    ) + '\n'
  );
}

export function kernelsJson(): string {
  return (
    JSON.stringify(
      {
        default: DEFAULT_PRESET,
        presets: PRESETS.map((p) => ({ name: p.name, summary: p.summary, switches: [...p.switches] })),
        switches: SWITCHES.map((s) => ({ name: s.name, era: s.era, summary: s.summary, upstream: s.upstream })),
      },
      null,
      2,
    ) + '\n'
  );
}
