/**
 * Output files that never clobber what they should not and are never left half-written: the text
 * goes to a temporary file beside the target, which is renamed over the target when complete. The
 * target must be a regular file or not exist yet: a directory, a device node (`/dev/full`,
 * `/dev/sda`), a FIFO, a socket or a symbolic link is refused before any work is done. Temporary
 * files still open are removed when the process exits, and on SIGINT or SIGTERM (see
 * `removeTempFilesOnSignals`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Why an output file cannot be written; the message starts with what is wrong, not with the file. */
export class OutputFileError extends Error {
  override name = 'OutputFileError';
}

const live = new Set<string>();
/** Whether the entry point asked for cleanup on signals (`removeTempFilesOnSignals`). */
let onSignals = false;

const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const;
const handlers = SIGNALS.map(([signal, code]) => ({
  signal,
  handler: () => {
    removeTempFiles();
    process.exit(code);
  },
}));

/**
 * Registers (`open`) or forgets a temporary file to remove on SIGINT/SIGTERM. The signal handlers are
 * attached only while a temporary file exists: otherwise a signal does what
 * it always does (and a server's own handlers are left alone).
 */
export function track(temp: string, open: boolean): void {
  const before = live.size;
  if (open) live.add(temp);
  else live.delete(temp);
  if (!onSignals) return;
  if (before === 0 && live.size > 0) for (const h of handlers) process.on(h.signal, h.handler);
  if (before > 0 && live.size === 0) for (const h of handlers) process.off(h.signal, h.handler);
}

/** What is wrong with `target` as an output file, or null when it is a regular file or does not exist. */
export function outputTargetProblem(target: string): string | null {
  if (target === '') return 'an empty file name';
  if (target.endsWith('/') || target.endsWith(path.sep)) return 'names a directory';
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dir = path.dirname(target);
      try {
        if (!fs.statSync(dir).isDirectory()) return `${dir} is not a directory`;
      } catch {
        return `the directory ${dir} does not exist`;
      }
      return null;
    }
    if (code === 'ENOTDIR') return `${path.dirname(target)} is not a directory`;
    return (e as Error).message;
  }
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory';
  if (st.isSymbolicLink()) return 'is a symbolic link (name the file it points to)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a regular file';
  if (st.isFIFO()) return 'is a FIFO, not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

/**
 * Whether writing `target` would replace `input`: the same file by any name (`./` paths, `..`, hard or
 * symbolic links), found by device and inode. A target that does not exist yet is no input.
 */
export function isSameFile(target: string, input: string): boolean {
  try {
    const a = fs.statSync(target, { throwIfNoEntry: false });
    const b = a && fs.statSync(input, { throwIfNoEntry: false });
    return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
  } catch {
    // Unreadable (ENOTDIR, EACCES, a loop): the target's own check or the input's read says why.
    return false;
  }
}

function tempName(target: string): string {
  const dir = path.dirname(target);
  const random = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${random}.partial`);
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    case 'EDQUOT':
      return 'disk quota exceeded';
    default:
      return err.message;
  }
}

/**
 * An output file being written. The constructor checks the target and creates the temporary file,
 * so a bad target is found before the work that would fill it; `close()` puts the file in place,
 * `abort()` drops it. Failures throw `OutputFileError` after removing the temporary file.
 */
export class OutputFile {
  readonly temp: string;
  private fd: number | null;

  constructor(readonly target: string) {
    const problem = outputTargetProblem(target);
    if (problem !== null) throw new OutputFileError(problem);
    this.temp = tempName(target);
    try {
      this.fd = fs.openSync(this.temp, 'wx', 0o644);
    } catch (e) {
      throw new OutputFileError(reason(e));
    }
    track(this.temp, true);
  }

  write(text: string): void {
    if (this.fd === null) return;
    try {
      // writeFileSync on a descriptor loops until every byte is out; writeSync may write part of it
      // (a full disk) and say so only in its return value.
      fs.writeFileSync(this.fd, text);
    } catch (e) {
      this.abort();
      throw new OutputFileError(reason(e));
    }
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fs.closeSync(this.fd);
      this.fd = null;
      // The target may have changed while the file was written.
      const problem = outputTargetProblem(this.target);
      if (problem !== null) throw new OutputFileError(problem);
      // A file replaced keeps its mode and owner: the new one must not open up (or take over) what was there.
      const old = fs.lstatSync(this.target, { throwIfNoEntry: false });
      if (old?.isFile()) {
        fs.chmodSync(this.temp, old.mode & 0o7777);
        try {
          fs.chownSync(this.temp, old.uid, old.gid);
        } catch {
          // Not root: the file stays the runner's own, as any file it writes.
        }
      }
      fs.renameSync(this.temp, this.target);
      track(this.temp, false);
    } catch (e) {
      this.abort();
      throw e instanceof OutputFileError ? e : new OutputFileError(reason(e));
    }
  }

  abort(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Already unusable: the file is removed all the same.
      }
    }
    this.fd = null;
    fs.rmSync(this.temp, { force: true });
    track(this.temp, false);
  }
}

/** Remove every temporary file still open (synchronously: it runs in exit and signal handlers). */
export function removeTempFiles(): void {
  for (const f of live) {
    try {
      fs.rmSync(f, { force: true });
    } catch {
      // Nothing more can be done while exiting.
    }
  }
  live.clear();
}

/**
 * For a command-line entry point: on exit remove the temporary files still open, and on SIGINT or
 * SIGTERM while one is open remove them and exit with 128 + the signal number (130, 143), as the
 * shell reports a process killed by that signal. JavaScript signal handlers run only when the event
 * loop turns: a long computation must yield now and then (`runScenarioInSlices` does).
 */
export function removeTempFilesOnSignals(): void {
  if (onSignals) return;
  onSignals = true;
  process.on('exit', removeTempFiles);
  if (live.size > 0) for (const h of handlers) process.on(h.signal, h.handler);
}
