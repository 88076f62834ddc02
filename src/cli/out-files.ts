/**
 * The files `explore` writes into its `--out` directory (counterexample traces; from `explore merge`, a
 * copy of the scenario file beside them), all or none: every target is checked before the first is
 * written; each is written to a temporary file created new in its directory (never through an existing
 * name or link), and only when all are complete are they renamed over their names (which replaces a link
 * rather than following it). A failure on the way removes what the run wrote: its temporary files, the
 * files it put at names that were free, the directories it made. So exit 2 leaves nothing behind.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { track } from './output-file.js';
import { InputError } from './scenario-args.js';

/**
 * A scenario id as the start of an output file's name: at most `maxBytes` bytes of UTF-8 (whole
 * characters), so that the name with what follows it stays under the 255 bytes a file name may have.
 */
export function idForFileName(id: string, maxBytes = 120): string {
  let out = '';
  let bytes = 0;
  for (const ch of id) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** A file to write: `name` in `dir` (made if missing). */
export interface OutFile {
  dir: string;
  name: string;
  text: string;
}

/** What is wrong with writing `f`, or null: its directory must be one (or not exist yet), its name free or a regular file or link. */
function targetProblem(f: OutFile): string | null {
  let dir: fs.Stats | undefined;
  try {
    dir = fs.statSync(f.dir, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return `--out: '${f.dir}' is under a file, not a directory`;
    return `--out: cannot use '${f.dir}': ${(e as Error).message}`;
  }
  if (dir === undefined) return null;
  if (!dir.isDirectory()) return `--out: '${f.dir}' exists and is not a directory`;
  const file = path.join(f.dir, f.name);
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(file, { throwIfNoEntry: false });
  } catch (e) {
    return `--out: cannot write '${file}': ${(e as Error).message}`;
  }
  if (existing && !existing.isFile() && !existing.isSymbolicLink()) return `--out: '${file}' exists and is not a regular file`;
  return null;
}

/** Throws the first problem of any of `files` (InputError, exit 2): called before work whose result they would hold. */
export function checkOutFiles(files: readonly OutFile[]): void {
  for (const f of files) {
    const problem = targetProblem(f);
    if (problem !== null) throw new InputError(problem);
  }
}

/** Makes `dir` and its missing ancestors; adds those it made to `made`, outermost first. */
function makeDir(dir: string, made: string[]): void {
  let first: string | undefined;
  try {
    first = fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new InputError(`--out: cannot create '${dir}': ${(e as Error).message}`);
  }
  if (first !== undefined) {
    const top = path.resolve(first);
    const chain: string[] = [];
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
      chain.push(d);
      if (d === top || path.dirname(d) === d) break;
    }
    made.push(...chain.reverse());
  }
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`--out: '${dir}' is not a directory`);
}

/** `f`'s text in a new temporary file beside its name; the file's path. On failure nothing is left. */
function writeTemp(f: OutFile): string {
  const file = path.join(f.dir, f.name);
  const temp = path.join(f.dir, `.${f.name}.${crypto.randomBytes(6).toString('hex')}.partial`);
  let fd: number;
  try {
    fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0), 0o644);
  } catch (e) {
    throw new InputError(`--out: cannot write in '${f.dir}': ${(e as Error).message}`);
  }
  // Removed on SIGINT/SIGTERM until it is renamed into place.
  track(temp, true);
  try {
    // Every byte or an error: writeSync may stop short on a full disk and say so only in its return value.
    fs.writeFileSync(fd, f.text);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    track(temp, false);
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`--out: cannot write '${file}': ${code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message}`);
  }
  fs.closeSync(fd);
  return temp;
}

/** Writes every one of `files`, or (throwing InputError) none: see the module comment. Each file's path, in order. */
export function writeOutFiles(files: readonly OutFile[]): string[] {
  checkOutFiles(files);
  const made: string[] = [];
  const pending: { temp: string; file: string; free: boolean }[] = [];
  /** Files put at names that were free: removed again if a later one fails. */
  const placed: string[] = [];
  try {
    for (const f of files) {
      const file = path.join(f.dir, f.name);
      // A content-named file listed twice is the same file.
      if (pending.some((p) => p.file === file)) continue;
      makeDir(f.dir, made);
      const free = fs.lstatSync(file, { throwIfNoEntry: false }) === undefined;
      pending.push({ temp: writeTemp(f), file, free });
    }
    while (pending.length > 0) {
      const p = pending[0] as (typeof pending)[number];
      try {
        fs.renameSync(p.temp, p.file);
      } catch (e) {
        throw new InputError(`--out: cannot write '${p.file}': ${(e as Error).message}`);
      }
      pending.shift();
      track(p.temp, false);
      if (p.free) placed.push(p.file);
    }
  } catch (e) {
    for (const p of pending) {
      fs.rmSync(p.temp, { force: true });
      track(p.temp, false);
    }
    for (const file of placed) fs.rmSync(file, { force: true });
    for (const dir of made.reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Not empty (something else was put there meanwhile) or gone: left as it is.
      }
    }
    throw e;
  }
  return files.map((f) => path.join(f.dir, f.name));
}
