/**
 * A run's trace lines kept up to a size: once past `max` characters (newlines counted) the lines
 * are let go and no more are kept, so that the caller can stop the run and refuse it (the viewer's
 * run of a scenario, a what-if branch) without holding more than the limit.
 */
import { formatRecord, type TraceRecord } from '../trace/records.js';

export interface BoundedLines {
  readonly lines: string[];
  onRecord(r: TraceRecord): void;
  /** Whether the trace passed the limit (its lines are then gone). */
  over(): boolean;
}

export function boundedLines(max: number): BoundedLines {
  const lines: string[] = [];
  let size = 0;
  return {
    lines,
    onRecord(r) {
      if (size > max) return;
      const line = formatRecord(r);
      size += line.length + 1;
      if (size > max) lines.length = 0;
      else lines.push(line);
    },
    over: () => size > max,
  };
}
