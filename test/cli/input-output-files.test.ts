/**
 * Files the user names, both ways: an input is read only if it is a regular file under the size limit
 * (`run /dev/zero` used to grow until the machine swapped), and an output is complete or absent
 * (a trace cut short by a full disk used to be renamed into place with exit 0).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, nodeIo, type CliIo } from '../../src/cli/main.js';
import { readInputFile } from '../../src/cli/input-file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-files-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function io(): { cli: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { cli: { ...nodeIo, isTty: false, stdout: (t) => void (out += t), stderr: (t) => void (err += t) }, out: () => out, err: () => err };
}

describe('an input file is read only if it is a regular file under the limit', () => {
  const fifo = path.join(dir, 'fifo');
  beforeAll(() => execFileSync('mkfifo', [fifo]));

  it.each([
    ['run /dev/zero', ['run', '/dev/zero'], /\/dev\/zero: is a character device, not a regular file/],
    ['export-trace /dev/zero', ['export-trace', '/dev/zero'], /\/dev\/zero: is a character device, not a regular file/],
    ['view /dev/zero --out', ['view', '/dev/zero', '--out', path.join(dir, 'site')], /\/dev\/zero: is a character device/],
    ['run --replay FIFO', ['run', '--replay', fifo], /is a FIFO, not a regular file/],
    ['run DIRECTORY', ['run', dir], /is a directory/],
  ])('%s: exit 2 at once, nothing read, nothing written', async (_what, argv, message) => {
    const t = io();
    expect(await main(argv, t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.out()).toBe('');
    expect(fs.existsSync(path.join(dir, 'site'))).toBe(false);
  });

  it('a file over the limit is refused by its size, before its bytes are read', () => {
    const big = path.join(dir, 'big.json');
    const fd = fs.openSync(big, 'w');
    fs.ftruncateSync(fd, 5000); // sparse: no bytes written, the size is what counts
    fs.closeSync(fd);
    expect(() => readInputFile(big, 4096)).toThrow(/is 0\.0 MiB, over the 0\.0 MiB an input file may have|over the/);
    expect(readInputFile(big, 8192).length).toBe(5000);
  });
});

describe('an output file replaced keeps what the user set on it', () => {
  it('run --trace over an existing 0600 file: the new trace is 0600 too', async () => {
    const target = path.join(dir, 'private.jsonl');
    fs.writeFileSync(target, 'old\n', { mode: 0o600 });
    fs.chmodSync(target, 0o600);
    const t = io();
    expect(await main(['run', 'T1', '--trace', target], t.cli)).toBe(0);
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(target, 'utf8')).toMatch(/^\{"t":"header"/);
  });
});

/** A 64 KiB tmpfs, where root may mount one; elsewhere the short-write case cannot be made and is skipped. */
function smallDisk(): string | null {
  const at = path.join(dir, 'small');
  fs.mkdirSync(at);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', at], { stdio: 'ignore' });
    return at;
  } catch {
    return null;
  }
}

/** Fills the disk at `at`, then frees `free` bytes: the next write larger than that runs out of space. */
function fillBut(at: string, free: number): string {
  const filler = path.join(at, 'filler');
  const fd = fs.openSync(filler, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch {
    // ENOSPC: full.
  }
  fs.ftruncateSync(fd, Math.max(0, fs.fstatSync(fd).size - free));
  fs.closeSync(fd);
  return filler;
}

describe('an output cut short by a full disk is an error, and leaves nothing', () => {
  const small = smallDisk();
  afterAll(() => {
    if (small) execFileSync('umount', [small]);
  });

  it.skipIf(small === null)('run --trace on a full disk: exit 2 naming it, no trace and no temp file left', async () => {
    const filler = fillBut(small as string, 8192);
    const t = io();
    const target = path.join(small as string, 't.jsonl');
    expect(await main(['run', 'T1', '--trace', target], t.cli)).toBe(2);
    expect(t.err()).toMatch(/no space left on the device/);
    expect(fs.readdirSync(small as string)).toEqual(['filler']);
    fs.rmSync(filler);
  });

  it.skipIf(small === null)('explore --out on a full disk: exit 2 naming it, no cut-short counterexample, no temp file', async () => {
    const filler = fillBut(small as string, 8192);
    const t = io();
    const out = path.join(small as string, 'ex');
    expect(await main(['explore', 'R2', '--kernel', 'v5.11', '--out', out, '--json'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/no space left on the device/);
    for (const f of fs.existsSync(out) ? fs.readdirSync(out) : []) {
      // Whatever is there is a whole trace that replays: no file was renamed into place cut short.
      expect(f.endsWith('.partial')).toBe(false);
      const r = io();
      expect(await main(['run', '--replay', path.join(out, f)], r.cli)).toBe(0);
    }
    fs.rmSync(filler);
  });
});
