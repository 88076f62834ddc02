/**
 * The CLI's I/O in memory for tests: stdout and stderr collected, files read from `files` first,
 * then from disk; trace files written for real.
 */
import * as fs from 'node:fs';
import type { CliIo } from '../../src/cli/main.js';
import { TraceFileWriter } from '../../src/trace/file.js';

export function memoryIo(files: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readFile: (f) => (f in files ? (files[f] as string) : fs.readFileSync(f, 'utf8')),
    fs: { open: (f) => new TraceFileWriter(f) },
  };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}
