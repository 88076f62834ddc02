/**
 * Runs the command line in-process on generated input and checks what a user of a root-run tool
 * is owed whatever the input: `main()` returns (never throws), the exit status is one the command
 * documents, a bad-input exit writes nothing on stdout, an error is short lines with no stack, and
 * nothing that reaches the terminal carries a control character other than newline.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { main, nodeIo, type CliIo } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Control characters a terminal acts on: C0 except newline and tab, DEL, and the C1 range (CSI, OSC as one byte). */
// eslint-disable-next-line no-control-regex
export const TERMINAL_CONTROL = /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/;

/** `main(argv)` with the named files served from memory; every other path is the real file system. */
export async function runCli(argv: string[], files: Record<string, string> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    ...nodeIo,
    isTty: false,
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    readFile: (f) => (Object.hasOwn(files, f) ? (files[f] as string) : nodeIo.readFile(f)),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** The checks every run of the CLI must pass, for the exit statuses this command may give. */
export function expectWellBehaved(r: CliResult, allowed: readonly number[], what: string): void {
  const context = `${what}\nexit ${r.code}\nstderr: ${JSON.stringify(r.stderr.slice(0, 2000))}`;
  expect(allowed, context).toContain(r.code);
  expect(r.stderr, context).not.toMatch(/internal error|\n\s+at .+:\d+:\d+/);
  expect(TERMINAL_CONTROL.test(r.stderr), `${context}\n(control character on stderr)`).toBe(false);
  expect(TERMINAL_CONTROL.test(r.stdout), `${context}\n(control character on stdout: ${JSON.stringify(r.stdout.match(TERMINAL_CONTROL))})`).toBe(false);
  for (const line of r.stderr.split('\n')) expect(line.length, `${context}\n(an error line of ${line.length} characters)`).toBeLessThanOrEqual(1000);
  if (r.code === 2) {
    expect(r.stdout, `${context}\n(bad input, yet output on stdout)`).toBe('');
    expect(r.stderr, context).toMatch(/^shootdown: \S/);
  }
}

/** A fresh directory under the system's temporary folder, removed by the caller. */
export function scratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `shootdown-fuzz-${prefix}-`));
}

/** Names of the entries in `dir` (to check that a failed command left nothing half-written). */
export const entries = (dir: string): string[] => fs.readdirSync(dir).sort();
