/**
 * Reading an untrusted JSON value field by field: where each value sits in the file, the problems found
 * so far, and readers for the value kinds a scenario uses. Every reader reports its own problem and
 * returns `undefined` for a value it could not accept, so a caller can carry on and report the rest.
 */

import { MAX_ARRAY_ENTRIES, MAX_ERRORS } from './limits.js';

/** Where a value sits: its path for messages, and its position in the file for ordering them. */
export interface Loc {
  /** 'machine.cpus', 'script[1].when.cpu', 'initial.cpus.7.vmx'; '' for the whole file. */
  path: string;
  /** Position of each key among its parent's keys (or array index), from the root: document order. */
  order: readonly number[];
}

export const rootLoc: Loc = { path: '', order: [] };

// Keys that need no quoting: identifiers, kebab-case names and decimal CPU ids. Anything else (a dot, a
// space, an empty key) is written as ["..."] so that a path always names exactly one place.
const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

/** The path of `key` inside the object at `parent`. */
export function fieldPath(parent: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** The path of element `index` of the array at `parent`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

export function fieldLoc(parent: Loc, key: string, position: number): Loc {
  return { path: fieldPath(parent.path, key), order: [...parent.order, position] };
}

export function indexLoc(parent: Loc, index: number): Loc {
  return { path: indexPath(parent.path, index), order: [...parent.order, index] };
}

function compareOrder(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * The problems found in one file, each reported once, handed back in document order. At most
 * `limit` are kept; the rest are only counted, so a file of a million bad steps costs no more memory
 * than one of a hundred.
 */
export class Problems {
  readonly #found: { loc: Loc; message: string }[] = [];
  readonly #seen = new Set<string>();
  #more = 0;

  constructor(private readonly limit = MAX_ERRORS) {}

  add(loc: Loc, message: string): void {
    if (this.#found.length >= this.limit) {
      this.#more += 1;
      return;
    }
    // One `all` setting can break the same rule on thousands of CPUs: say so once.
    const key = `${loc.path}\u0000${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#found.push({ loc, message });
  }

  get count(): number {
    return this.#found.length + this.#more;
  }

  /**
   * Sorted by position in the file; problems at the same place keep the order they were found in.
   * Past the limit, a last entry (path '') says how many more there were.
   */
  list(): { path: string; message: string }[] {
    const listed = [...this.#found]
      .sort((a, b) => compareOrder(a.loc.order, b.loc.order))
      .map(({ loc, message }) => ({ path: loc.path, message }));
    if (this.#more > 0) listed.push({ path: '', message: `… and ${this.#more} more error${this.#more === 1 ? '' : 's'} (only the first ${this.limit} are listed)` });
    return listed;
  }
}

/** A value read from an object, with where it was. */
export interface Field {
  value: unknown;
  loc: Loc;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value for a message: quoted, escaped, and cut short if long. */
export function shown(value: string): string {
  const escaped = JSON.stringify(value).slice(1, -1);
  return `'${escaped.length > 60 ? `${escaped.slice(0, 57)}...` : escaped}'`;
}

/**
 * The fields of an object with a fixed set of keys. Unknown keys are reported at their own path;
 * missing required keys at the object's path, with what was expected there. Returns undefined, after
 * reporting, when the value is not an object.
 */
export function readObject(
  field: Field,
  known: readonly string[],
  out: Problems,
  required: Readonly<Record<string, string>> = {},
): Map<string, Field> | undefined {
  const { value, loc } = field;
  if (!isRecord(value)) {
    out.add(loc, 'expected an object');
    return undefined;
  }
  const fields = new Map<string, Field>();
  Object.keys(value).forEach((key, position) => {
    const child = fieldLoc(loc, key, position);
    if (known.includes(key)) fields.set(key, { value: value[key], loc: child });
    else out.add(child, `unknown field (expected one of: ${known.join(', ')})`);
  });
  for (const key of Object.keys(required)) {
    if (!fields.has(key)) out.add(loc, `missing required field '${key}' (${required[key] ?? ''})`);
  }
  return fields;
}

/** The entries of an object whose keys are data (CPU ids), in file order. */
export function readEntries(field: Field, out: Problems): { key: string; field: Field }[] | undefined {
  const { value, loc } = field;
  if (!isRecord(value)) {
    out.add(loc, 'expected an object');
    return undefined;
  }
  return Object.keys(value).map((key, position) => ({ key, field: { value: value[key], loc: fieldLoc(loc, key, position) } }));
}

/** The elements of an array of at most `max` entries (a longer one is refused as a whole, before anything is read from it). */
export function readArray(field: Field, out: Problems, expected = 'expected an array', max = MAX_ARRAY_ENTRIES): Field[] | undefined {
  const { value, loc } = field;
  if (!Array.isArray(value)) {
    out.add(loc, expected);
    return undefined;
  }
  if (value.length > max) {
    out.add(loc, tooMany(value.length, max));
    return undefined;
  }
  const items: Field[] = [];
  for (let i = 0; i < value.length; i++) items.push({ value: value[i], loc: indexLoc(loc, i) });
  return items;
}

/** The message for an array longer than its limit. */
export function tooMany(length: number, max: number): string {
  return `too many entries: ${length} (at most ${max})`;
}

/** A string of at most `maxLength` characters. */
export function readString(field: Field, out: Problems, nonEmpty = false, maxLength = Number.POSITIVE_INFINITY): string | undefined {
  const { value, loc } = field;
  if (typeof value !== 'string' || (nonEmpty && value === '')) {
    out.add(loc, nonEmpty ? 'expected a non-empty string' : 'expected a string');
    return undefined;
  }
  if (value.length > maxLength) {
    out.add(loc, `too long: ${value.length} characters (at most ${maxLength})`);
    return undefined;
  }
  return value;
}

export function readBoolean(field: Field, out: Problems): boolean | undefined {
  if (typeof field.value !== 'boolean') {
    out.add(field.loc, 'expected true or false');
    return undefined;
  }
  return field.value;
}

export function integerExpectation(min: number, max: number): string {
  return `expected an integer from ${min} to ${max}`;
}

export function readInteger(field: Field, min: number, max: number, out: Problems): number | undefined {
  const { value, loc } = field;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    out.add(loc, integerExpectation(min, max));
    return undefined;
  }
  return value + 0; // -0 becomes 0
}

export function choiceExpectation(options: readonly string[]): string {
  return `expected one of: ${options.join(', ')}`;
}

/** One of a fixed set of names; `what` names the kind in the message ("unknown action 'x'"). */
export function readChoice<T extends string>(field: Field, what: string, options: readonly T[], out: Problems): T | undefined {
  const { value, loc } = field;
  if (typeof value !== 'string') {
    out.add(loc, choiceExpectation(options));
    return undefined;
  }
  const found = options.find((option) => option === value);
  if (found === undefined) out.add(loc, `unknown ${what} ${shown(value)} (known: ${options.join(', ')})`);
  return found;
}

/** The message for a CPU id that is a number but names no CPU of this machine. */
export function cpuOutOfRange(id: string, cpus: number): string {
  const range = cpus === 1 ? '1 CPU: 0' : `${cpus} CPUs: 0-${cpus - 1}`;
  return `CPU ${id} is out of range (the machine has ${range})`;
}

export const CPU_ID_EXPECTATION = 'expected a CPU id (a non-negative integer)';

/**
 * A CPU id given as a JSON number. `cpus` is the machine's CPU count, or undefined when that is itself
 * invalid, in which case only the form of the id is checked.
 */
export function readCpuId(field: Field, cpus: number | undefined, out: Problems): number | undefined {
  const { value, loc } = field;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    out.add(loc, CPU_ID_EXPECTATION);
    return undefined;
  }
  if (cpus !== undefined && value >= cpus) {
    out.add(loc, cpuOutOfRange(String(value), cpus));
    return undefined;
  }
  return value + 0;
}
