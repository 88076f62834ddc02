/**
 * Codecs: a description of a value type from which its copy, its canonical text and its hash are
 * derived, so that the parts of the machine state are each described once. A struct codec names
 * every field of its type (a field without an entry is a compile error, see `Fields`); a field that
 * is no part of a state's identity says so, with the reason, through `ignored`, `derived` or
 * `constant` — it is still copied, but left out of the text and the hash.
 *
 * Texts: equal texts, equal values (tokens are delimited by `,[]{}`; strings are JSON-quoted).
 * Hashes: `mix` folds every part in a fixed order; small-domain fields (booleans, enums) of a struct
 * are packed into one number first, each in its own bit range, so the fold stays injective.
 */
import { mix, stringHash } from './hash.js';

/**
 * What a number means, for a later symmetry reduction that permutes CPU numbers: a CPU number, or
 * an array indexed by CPU number. Annotation only: nothing permutes yet.
 */
export type Role = 'cpu-id' | 'cpu-mask';

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
  /** Small domains: the value as an integer below 2^bits (a struct packs several into one mix). */
  readonly bits?: number;
  code?(v: T): number;
}

/** Why a field is no part of a state's identity. */
export type OmittedKind =
  /** Never read by a decision that matters for exploration (say which readers it has). */
  | 'ignored'
  /** A function of other fields that are part of the identity (say of which). */
  | 'derived'
  /** The same in every state of a run (say where it comes from): shared by copies, never changed. */
  | 'constant';

export interface Omitted<T> {
  readonly omitted: OmittedKind;
  readonly why: string;
  readonly codec: Codec<T>;
}

/** Not part of the identity, and why; still copied (with `codec`). */
export function ignored<T>(why: string, codec: Codec<T>): Omitted<T> {
  return { omitted: 'ignored', why, codec };
}

/** A function of other fields of the identity (so left out of it), and of which; still copied. */
export function derived<T>(why: string, codec: Codec<T>): Omitted<T> {
  return { omitted: 'derived', why, codec };
}

/** The same in every state of a run: copies share it. */
export function constant<T>(why: string): Omitted<T> {
  return { omitted: 'constant', why, codec: opaque<T>() };
}

/** A value copies share and that is no part of any key (only `constant` uses it). */
function opaque<T>(): Codec<T> {
  return {
    kind: 'opaque',
    text: (v) => JSON.stringify(v) ?? '',
    hash: (h, v) => mix(h, stringHash(JSON.stringify(v) ?? '')),
    copy: (v) => v,
    sample: () => undefined as T,
    others: () => [],
  };
}

// ---- scalars -------------------------------------------------------------------------------------

export function bool(): Codec<boolean> {
  return {
    kind: 'bool',
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
    ...(role ? { role } : {}),
    text: (v) => String(v),
    hash: (h, v) => mix(h, v),
    copy: (v) => v,
    sample: () => 0,
    others: (v) => [v + 1],
  };
}

/** A CPU number (-1 where the kernel uses it for "none"). */
export const cpuId = (): Codec<number> => int('cpu-id');

export function string(): Codec<string> {
  return {
    kind: 'string',
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
    ...(inner.role ? { role: inner.role } : {}),
    ...(bits !== undefined && code ? { bits: bits + 1, code: (v: T | null) => (v === null ? 0 : code(v) + 1) } : {}),
    text: (v) => (v === null ? '-' : inner.text(v)),
    hash: (h, v) => (v === null ? mix(h, 0) : inner.hash(mix(h, 1), v)),
    copy: (v) => (v === null ? null : inner.copy(v)),
    sample: () => null,
    others: (v) => (v === null ? [inner.sample()] : [null, ...inner.others(v)]),
  };
}

/** Largest number of bits packed into one mix (a double holds 53-bit integers exactly). */
const PACK = 52;

export function array<T>(elem: Codec<T>, role?: Role): Codec<T[]> {
  const bits = elem.bits;
  const code = elem.code;
  const flat = bits !== undefined || elem.kind === 'int' || elem.kind === 'string';
  return {
    kind: 'array',
    ...(role ? { role } : {}),
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

/** An object keyed by numbers (addresses), canonical in ascending key order. */
export function numberKeyed<V>(value: Codec<V>): Codec<Record<string, V>> {
  const keys = (v: Record<string, V>): string[] => Object.keys(v).sort((a, b) => Number(a) - Number(b));
  return {
    kind: 'record',
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

/** Every field of T, each with its codec or the reason it is no part of the identity. */
export type Fields<T> = { readonly [K in keyof T]-?: Codec<T[K]> | Omitted<T[K]> };

/** A field of a struct codec, as tests and the explorer enumerate them. */
export interface FieldInfo {
  readonly name: string;
  readonly codec: Codec<unknown>;
  /** Set when the field is no part of the identity. */
  readonly omitted: Omitted<unknown> | null;
}

export interface StructCodec<T> extends Codec<T> {
  readonly kind: 'struct';
  readonly name: string;
  readonly fields: readonly FieldInfo[];
  /** The same codec with the field at `path` (names through nested structs) left out: tests only. */
  without(path: readonly string[]): StructCodec<T>;
}

function isOmitted(x: Codec<unknown> | Omitted<unknown>): x is Omitted<unknown> {
  return 'omitted' in x;
}

export function struct<T extends object>(name: string, fields: Fields<T>): StructCodec<T> {
  const infos: FieldInfo[] = Object.entries(fields as Record<string, Codec<unknown> | Omitted<unknown>>).map(([n, f]) =>
    isOmitted(f) ? { name: n, codec: f.codec, omitted: f } : { name: n, codec: f, omitted: null },
  );
  return structOf<T>(name, infos);
}

function structOf<T extends object>(name: string, infos: readonly FieldInfo[]): StructCodec<T> {
  const keyed = infos.filter((f) => f.omitted === null);
  // Small-domain fields first, packed PACK bits to a mix; then the others, each folded in order.
  const packed = keyed.filter((f) => f.codec.bits !== undefined && f.codec.code !== undefined);
  const rest = keyed.filter((f) => !packed.includes(f));
  const groups: { name: string; code: (v: unknown) => number; scale: number }[][] = [];
  let scale = 2 ** PACK;
  for (const f of packed) {
    const bits = f.codec.bits as number;
    if (scale * 2 ** bits > 2 ** PACK) {
      groups.push([]);
      scale = 1;
    }
    (groups[groups.length - 1] as (typeof groups)[number]).push({ name: f.name, code: f.codec.code as (v: unknown) => number, scale });
    scale *= 2 ** bits;
  }
  const restNames = rest.map((f) => f.name);
  const restCodecs = rest.map((f) => f.codec);
  const read = (v: T, n: string): unknown => (v as Record<string, unknown>)[n];
  const codec: StructCodec<T> = {
    kind: 'struct',
    name,
    fields: infos,
    text: (v) => {
      let s = '{';
      for (let i = 0; i < keyed.length; i++) {
        const f = keyed[i] as FieldInfo;
        s += (i > 0 ? ',' : '') + f.codec.text(read(v, f.name));
      }
      return s + '}';
    },
    hash: (h, v) => {
      let x = h;
      for (const g of groups) {
        let acc = 0;
        for (const p of g) acc += p.code(read(v, p.name)) * p.scale;
        x = mix(x, acc);
      }
      for (let i = 0; i < restNames.length; i++) x = (restCodecs[i] as Codec<unknown>).hash(x, read(v, restNames[i] as string));
      return x;
    },
    copy: (v) => {
      const out: Record<string, unknown> = {};
      for (const f of infos) {
        const value = read(v, f.name);
        // An optional field that is absent stays absent.
        if (value !== undefined || f.name in v) out[f.name] = value === undefined ? undefined : f.codec.copy(value);
      }
      return out as T;
    },
    sample: () => {
      const out: Record<string, unknown> = {};
      for (const f of infos) out[f.name] = f.codec.sample();
      return out as T;
    },
    others: (v) => {
      for (const f of keyed) {
        const o = f.codec.others(read(v, f.name))[0];
        if (o !== undefined) return [{ ...v, [f.name]: o }];
      }
      return [];
    },
    without: (path) => {
      const [head, ...tail] = path;
      const at = infos.findIndex((f) => f.name === head);
      if (at < 0) throw new Error(`internal error: ${name} has no field ${String(head)}`);
      const f = infos[at] as FieldInfo;
      const inner = tail.length === 0 ? null : nestedStruct(f.codec);
      if (tail.length > 0 && !inner) throw new Error(`internal error: ${name}.${String(head)} is not a struct`);
      const replaced: FieldInfo = inner
        ? { name: f.name, codec: withInner(f.codec, inner.without(tail)), omitted: f.omitted }
        : { name: f.name, codec: f.codec, omitted: { omitted: 'ignored', why: 'left out by a test', codec: f.codec } };
      return structOf<T>(name, infos.map((g, i) => (i === at ? replaced : g)));
    },
  };
  return codec;
}

// ---- values replaced wholesale -------------------------------------------------------------------

interface Wrapper<T> extends Codec<T> {
  readonly inner: Codec<T>;
}

/**
 * A value that is never changed in place (a chart replaces it wholesale in an assignment): copies
 * share it, and its text and hash are remembered per object for as long as it lives.
 */
export function replacedWhole<T extends object>(inner: Codec<T>): Codec<T> {
  const texts = new WeakMap<object, string>();
  const hashes = new WeakMap<object, number>();
  const codec: Wrapper<T> = {
    kind: 'whole',
    inner,
    ...(inner.role ? { role: inner.role } : {}),
    text: (v) => {
      let t = texts.get(v);
      if (t === undefined) texts.set(v, (t = inner.text(v)));
      return t;
    },
    hash: (h, v) => {
      let x = hashes.get(v);
      if (x === undefined) hashes.set(v, (x = inner.hash(0x51ed27, v)));
      return mix(h, x);
    },
    copy: (v) => v,
    sample: () => inner.sample(),
    others: (v) => inner.others(v),
  };
  return codec;
}

/** The struct inside a codec (directly, or replaced wholesale), if it is one. */
export function nestedStruct(c: Codec<unknown>): StructCodec<unknown> | null {
  if (c.kind === 'struct') return c as StructCodec<unknown>;
  if (c.kind === 'whole') return nestedStruct((c as Wrapper<unknown>).inner);
  return null;
}

function withInner(c: Codec<unknown>, inner: StructCodec<unknown>): Codec<unknown> {
  return c.kind === 'whole' ? replacedWhole(inner as StructCodec<object>) as Codec<unknown> : inner;
}

/** Every field path of a struct codec, depth first (through nested structs), with its field. */
export function fieldPaths(c: StructCodec<unknown>, prefix: readonly string[] = []): { path: string[]; field: FieldInfo }[] {
  const out: { path: string[]; field: FieldInfo }[] = [];
  for (const f of c.fields) {
    const path = [...prefix, f.name];
    const nested = f.omitted ? null : nestedStruct(f.codec);
    if (nested) out.push(...fieldPaths(nested, path));
    else out.push({ path, field: f });
  }
  return out;
}

/**
 * One of the members of a string union, listed as the keys of a record so that a member missing
 * from the list is a compile error (`Record<T, …>` needs every one).
 */
export function members<T extends string>(all: Record<T, true>): Codec<T> {
  return oneOf(Object.keys(all) as T[]);
}

type Tagged<K extends string> = { kind: K };

/** The variants of a union tagged by `kind`, each a struct of the fields other than the tag. */
export type Variants<T extends Tagged<string>> = { readonly [K in T['kind']]-?: StructCodec<Omit<Extract<T, { kind: K }>, 'kind'>> };

/** A union tagged by its `kind` field: the tag, then the variant's fields. */
export interface TaggedCodec<T extends Tagged<string>> extends Codec<T> {
  readonly variants: Variants<T>;
}

export function tagged<T extends Tagged<string>>(variants: Variants<T>): TaggedCodec<T> {
  const kinds = Object.keys(variants) as T['kind'][];
  const index = new Map<string, number>(kinds.map((k, i) => [k, i + 1]));
  const of = (v: T): StructCodec<unknown> => (variants as unknown as Record<string, StructCodec<unknown>>)[v.kind] as StructCodec<unknown>;
  return {
    kind: 'tagged',
    variants,
    text: (v) => `${v.kind}${of(v).text(v)}`,
    hash: (h, v) => of(v).hash(mix(h, index.get(v.kind) as number), v),
    copy: (v) => ({ ...(of(v).copy(v) as object), kind: v.kind }) as T,
    sample: () => ({ ...(variants[kinds[0] as T['kind']].sample() as object), kind: kinds[0] }) as T,
    others: (v) => {
      const other = kinds.find((k) => k !== v.kind);
      const same = of(v).others(v).map((o) => ({ ...(o as object), kind: v.kind }) as T);
      return other === undefined ? same : [...same, { ...((variants as unknown as Record<string, StructCodec<unknown>>)[other]?.sample() as object), kind: other } as T];
    },
  };
}

/** A plain JSON value keyed whole by its JSON text (nested data described no further; `undefined` for absent). */
export function json<T>(): Codec<T> {
  const text = (v: T): string => (v === undefined ? '~' : JSON.stringify(v));
  return {
    kind: 'json',
    text,
    hash: (h, v) => mix(h, stringHash(text(v))),
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
