/**
 * A checker for the Chrome Trace Event Format (the JSON Object Format that chrome://tracing and
 * ui.perfetto.dev read; "Trace Event Format", Google, the document linked from the Catapult
 * project), for the phases an export may use. It returns every rule broken, each naming the event.
 *
 * - the file is an object with a `traceEvents` array; `displayTimeUnit` is "ms" or "ns";
 * - every event has a known `ph`, integer `pid` and `tid`; all but metadata a finite `ts` ≥ 0 (µs);
 * - per track (pid, tid), in file order, `ts` never goes back;
 * - B/E nest per track: an E closes the innermost open B (same name when it has one), and nothing
 *   is left open at the end; X has a `dur` ≥ 0;
 * - instants have scope g, p or t;
 * - flows: each id has one `s` and one `f`, the same `cat` and `name`, `f` not
 *   before `s`; each end lies inside an open slice of its track (a flow binds to a slice: the
 *   enclosing one for `s`, and for `f` with `bp: "e"`); `bp` is "e" when present;
 * - metadata: `process_name`/`thread_name` carry `args.name`, sort indexes `args.sort_index`; every
 *   track with events has a thread name and every process a process name.
 */
const PHASES = new Set(['B', 'E', 'X', 'i', 'I', 'C', 'b', 'n', 'e', 's', 't', 'f', 'P', 'N', 'O', 'D', 'M', 'V', 'v', 'R', 'c', '(', ')']);
const METADATA = new Set(['process_name', 'process_labels', 'process_sort_index', 'thread_name', 'thread_sort_index']);

type Event = Record<string, unknown>;

export interface FormatReport {
  errors: string[];
  /** Events per phase, for tests that want to see something was checked. */
  phases: Record<string, number>;
}

export function checkTraceEvents(json: unknown): FormatReport {
  const errors: string[] = [];
  const phases: Record<string, number> = {};
  const fail = (i: number, what: string) => {
    if (errors.length < 50) errors.push(`event ${i}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { traceEvents?: unknown }).traceEvents)) {
    return { errors: ['not an object with a traceEvents array'], phases };
  }
  const root = json as { traceEvents: unknown[]; displayTimeUnit?: unknown };
  if (root.displayTimeUnit !== undefined && root.displayTimeUnit !== 'ms' && root.displayTimeUnit !== 'ns') errors.push(`displayTimeUnit ${String(root.displayTimeUnit)}`);
  const lastTs = new Map<string, number>();
  const open = new Map<string, string[]>();
  const flows = new Map<string, { s?: { i: number; ts: number; cat: unknown; name: unknown }; f?: { i: number; ts: number; cat: unknown; name: unknown } }>();
  const threadNames = new Set<string>();
  const processNames = new Set<number>();
  const used = new Set<string>();
  root.traceEvents.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) return fail(i, 'not an object');
    const e = raw as Event;
    const ph = e.ph;
    if (typeof ph !== 'string' || !PHASES.has(ph)) return fail(i, `unknown ph ${JSON.stringify(ph)}`);
    phases[ph] = (phases[ph] ?? 0) + 1;
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) return fail(i, 'pid and tid must be integers');
    const track = `${e.pid as number}/${e.tid as number}`;
    if (ph === 'M') {
      if (typeof e.name !== 'string' || !METADATA.has(e.name)) return fail(i, `unknown metadata ${JSON.stringify(e.name)}`);
      const args = e.args as Record<string, unknown> | undefined;
      if (e.name.endsWith('_name') && typeof args?.name !== 'string') return fail(i, `${e.name} without args.name`);
      if (e.name.endsWith('_sort_index') && !Number.isInteger(args?.sort_index)) return fail(i, `${e.name} without integer args.sort_index`);
      if (e.name === 'thread_name') threadNames.add(track);
      if (e.name === 'process_name') processNames.add(e.pid as number);
      return;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) return fail(i, `ts ${JSON.stringify(e.ts)}`);
    const ts = e.ts;
    const global = ph === 'i' && e.s === 'g';
    if (!global) used.add(track);
    if (!global) {
      const last = lastTs.get(track) ?? 0;
      if (ts < last) fail(i, `ts ${ts} goes back on track ${track} (was ${last})`);
      lastTs.set(track, Math.max(last, ts));
    }
    const stack = open.get(track) ?? [];
    open.set(track, stack);
    switch (ph) {
      case 'B':
        if (typeof e.name !== 'string') fail(i, 'B without a name');
        stack.push(String(e.name));
        break;
      case 'E': {
        const top = stack.pop();
        if (top === undefined) fail(i, `E with nothing open on track ${track}`);
        else if (e.name !== undefined && e.name !== top) fail(i, `E "${String(e.name)}" closes "${top}" on track ${track}`);
        break;
      }
      case 'X':
        if (typeof e.dur !== 'number' || e.dur < 0) fail(i, 'X without dur ≥ 0');
        break;
      case 'i':
      case 'I':
        if (e.s !== undefined && e.s !== 'g' && e.s !== 'p' && e.s !== 't') fail(i, `instant scope ${JSON.stringify(e.s)}`);
        if (typeof e.name !== 'string') fail(i, 'instant without a name');
        break;
      case 's':
      case 'f': {
        if (e.id === undefined) return fail(i, `flow ${ph} without id`);
        if (ph === 'f' && e.bp !== undefined && e.bp !== 'e') fail(i, `flow bp ${JSON.stringify(e.bp)}`);
        // s binds to the enclosing slice; f with bp "e" too (without it, to the next slice: not used here).
        if (stack.length === 0) fail(i, `flow ${ph} ${String(e.id)} outside any slice on track ${track}`);
        if (ph === 'f' && e.bp !== 'e') fail(i, `flow f ${String(e.id)} without bp "e"`);
        // Ids are matched alone, so one id never serves two flows of different categories.
        const key = String(e.id);
        const flow = flows.get(key) ?? {};
        if (flow[ph]) fail(i, `second flow ${ph} with id ${String(e.id)}`);
        flow[ph] = { i, ts, cat: e.cat, name: e.name };
        flows.set(key, flow);
        break;
      }
      default:
        break;
    }
  });
  for (const [track, stack] of open) if (stack.length > 0) errors.push(`track ${track}: ${stack.join(' > ')} left open`);
  for (const [id, f] of flows) {
    if (!f.s || !f.f) errors.push(`flow ${id}: ${f.s ? 'no f' : 'no s'}`);
    else {
      if (f.f.ts < f.s.ts) errors.push(`flow ${id}: f at ${f.f.ts} before s at ${f.s.ts}`);
      if (f.f.name !== f.s.name || f.f.cat !== f.s.cat) errors.push(`flow ${id}: s "${String(f.s.cat)}/${String(f.s.name)}", f "${String(f.f.cat)}/${String(f.f.name)}"`);
    }
  }
  for (const track of used) {
    if (!threadNames.has(track)) errors.push(`track ${track} has no thread_name`);
    const pid = Number(track.split('/')[0]);
    if (!processNames.has(pid)) errors.push(`process ${pid} has no process_name`);
  }
  return { errors, phases };
}
