/**
 * The interconnect in a trace file given by a user: a run writes a message's `send` record (with its
 * number, unique in the run) before any `deliver` record of it, and every delivery has the mode it
 * was sent with (src/sim/simulation.ts sendMessage, src/sim/cpu-slots.ts receive). A delivery of a
 * message no earlier record sent was drawn from a sender the exporter made up ("platform->>CPU1");
 * now every reader refuses such a trace, as the built command run as a process shows: exit 2, one
 * line naming the line and the message, nothing on stdout, no output directory.
 */
import { describe, expect, it } from 'vitest';
import { edited, traceProcess } from './trace-process.js';

const { traceOf, write, readers, expectRefused, expectRead } = traceProcess('trace-messages');

type Rec = { t: string; msg?: number; mode?: string; from?: unknown };
const recs = (lines: string[]): Rec[] => lines.map((l) => JSON.parse(l) as Rec);

// Every reader on one trace; two of them (the export and the replay) on the others, to keep the
// suite's processes few (each case is a process per reader).
const two = readers.filter(([what]) => what === 'export-trace --format json' || what === 'run --replay');

describe.each([
  ['T5', [], readers],
  ['T4', [], two],
  ['T-L2', ['--kernel', 'v6.6'], two],
] as const)('a trace of %s %s whose messages do not add up', (scenario, extra, readers) => {
  const lines = traceOf(scenario, extra);
  const all = recs(lines);
  const firstDeliver = all.findIndex((r) => r.t === 'deliver');
  const sendOf = (msg: number) => all.findIndex((r) => r.t === 'send' && r.msg === msg);
  const msg = all[firstDeliver]?.msg as number;
  const unused = Math.max(...all.filter((r) => r.t === 'send').map((r) => r.msg as number)) + 1;
  const secondSend = all.findIndex((r, i) => r.t === 'send' && i > sendOf(msg));

  it('the trace has a delivery and two sends', () => {
    expect(firstDeliver).toBeGreaterThan(0);
    expect(secondSend).toBeGreaterThan(sendOf(msg));
  });

  it.each(readers)('the untouched trace is read by %s', (_what, args) => expectRead(args(write('good.jsonl', lines))));

  it.each(readers)('%s: a delivery of a message never sent', (_what, args) => {
    const file = write('unsent.jsonl', edited(lines, firstDeliver, (r) => (r.msg = unused)));
    expectRefused(args(file), `unsent.jsonl: line ${firstDeliver + 1}: a delivery of message ${unused}, which no earlier record sent`);
  });

  it.each(readers)('%s: a delivery before its send', (_what, args) => {
    // The send record moved after the delivery.
    const out = [...lines];
    const [send] = out.splice(sendOf(msg), 1);
    out.splice(firstDeliver, 0, send as string);
    const file = write('early.jsonl', out);
    expectRefused(args(file), `early.jsonl: line ${firstDeliver}: a delivery of message ${msg}, which no earlier record sent`);
  });

  it.each(readers)('%s: a delivery in another mode than its send', (_what, args) => {
    const sent = all[sendOf(msg)]?.mode as string;
    const other = sent === 'init' ? 'sipi' : 'init';
    const file = write('mode.jsonl', edited(lines, firstDeliver, (r) => (r.mode = other)));
    expectRefused(args(file), `mode.jsonl: line ${firstDeliver + 1}: message ${msg} was sent as ${sent} (line ${sendOf(msg) + 1}), delivered as ${other}`);
  });

  it.each(readers)('%s: a message number sent twice', (_what, args) => {
    const file = write('twice.jsonl', edited(lines, secondSend, (r) => (r.msg = msg)));
    expectRefused(args(file), `twice.jsonl: line ${secondSend + 1}: message ${msg} is sent again (first on line ${sendOf(msg) + 1}); a run numbers each message once`);
  });
});
