/** The viewer's site as values: what it is built from and the files it serves. Its own module so the what-if
 *  server (branch-server.ts) can name them without importing site.ts, which imports it. */
import type { BranchBase } from '../sim/branch.js';
import type { Violation } from './trace-model.js';

export interface SiteInput {
  /** The trace as JSON lines. */
  trace: string;
  /** What the title bar says the trace is. */
  source: string;
  /** Properties that failed; computed from the trace when not given. */
  violations?: Violation[];
  /** The run the trace comes from, for what-if branches on the server (found from the trace's header when not given). */
  base?: BranchBase;
}

export interface SiteFile {
  type: string;
  body: string | Buffer;
}

export type Site = Map<string, SiteFile>;
