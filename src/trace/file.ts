/**
 * Trace files: JSON lines, streamed through a buffer to a temporary file beside the target and
 * renamed into place when the run ends, so a failed run never leaves a half-written trace (see
 * `OutputFile`); and reading one back for replay, with every header field checked.
 */
import { recordProblem } from './check-record.js';
import { TRACE_VERSION, TRACE_VERSIONS, type BranchPoint, type TraceRecord } from './records.js';
import type { Pick } from '../sim/chooser.js';
import { OutputFile } from '../cli/output-file.js';
import { findPreset, isSwitchName, SWITCH_NAMES } from '../kernel/variants.js';
import { MAX_CPUS } from '../scenarios/validate.js';
import { MAX_SEED, MAX_TRACE_LINE } from '../scenarios/limits.js';
import { duplicateKey } from '../scenarios/json-text.js';

const FLUSH_AT = 64 * 1024;

export class TraceFileWriter {
  private readonly out: OutputFile;
  private buffer: string[] = [];
  private size = 0;

  /** Throws `OutputFileError` when `file` cannot be an output file (a directory, a device, …). */
  constructor(file: string) {
    this.out = new OutputFile(file);
  }

  /** Where the trace is being written until `close()`. */
  get temp(): string {
    return this.out.temp;
  }

  write(line: string): void {
    this.buffer.push(line);
    this.size += line.length + 1;
    if (this.size >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('\n') + '\n';
    this.buffer = [];
    this.size = 0;
    this.out.write(text);
  }

  close(): void {
    this.flush();
    this.out.close();
  }

  abort(): void {
    this.buffer = [];
    this.out.abort();
  }
}

export interface ReadTrace {
  /** The header's trace version (1: records without leaves; a replay compares its lines as version 1 wrote them). */
  version: number;
  seed: number;
  mode: 'timed' | 'untimed';
  cpus: number;
  preset: string;
  switches: string[];
  scenario: string;
  /** The scenario file it was recorded on, as Scenario.digest (absent: a built-in, or a trace from before digests). */
  scenarioDigest?: string;
  /** Set when the trace is a what-if branch of another run. */
  branch?: BranchPoint;
  picks: Pick[];
  /** Every line the run wrote, as written: explore's `noreturn` marks are left out (a replay does not write them). */
  records: string[];
  /** The file's line number (from 1) of each of `records`: one more after each mark left out. */
  lineOf: number[];
}

/** How long `header.branch.from` may be: a run's name. */
const MAX_BRANCH_FROM = 256;
/** How long `header.scenario` may be: a built-in's id or a file's name (at most 255 bytes on Linux), without `.json`. */
const MAX_SCENARIO_ID = 255;

/** The fields a header has (records.ts); any other is refused, as a branch point's are. */
const HEADER_FIELDS: readonly string[] = ['t', 'v', 'scenario', 'scenarioDigest', 'seed', 'mode', 'options', 'cpus', 'vendor', 'preset', 'switches', 'branch'];
const HEADER_OPTIONS: readonly string[] = ['kdump', 'panicTimeout', 'initOnlyReset'];
const VENDORS: readonly string[] = ['intel', 'amd'];

/** A value quoted in an error: JSON, cut short. */
function shown(value: unknown): string {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 40)}… (${text.length - 40} more characters)` : text;
}

/** The header's fields, each checked; the error names the field. */
function headerProblem(h: Record<string, unknown>): string | null {
  const extra = Object.keys(h).find((k) => !HEADER_FIELDS.includes(k));
  if (extra !== undefined) return `header: unknown field ${shown(extra)} (a header has ${HEADER_FIELDS.slice(1).join(', ')})`;
  const seed = h.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) return `header.seed: expected an integer from 0 to ${MAX_SEED}, got ${shown(seed)}`;
  if (h.mode !== undefined && h.mode !== 'timed' && h.mode !== 'untimed') return `header.mode: expected "timed" or "untimed", got ${shown(h.mode)}`;
  const cpus = h.cpus;
  if (typeof cpus !== 'number' || !Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) return `header.cpus: expected an integer from 1 to ${MAX_CPUS}, got ${shown(cpus)}`;
  if (typeof h.preset !== 'string' || !findPreset(h.preset)) return `header.preset: unknown preset ${shown(h.preset)}`;
  if (h.vendor !== undefined && (typeof h.vendor !== 'string' || !VENDORS.includes(h.vendor))) return `header.vendor: expected ${VENDORS.map((v) => `"${v}"`).join(' or ')}, got ${shown(h.vendor)}`;
  if (!Array.isArray(h.switches)) return `header.switches: expected a list of kernel switch names, got ${shown(h.switches)}`;
  // Each switch once: no more names than there are switches (checked before the list is read).
  if (h.switches.length > SWITCH_NAMES.length) return `header.switches: expected at most ${SWITCH_NAMES.length} names (each known kernel switch once), got ${h.switches.length}`;
  const listed = new Set<string>();
  for (let i = 0; i < h.switches.length; i++) {
    const s: unknown = h.switches[i];
    if (typeof s !== 'string' || !isSwitchName(s)) return `header.switches[${i}]: unknown kernel switch ${shown(s)}`;
    if (listed.has(s)) return `header.switches[${i}]: ${shown(s)} is listed twice`;
    listed.add(s);
  }
  const id = h.scenario;
  if (typeof id !== 'string' || id.length === 0) return `header.scenario: expected a scenario name, got ${shown(id)}`;
  if (id.length > MAX_SCENARIO_ID || id.includes('/') || id.includes('\0')) {
    return `header.scenario: expected a scenario's id (a built-in's, or a file's name without directories, at most ${MAX_SCENARIO_ID} characters), got ${shown(id)}`;
  }
  if (h.scenarioDigest !== undefined && (typeof h.scenarioDigest !== 'string' || !/^[0-9a-f]{16}$/.test(h.scenarioDigest))) return `header.scenarioDigest: expected 16 hexadecimal digits, got ${shown(h.scenarioDigest)}`;
  // The property observers read these when they check a trace (export-trace, view).
  const o = h.options;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return `header.options: expected an object, got ${shown(o)}`;
  const opts = o as Record<string, unknown>;
  const unknownOption = Object.keys(opts).find((k) => !HEADER_OPTIONS.includes(k));
  if (unknownOption !== undefined) return `header.options: unknown field ${shown(unknownOption)} (the options are ${HEADER_OPTIONS.join(', ')})`;
  if (typeof opts.kdump !== 'boolean') return `header.options.kdump: expected true or false, got ${shown(opts.kdump)}`;
  if (typeof opts.panicTimeout !== 'number' || !Number.isFinite(opts.panicTimeout)) return `header.options.panicTimeout: expected a number, got ${shown(opts.panicTimeout)}`;
  if (opts.initOnlyReset !== undefined && typeof opts.initOnlyReset !== 'boolean') return `header.options.initOnlyReset: expected true or false, got ${shown(opts.initOnlyReset)}`;
  if (h.branch !== undefined) {
    const b = h.branch as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return `header.branch: expected {from, decision, option}, got ${shown(b)}`;
    const extra = Object.keys(b).find((k) => k !== 'from' && k !== 'decision' && k !== 'option');
    if (extra !== undefined) return `header.branch.${extra}: not a field of a branch point`;
    if (typeof b.from !== 'string' || b.from.length > MAX_BRANCH_FROM) return `header.branch.from: expected a name of at most ${MAX_BRANCH_FROM} characters, got ${shown(b.from)}`;
    for (const k of ['decision', 'option'] as const) {
      const v = b[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return `header.branch.${k}: expected a choice index (an integer from 0), got ${shown(v)}`;
    }
  }
  return null;
}

/**
 * A run numbers each message once and writes its `send` record before any `deliver` record of it, in
 * the mode it was sent with (Simulation.sendMessage, CpuSlots.receive): a delivery of a message no
 * earlier record sent would be drawn from a sender nobody recorded.
 */
function messageProblem(r: TraceRecord, line: number, sent: Map<number, { mode: string; line: number }>): string | null {
  if (r.t === 'send') {
    const first = sent.get(r.msg);
    if (first !== undefined) return `message ${r.msg} is sent again (first on line ${first.line}); a run numbers each message once`;
    sent.set(r.msg, { mode: r.mode, line });
  } else if (r.t === 'deliver') {
    const s = sent.get(r.msg);
    if (s === undefined) return `a delivery of message ${r.msg}, which no earlier record sent`;
    if (s.mode !== r.mode) return `message ${r.msg} was sent as ${s.mode} (line ${s.line}), delivered as ${r.mode}`;
  }
  return null;
}

export function readTrace(text: string): { ok: true; trace: ReadTrace } | { ok: false; error: string } {
  const lines = text.split('\n');
  const records: string[] = [];
  const lineOf: number[] = [];
  const picks: Pick[] = [];
  let header: Extract<TraceRecord, { t: 'header' }> | null = null;
  /** The line before, for the check of a `noreturn` record. */
  let previous: string | null = null;
  /** The line of the `end` record: the last a trace has. */
  let endLine: number | null = null;
  /** How many `final` records so far: a run writes one per CPU, 0 to header.cpus − 1 in order, before its end. */
  let finals = 0;
  /** The last record's virtual time and its line: a run writes its records in time order. */
  let lastNs = 0;
  let lastNsLine = 0;
  /** Each message sent so far: its mode and its send record's line. */
  const sent = new Map<number, { mode: string; line: number }>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length === 0) continue;
    // Before the line is parsed: parsing a 200 MiB line takes gigabytes.
    if (line.length > MAX_TRACE_LINE) return { ok: false, error: `line ${i + 1} is longer than ${MAX_TRACE_LINE} characters (${line.length}): no record of a trace is` };
    if (endLine !== null) return { ok: false, error: `line ${i + 1}: a line after the end record (line ${endLine}); a trace ends with it` };
    let r: TraceRecord;
    try {
      r = JSON.parse(line) as TraceRecord;
    } catch {
      return { ok: false, error: `line ${i + 1} is not JSON` };
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof (r as { t?: unknown }).t !== 'string') {
      return { ok: false, error: `line ${i + 1} is not a trace record` };
    }
    const dup = duplicateKey(line);
    if (dup !== null) return { ok: false, error: `line ${i + 1}: duplicate key '${dup.path}'` };
    if (header === null) {
      if (r.t !== 'header') return { ok: false, error: 'the first line is not a trace header' };
      if (typeof r.v !== 'number' || !TRACE_VERSIONS.includes(r.v)) return { ok: false, error: `trace version ${shown(r.v)} (this shootdown reads ${TRACE_VERSIONS.join(' and ')}; it writes ${TRACE_VERSION})` };
      const problem = headerProblem(r as unknown as Record<string, unknown>);
      if (problem !== null) return { ok: false, error: `line ${i + 1}: ${problem}` };
      header = r;
    } else if (r.t === 'header') {
      return { ok: false, error: `line ${i + 1}: a second trace header (a trace has one, on its first line)` };
    } else {
      const problem = recordProblem(r as unknown as Record<string, unknown>, header.cpus);
      if (problem !== null) return { ok: false, error: `line ${i + 1}: ${problem}` };
      // The clock only moves forward (Agenda.now = max(now, the next item's time), src/sim/agenda.ts)
      // and every record is stamped with it when it is written: a time below the one before is a
      // trace no run wrote. The viewer's timeline finds a record by a binary search over the
      // times (src/viz/page/timeline.ts) and the Perfetto export's slices begin and end at them.
      if ('ns' in r) {
        if (r.ns < lastNs) return { ok: false, error: `line ${i + 1}: ns ${r.ns} is before ${lastNs}, the time of line ${lastNsLine} (a run writes its records in time order)` };
        lastNs = r.ns;
        lastNsLine = i + 1;
      }
      const unsent = messageProblem(r, i + 1, sent);
      if (unsent !== null) return { ok: false, error: `line ${i + 1}: ${unsent}` };
    }
    if (r.t === 'choice') {
      if (!Number.isInteger(r.pick) || !Number.isInteger(r.n) || r.pick < 0 || r.pick >= r.n) {
        return { ok: false, error: `line ${i + 1}: a choice of ${shown(r.pick)} among ${shown(r.n)}` };
      }
      picks.push({ kind: r.kind, n: r.n, pick: r.pick });
    }
    if (r.t === 'noreturn') {
      // The viewer marks it where it stands: it must stand just after the choice it names (after the header for none).
      const before = previous === null ? null : (JSON.parse(previous) as TraceRecord);
      const fits = r.choice === null ? before?.t === 'header' : before?.t === 'choice' && before.i === r.choice && r.step > r.choice;
      if (!fits) return { ok: false, error: `line ${i + 1}: a point of no return must follow ${r.choice === null ? 'the header' : `choice ${r.choice}`} (the line before it)` };
      previous = line;
      continue;
    }
    if (r.t === 'final') {
      // Simulation.finish writes CpuSlots.finals: CPU 0, 1, … of the machine the run had. A header
      // whose `cpus` is not the count of these names another machine than the one traced (a branch
      // or a replay of it would run that other machine).
      if (r.cpu !== finals) return { ok: false, error: `line ${i + 1}: final record of CPU ${r.cpu} where the run writes CPU ${finals}'s (one final record per CPU, from 0 in order)` };
      finals++;
    }
    if (r.t === 'end') {
      endLine = i + 1;
      if (finals !== header.cpus) return { ok: false, error: `line ${i + 1}: the run ends with the final records of ${finals} CPUs, but header.cpus says ${header.cpus} (a run writes one for each of its CPUs before its end record)` };
    }
    previous = line;
    records.push(line);
    lineOf.push(i + 1);
  }
  if (!header) return { ok: false, error: 'empty trace' };
  return {
    ok: true,
    trace: {
      version: header.v,
      seed: header.seed,
      mode: header.mode ?? 'timed',
      cpus: header.cpus,
      preset: header.preset,
      switches: header.switches,
      scenario: header.scenario,
      ...(header.scenarioDigest !== undefined ? { scenarioDigest: header.scenarioDigest } : {}),
      ...(header.branch ? { branch: { from: header.branch.from, decision: header.branch.decision, option: header.branch.option } } : {}),
      picks,
      records,
      lineOf,
    },
  };
}
