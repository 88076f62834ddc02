/**
 * A trace file given by a user is untrusted input. A run writes its records in virtual-time order:
 * no record's `ns` is below the one before it's. A trace whose `ns` goes back was not written by a
 * run; every command that reads one (export-trace in each format, view, run --replay) refuses it
 * as bad input, through the built command as a process: exit 2, one line on stderr naming the file,
 * the line and both times, nothing on stdout, no output directory.
 */
import { describe, expect, it } from 'vitest';
import { edited, traceProcess } from './trace-process.js';

const { traceOf, write, readers, expectRefused, expectRead } = traceProcess('trace-order');

const nsOf = (line: string): number | undefined => (JSON.parse(line) as { ns?: number }).ns;

/** The first record with an `ns` after a record whose `ns` is above 0 (so that it can be set below that one's). */
function firstAfterTime(lines: string[]): number {
  let last: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const ns = nsOf(lines[i] as string);
    if (ns === undefined) continue;
    if (last !== undefined && last > 0) return i;
    last = ns;
  }
  throw new Error('no record after a time above 0');
}

/** The last `ns` on a line before `i`. */
function nsBefore(lines: string[], i: number): number {
  for (let k = i - 1; k > 0; k--) {
    const ns = nsOf(lines[k] as string);
    if (ns !== undefined) return ns;
  }
  throw new Error('no ns before');
}

// Every reader on one trace; two of them (the export and the replay) on the others, to keep the
// suite's processes few (each case is a process per reader).
const two = readers.filter(([what]) => what === 'export-trace --format json' || what === 'run --replay');

describe.each([
  ['T5', [], readers],
  ['T9', [], two],
  ['R2', ['--kernel', 'v5.10', '--seed', '3'], two],
] as const)('a trace of %s %s whose ns goes back', (scenario, extra, readers) => {
  const lines = traceOf(scenario, extra);
  // Early in the run and at its last record with a time (the end record).
  const early = firstAfterTime(lines);
  const last = lines.length - 1;
  expect(JSON.parse(lines[last] as string)).toMatchObject({ t: 'end' });

  it.each(readers)('the untouched trace is read by %s (exit 0)', (_what, args) => {
    expectRead(args(write('good.jsonl', lines)));
  });

  it.each(readers)('%s: exit 2 naming the line and both times, nothing written', (_what, args) => {
    for (const i of [early, last]) {
      const before = nsBefore(lines, i);
      const file = write('back.jsonl', edited(lines, i, (r) => (r.ns = before - 1)));
      expectRefused(args(file), `back.jsonl: line ${i + 1}: ns ${before - 1} is before ${before}`);
    }
  });
});
