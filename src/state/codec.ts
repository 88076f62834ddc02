/**
 * Codecs: a description of a value type from which its copy, its canonical text and its hash are
 * derived, so that the parts of the machine state are each described once. This file has the
 * scalars and collections; struct.ts the records, whose codecs name every field of their type (a
 * field without an entry is a compile error) or say why a field is no part of a state's identity.
 *
 * Texts: equal texts, equal values (tokens are delimited by `,[]{}`; strings are JSON-quoted).
 * Hashes: `mix` folds every part in a fixed order; small-domain fields (booleans, enums) of a struct
 * are packed into one number first, each in its own bit range, so the fold stays injective.
 */
import { hash53, mix, stringHash } from './hash.js';

/**
 * What a number means, for the symmetry reduction that permutes CPU numbers (src/explore/symmetry.ts):
 * a CPU number, an array indexed by CPU number, the address of a per-CPU region (VMXON, VMCS) that
 * encodes its CPU's number or of a per-vCPU region (a vCPU's VMCS/VMCB) that encodes its vCPU's
 * index; with guests, a vCPU's index (its VMM thread's too), and the file descriptor KVM_CREATE_VCPU
 * gave a VMM thread for its own vCPU (the vCPUs pinned to CPUs are renamed with them).
 */
export type Role = 'cpu-id' | 'cpu-mask' | 'cpu-addr' | 'vcpu-index' | 'vcpu-fd';

/**
 * A renaming of CPUs: each CPU number's image, and a per-CPU or per-vCPU region's address's image;
 * with guests, each vCPU index's image (`vcpu`), and the image of a VMM thread's own vCPU file
 * descriptor (`vcpuFd`: given only for renaming that thread's state). Absent: nothing to rename.
 */
export interface Renaming {
  cpu(id: number): number;
  addr(a: number): number;
  vcpu?(index: number): number;
  vcpuFd?(fd: number): number;
}

export interface Codec<T> {
  readonly kind: string;
  readonly role?: Role;
  /** Canonical text: equal texts, equal values. */
  text(v: T): string;
  /** Fold the value into hash `h`. */
  hash(h: number, v: T): number;
  /** A copy that shares nothing mutable with `v`. */
  copy(v: T): T;
  /** A valid value of the type (tests build mutations from it). */
  sample(): T;
  /** Valid values other than `v` (tests change one field at a time to each). */
  others(v: T): T[];
  /**
   * The value with its CPU numbers renamed (fields of a role, and what holds them); absent when the
   * type holds none. Returns `v` itself when nothing changed.
   */
  rename?(v: T, r: Renaming): T;
  /** Small domains: the value as an integer below 2^bits (a struct packs several into one mix). */
  readonly bits?: number;
  code?(v: T): number;
  /**
   * Whether an untrusted value (a machine value given back to `stepMachine`) is one of the type: null,
   * or what is wrong with it, at `path` or below. Absent: any value is taken (a part no rule reads).
   * `ref`: the same part of a state of the same run, whose `constant` struct fields the value's must
   * equal (passed through structs, not into arrays, whose entries need not correspond). `env`: the
   * machine's sizes, for the numbers of a role (a CPU number, a cpumask, a vCPU index).
   */
  check?(v: unknown, path: string, env: CheckEnv, ref?: unknown): string | null;
}

/** What a check knows of the machine the value is a state of. */
export interface CheckEnv {
  cpus: number;
  vcpus: number;
}

/** What a check says of a value that is not of the expected kind. */
export const notA = (path: string, expected: string, v: unknown): string => {
  const text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return `${path}: expected ${expected}, got ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`;
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- scalars -------------------------------------------------------------------------------------

export function bool(): Codec<boolean> {
  return {
    kind: 'bool',
    check: (v, path) => (typeof v === 'boolean' ? null : notA(path, 'true or false', v)),
    bits: 1,
    code: (v) => (v ? 1 : 0),
    text: (v) => (v ? '1' : '0'),
    hash: (h, v) => mix(h, v ? 1 : 2),
    copy: (v) => v,
    sample: () => false,
    others: (v) => [!v],
  };
}

/** Any integer (an address, a count, an index). */
export function int(role?: Role): Codec<number> {
  return {
    kind: 'int',
    check: (v, path, env) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return notA(path, 'an integer', v);
      // A CPU number is one of the machine's or -1 (none); a vCPU index one of the scenario's.
      if (role === 'cpu-id' && (v < -1 || v >= env.cpus)) return notA(path, `a CPU number from 0 to ${env.cpus - 1} (or -1)`, v);
      if (role === 'vcpu-index' && (v < 0 || v >= env.vcpus)) return notA(path, `a vCPU index below ${env.vcpus}`, v);
      return null;
    },
    ...(role ? { role } : {}),
    ...(role === 'cpu-id' ? { rename: (v: number, r: Renaming) => (v >= 0 ? r.cpu(v) : v) } : {}),
    ...(role === 'cpu-addr' ? { rename: (v: number, r: Renaming) => r.addr(v) } : {}),
    ...(role === 'vcpu-index' ? { rename: (v: number, r: Renaming) => (r.vcpu ? r.vcpu(v) : v) } : {}),
    ...(role === 'vcpu-fd' ? { rename: (v: number, r: Renaming) => (r.vcpuFd ? r.vcpuFd(v) : v) } : {}),
    text: (v) => String(v),
    hash: (h, v) => mix(h, v),
    copy: (v) => v,
    sample: () => 0,
    others: (v) => [v + 1],
  };
}

/** A CPU number (-1 where the kernel uses it for "none"). */
export const cpuId = (): Codec<number> => int('cpu-id');

/** The address of a per-CPU region (VMXON, VMCS): it encodes the CPU's number. */
export const cpuAddr = (): Codec<number> => int('cpu-addr');

/** A vCPU's index among the scenario's vCPUs (its VMM thread's too). */
export const vcpuIndex = (): Codec<number> => int('vcpu-index');

export function string(): Codec<string> {
  return {
    kind: 'string',
    check: (v, path) => (typeof v === 'string' ? null : notA(path, 'a string', v)),
    text: (v) => JSON.stringify(v),
    hash: (h, v) => mix(h, stringHash(v)),
    copy: (v) => v,
    sample: () => '',
    others: (v) => [`${v}'`],
  };
}

/** One of a few strings or numbers. */
export function oneOf<const V extends string | number>(values: readonly V[]): Codec<V> {
  const codes = new Map<V, number>(values.map((v, i) => [v, i]));
  const code = (v: V): number => {
    const c = codes.get(v);
    if (c === undefined) throw new Error(`internal error: ${JSON.stringify(v)} is not one of ${JSON.stringify(values)}`);
    return c;
  };
  return {
    kind: 'enum',
    check: (v, path) => (codes.has(v as V) ? null : notA(path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v)),
    bits: Math.max(1, Math.ceil(Math.log2(values.length))),
    code,
    text: (v) => String(v),
    hash: (h, v) => mix(h, code(v)),
    copy: (v) => v,
    sample: () => values[0] as V,
    others: (v) => values.filter((x) => x !== v),
  };
}

// ---- combinators ---------------------------------------------------------------------------------

export function nullable<T>(inner: Codec<T>): Codec<T | null> {
  const bits = inner.bits;
  const code = inner.code;
  return {
    kind: 'nullable',
    ...(inner.check ? { check: (v: unknown, path: string, env: CheckEnv, ref?: unknown) => (v === null ? null : (inner.check as NonNullable<Codec<T>['check']>)(v, path, env, ref ?? undefined)) } : {}),
    ...(inner.role ? { role: inner.role } : {}),
    ...(inner.rename ? { rename: (v: T | null, r: Renaming) => (v === null ? null : (inner.rename as NonNullable<Codec<T>['rename']>)(v, r)) } : {}),
    ...(bits !== undefined && code ? { bits: bits + 1, code: (v: T | null) => (v === null ? 0 : code(v) + 1) } : {}),
    text: (v) => (v === null ? '-' : inner.text(v)),
    hash: (h, v) => (v === null ? mix(h, 0) : inner.hash(mix(h, 1), v)),
    copy: (v) => (v === null ? null : inner.copy(v)),
    sample: () => null,
    others: (v) => (v === null ? [inner.sample()] : [null, ...inner.others(v)]),
  };
}

/** Largest number of bits packed into one mix (a double holds 53-bit integers exactly). */
export const PACK = 52;

export function array<T>(elem: Codec<T>, role?: Role): Codec<T[]> {
  const bits = elem.bits;
  const code = elem.code;
  const flat = bits !== undefined || elem.kind === 'int' || elem.kind === 'string';
  const renameElem = elem.rename;
  const renameAll = (v: T[], r: Renaming): T[] => {
    if (!renameElem) return v;
    let out: T[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const e = renameElem(v[i] as T, r);
      if (e !== v[i]) (out ??= v.slice())[i] = e;
    }
    return out ?? v;
  };
  // A cpumask: CPU i's entry moves to its image's place.
  const rename =
    role === 'cpu-mask'
      ? (v: T[], r: Renaming): T[] => {
          const els = renameAll(v, r);
          const out = els.slice();
          for (let i = 0; i < els.length; i++) out[r.cpu(i)] = els[i] as T;
          return out;
        }
      : renameElem
        ? renameAll
        : undefined;
  return {
    kind: 'array',
    check: (v, path, env) => {
      if (!Array.isArray(v)) return notA(path, 'an array', v);
      if (role === 'cpu-mask' && v.length !== env.cpus) return `${path}: a cpumask of ${v.length} CPUs, where the machine has ${env.cpus}`;
      if (!elem.check) return null;
      for (let i = 0; i < v.length; i++) {
        const bad = elem.check(v[i], `${path}[${i}]`, env);
        if (bad !== null) return bad;
      }
      return null;
    },
    ...(role ? { role } : {}),
    ...(rename ? { rename } : {}),
    text: (v) => {
      let s = '[';
      for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + elem.text(v[i] as T);
      return s + ']';
    },
    hash:
      bits !== undefined && code
        ? (h, v) => {
            let x = mix(h, v.length);
            let acc = 0;
            let scale = 1;
            for (let i = 0; i < v.length; i++) {
              if (scale * 2 ** bits > 2 ** PACK) {
                x = mix(x, acc);
                acc = 0;
                scale = 1;
              }
              acc += code(v[i] as T) * scale;
              scale *= 2 ** bits;
            }
            return v.length > 0 ? mix(x, acc) : x;
          }
        : (h, v) => {
            let x = mix(h, v.length);
            for (let i = 0; i < v.length; i++) x = elem.hash(x, v[i] as T);
            return x;
          },
    copy: flat ? (v) => v.slice() : (v) => v.map((e) => elem.copy(e)),
    sample: () => [],
    others: (v) => {
      if (v.length === 0) return [[elem.sample()]];
      const other = elem.others(v[0] as T)[0];
      return other === undefined ? [v.slice(1)] : [[other, ...v.slice(1)], v.slice(1)];
    },
  };
}

/** An object keyed by numbers (addresses), canonical in ascending key order; `keyRole`: what a key means. */
export function numberKeyed<V>(value: Codec<V>, keyRole?: 'cpu-addr'): Codec<Record<string, V>> {
  const keys = (v: Record<string, V>): string[] => Object.keys(v).sort((a, b) => Number(a) - Number(b));
  const renameValue = value.rename;
  const rename =
    keyRole || renameValue
      ? (v: Record<string, V>, r: Renaming): Record<string, V> => {
          const out: Record<string, V> = {};
          let changed = false;
          for (const k of keys(v)) {
            const k2 = keyRole ? String(r.addr(Number(k))) : k;
            const x = v[k] as V;
            const x2 = renameValue ? renameValue(x, r) : x;
            if (k2 !== k || x2 !== x) changed = true;
            out[k2] = x2;
          }
          return changed ? out : v;
        }
      : undefined;
  return {
    kind: 'record',
    check: (v, path, env) => {
      if (!isObject(v)) return notA(path, 'an object keyed by numbers', v);
      for (const k of Object.keys(v)) {
        if (!/^(0|[1-9][0-9]*)$/.test(k)) return `${path}: key ${JSON.stringify(k)} is not a number`;
        const bad = value.check ? value.check(v[k], `${path}.${k}`, env) : null;
        if (bad !== null) return bad;
      }
      return null;
    },
    ...(rename ? { rename } : {}),
    text: (v) => `{${keys(v).map((k) => `${k}:${value.text(v[k] as V)}`).join(',')}}`,
    hash: (h, v) => {
      const ks = keys(v);
      let x = mix(h, ks.length);
      for (const k of ks) x = value.hash(mix(x, Number(k)), v[k] as V);
      return x;
    },
    copy: (v) => {
      const out: Record<string, V> = {};
      for (const k of keys(v)) out[k] = value.copy(v[k] as V);
      return out;
    },
    sample: () => ({}),
    others: (v) => {
      const ks = keys(v);
      const first = ks[0];
      if (first === undefined) return [{ '4096': value.sample() }];
      const other = value.others(v[first] as V)[0];
      const rest = { ...v };
      delete rest[first];
      return other === undefined ? [rest] : [{ ...v, [first]: other }, rest];
    },
  };
}

/**
 * One of the members of a string union, listed as the keys of a record so that a member missing
 * from the list is a compile error (`Record<T, …>` needs every one).
 */
export function members<T extends string>(all: Record<T, true>): Codec<T> {
  return oneOf(Object.keys(all) as T[]);
}

/** A plain JSON value keyed whole by its JSON text (nested data described no further; `undefined` for absent). */
export function json<T>(): Codec<T> {
  const text = (v: T): string => (v === undefined ? '~' : JSON.stringify(v));
  // Each object's hash, remembered while the object lives: a guest actor's JSON-keyed values are
  // replaced, never changed in place (captures share them: chart-driver.ts), so an actor that
  // moved is hashed again only in the parts it replaced. The texts are not remembered: they are
  // many and long (packet lists), unlike names.
  const hashes = new WeakMap<object, number>();
  return {
    kind: 'json',
    // Any JSON value (or nothing): the rules that read it check what they read.
    check: () => null,
    text,
    hash: (h, v) => {
      if (v === null || typeof v !== 'object') return mix(h, hash53(text(v)));
      let x = hashes.get(v);
      if (x === undefined) hashes.set(v, (x = hash53(text(v))));
      return mix(h, x);
    },
    copy: (v) => (v === undefined || v === null || typeof v !== 'object' ? v : structuredClone(v)),
    sample: () => null as T,
    others: (v) => [changeFirstLeaf(v) as T],
  };
}

/** A copy of a JSON value with its first leaf changed (tests: another value of about the same shape). */
function changeFirstLeaf(v: unknown): unknown {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return `${v}'`;
  if (Array.isArray(v)) return v.length === 0 ? [0] : [changeFirstLeaf(v[0]), ...v.slice(1)];
  const entries = Object.entries(v as Record<string, unknown>);
  const first = entries[0];
  if (!first) return { x: 0 };
  return { ...(v as object), [first[0]]: changeFirstLeaf(first[1]) };
}
