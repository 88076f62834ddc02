/**
 * What the viewer plays: a trace read into indexes that answer "what was every CPU's configuration
 * at record i" and "which messages cross the screen here" in O(log n), so a 100,000-step trace
 * scrubs without re-reading it. Pure TypeScript (no DOM, no Node): the page bundles it and the
 * tests run it in Node.
 *
 * A CPU's configuration is looked up in the records, never inferred. The chart's parallel state `os`
 * has one region per execution context; from trace version 2 on, each step, deliver, timer and
 * (done) script record names in `leaves` every leaf it made active — each takes the place of its
 * region's leaf, and a leaf outside `os` (wait-for-SIPI, the crash kernel) the place of them all —
 * and in `to` the leaf of the context on top after it. Every CPU starts in the chart's initial
 * configuration, with the task context on top.
 *
 * A guest-side actor (a vCPU, its VMM thread, a vhost-vsock device) has a chart with no parallel
 * state: its one leaf starts at the chart's initial state; each `gstep` names the leaf after it, and
 * `guestLeaves` on a record the leaves of the vCPUs and VMM threads it moved otherwise.
 *
 * A version 1 trace names only the leaf on top: its model has no states (`hasLeaves` false), and
 * the page says so rather than guess.
 *
 * The model is in four files, re-exported here: trace-vocabulary.ts (record kinds, guest actors, the values the
 * model answers with), slot-history.ts (one slot's changes), trace-builder.ts (reading records, bounded) and
 * trace-index.ts (the queries).
 */
export { describeRecord, messageName } from '../trace/describe-record.js';
export {
  DEFAULT_STOPS,
  GUEST_ACTORS,
  GUEST_CHART_KIND,
  NO_LEAVES,
  RECORD_KINDS,
  formatNs,
  guestId,
  initialLeaf,
  kindCode,
  messageClass,
  parseGuestKey,
  upperBound,
  type CpuAt,
  type Delivery,
  type GuestActor,
  type GuestAt,
  type GuestCharts,
  type GuestId,
  type Header,
  type Mark,
  type MarkKind,
  type RecordKind,
  type Violation,
} from './trace-vocabulary.js';
export { TraceModel } from './trace-index.js';
export { TraceModelBuilder, traceModel } from './trace-builder.js';
