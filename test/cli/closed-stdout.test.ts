/**
 * A reader that closes the pipe early (`shootdown explore … | head`) is not an error of ours, but it
 * must not change the command's status: a search that found a violation exits 1 and one stopped at a
 * bound 3 whether or not anybody read its report (scripts read `${PIPESTATUS[0]}`). Found by fuzzing:
 * the EPIPE handler exited 0.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { builtCli, cli } from './built-cli.js';

const { dir } = builtCli('closed-stdout');

/** Run the command with its stdout closed by the reader before anything is read; its exit status. */
function withReaderGone(args: readonly string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.destroy();
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

describe('a closed stdout keeps the command status', () => {
  it('explore with a violation exits 1, stopped at a bound 3, a complete clean search 0', async () => {
    expect(await withReaderGone(['explore', 'R2', '--kernel', 'v5.10', '--no-pnr', '--out', dir])).toBe(1);
    expect(await withReaderGone(['explore', 'T5', '--kernel', 'mainline', '--max-states', '50', '--no-pnr', '--property', 'no-kernel-bug'])).toBe(3);
    expect(await withReaderGone(['explore', 'R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--no-pnr'])).toBe(0);
  });

  it('run exits with its own status too (0 here; 2 for bad input)', async () => {
    expect(await withReaderGone(['run', 'T5'])).toBe(0);
    expect(await withReaderGone(['run', 'T5', '--seed', 'x'])).toBe(2);
  });
});
