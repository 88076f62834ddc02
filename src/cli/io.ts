/** What the command line reads and writes through: `main()` takes it as an argument, so tests drive exactly what a
 *  user runs. Its own module so the commands `main` loads can name it without importing `main`. */
import type { TraceFileWriter } from '../trace/file.js';

export interface CliIo {
  /** Whether progress lines can be drawn (stderr is a terminal). */
  isTty?: boolean;
  stdout(text: string): void;
  /**
   * Null when stdout takes more now; else a promise that resolves once what was written has gone out
   * (a pipe's reader caught up): a long run waits on it every few steps, so its memory stays bounded
   * on a slow pipe.
   */
  stdoutBusy?(): Promise<void> | null;
  stderr(text: string): void;
  readFile(file: string): string;
  fs: { open(file: string): TraceFileWriter };
}

/** What `explore` (and `explore merge`) read and write through. */
export interface ExploreIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(file: string): string;
  /** Whether stderr is a terminal: progress is one line redrawn in place; else a line every few seconds. */
  isTty: boolean;
  /** Milliseconds between progress lines when stderr is not a terminal (default 5000; tests set 0). */
  progressMs?: number;
}
