/**
 * Reading a file the user named (a scenario, a trace to replay, view or export): only a regular file,
 * and never more than MAX_INPUT_BYTES, checked before the bytes are read — `shootdown run /dev/zero`
 * must be a clear error, not a process growing until the machine swaps. The sizes each kind of input
 * may then have (a scenario's 16 MiB, a trace line's 1 MiB) are checked by their readers.
 */
import * as fs from 'node:fs';

/** The largest input file read at all: a trace of a 100,000-step run of thousands of CPUs is ~30 MB. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

const KIND: [(s: fs.Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
  [(s) => s.isFIFO(), 'a FIFO'],
  [(s) => s.isSocket(), 'a socket'],
];

/** The file's text; throws an Error whose message says what is wrong (its `code` is kept for ENOENT). */
export function readInputFile(file: string, max = MAX_INPUT_BYTES): string {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = KIND.find(([is]) => is(st))?.[1] ?? 'not a regular file';
      throw Object.assign(new Error(`is ${kind}, not a regular file`), { code: st.isDirectory() ? 'EISDIR' : 'ENOTREG' });
    }
    if (st.size > max) throw new Error(`is ${mib(st.size)}, over the ${mib(max)} an input file may have`);
    // Read what is there into one buffer of the size fstat gave (one byte more, to see growth), and
    // stop past the limit: the file may grow while it is read. One buffer, not chunks and their
    // concatenation: a 200 MiB trace held three copies at once before its text was made.
    let buf = Buffer.allocUnsafe(Math.min(max, st.size) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > max) throw new Error(`grew past the ${mib(max)} an input file may have while it was read`);
        const bigger = Buffer.allocUnsafe(Math.min(max + 1, Math.max(buf.length * 2, 1 << 20)));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const n = fs.readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
    }
    if (total > max) throw new Error(`grew past the ${mib(max)} an input file may have while it was read`);
    return buf.toString('utf8', 0, total);
  } finally {
    fs.closeSync(fd);
  }
}

const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
