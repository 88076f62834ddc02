/**
 * A trace as a mermaid `sequenceDiagram` (a participant per CPU that sends or receives, one arrow
 * per delivery in delivery order, notes for console lines, faults, kernel events and scripted
 * actions) or as one JSON object (the records, the messages paired send → delivery, the marks).
 */
import type { TraceRecord } from '../trace/records.js';
import { type Delivery, type Mark, type TraceModel } from './trace-model.js';
import { messageLabel } from '../hw/vectors.js';
import { JsonSequence, jsonPieces } from './json-pieces.js';

/**
 * Mermaid sequence text, drawn as written: `;` ends a statement, `#` starts a comment or an entity
 * code, `<br>` breaks the line and `&…;` is read as an HTML entity; each is written as mermaid's
 * numeric entity code (`#35;` is drawn as `#`). Line breaks and tabs become spaces (a line break
 * would end the statement).
 */
export function seqText(text: string): string {
  return (
    text
      .replace(/[\r\n\t]+/g, ' ')
      .trim()
      .replace(/[#;<>&]/g, (c) => `#${c.charCodeAt(0)};`)
      // Other control characters (an escape sequence in a console line) as their visible symbols
      // (U+2400…): they cannot be drawn, and must not reach a terminal that prints the export.
      .replace(/[\u0000-\u001f\u007f]/g, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)))
  );
}

const participant = (who: number | 'platform') => (who === 'platform' ? 'platform' : `CPU${who}`);

export function traceToMermaidSequence(model: TraceModel): string {
  const involved = new Set<number | 'platform'>();
  for (const d of model.deliveries) {
    if (d.cpu >= 0) involved.add(d.cpu);
    involved.add(d.from);
  }
  for (const m of model.marks) if (m.cpu >= 0) involved.add(m.cpu);
  const order = [...involved].sort((a, b) => (a === 'platform' ? -1 : b === 'platform' ? 1 : a - b));
  const lines = ['sequenceDiagram'];
  for (const p of order) lines.push(`  participant ${participant(p)}`);
  type Event = { at: number; line: string };
  const events: Event[] = [];
  const arrow = (d: Delivery): string => {
    // Solid arrow: delivered; dotted async: held pending or latched; cross: dropped.
    const kind = d.status === 'delivered' ? '->>' : d.status === 'dropped' ? '-x' : '--)';
    // Named as `shootdown run` names the send: `REBOOT_VECTOR (0xf8)`.
    const what = `${messageLabel(d.mode, d.vector)} (msg ${d.msg})${d.status === 'delivered' ? '' : ` ${d.status}${d.reason ? `: ${d.reason}` : ''}`}`;
    return `  ${participant(d.from)}${kind}${d.cpu >= 0 ? participant(d.cpu) : participant(d.from)}: ${seqText(what)}`;
  };
  for (const d of model.deliveries) events.push({ at: d.at >= 0 ? d.at : model.count, line: arrow(d) });
  const note = (m: Mark): string | null => {
    if (m.kind === 'violation') return null;
    const who = m.cpu >= 0 ? participant(m.cpu) : null;
    if (!who) return null;
    const prefix = m.kind === 'bug' ? 'BUG ' : m.kind === 'fault' ? 'fault ' : '';
    return `  Note over ${who}: ${seqText(prefix + m.text)}`;
  };
  for (const m of model.marks) {
    const line = note(m);
    if (line) events.push({ at: m.at, line });
  }
  events.sort((a, b) => a.at - b.at);
  for (const e of events) lines.push(e.line);
  if (model.violations.length > 0 && order[0] !== undefined) {
    lines.push(`  Note over ${participant(order[0])}: ${seqText(`violated: ${model.violations.map((v) => v.property).join(', ')}`)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The JSON export as a document whose messages and records are made one at a time as they are written
 * (`jsonPieces`): the export of a 250 MiB trace is longer than the longest string V8 makes.
 */
export function traceJsonDoc(model: TraceModel): Record<string, unknown> {
  return {
    header: model.header,
    steps: model.steps,
    // 1-based trace lines, as the viewer's #step= and the CLI's replay messages count them.
    messages: new JsonSequence(function* () {
      for (const d of model.deliveries) yield { ...d, sendLine: d.sendAt >= 0 ? d.sendAt + 1 : null, line: d.at >= 0 ? d.at + 1 : null };
    }),
    marks: new JsonSequence(function* () {
      for (const m of model.marks) yield { ...m, line: m.at + 1 };
    }),
    violations: model.violations,
    records: new JsonSequence(function* () {
      for (const l of model.lines) yield JSON.parse(l) as TraceRecord;
    }),
  };
}

/** The JSON export as one string (a trace small enough for one). */
export function traceToJson(model: TraceModel): string {
  return [...jsonPieces(traceJsonDoc(model), 1)].join('') + '\n';
}
