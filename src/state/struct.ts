/**
 * Records: struct codecs (every field of the type named, each with its codec or the reason it is
 * no part of the identity), unions tagged by `kind`, and values replaced wholesale (their text and
 * hash remembered per object). Tests enumerate the fields (`fieldPaths`) and leave one out (`without`).
 */
import { hash53, mix } from './hash.js';
import { PACK, notA, type CheckEnv, type Codec, type Renaming } from './codec.js';

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
    hash: (h, v) => mix(h, hash53(JSON.stringify(v) ?? '')),
    copy: (v) => v,
    sample: () => undefined as T,
    others: () => [],
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
  // Renaming CPUs: the fields that hold CPU numbers (omitted ones too: a copy stays consistent),
  // not `constant` ones (the same in every state, shared).
  const renamed = infos.filter((f) => f.codec.rename !== undefined && f.omitted?.omitted !== 'constant');
  const rename =
    renamed.length > 0
      ? (v: T, r: Renaming): T => {
          let out: Record<string, unknown> | null = null;
          for (const f of renamed) {
            const x = read(v, f.name);
            if (x === undefined) continue;
            const y = (f.codec.rename as (v: unknown, r: Renaming) => unknown)(x, r);
            if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[f.name] = y;
          }
          return (out ?? v) as T;
        }
      : undefined;
  const known = new Set(infos.map((f) => f.name));
  const codec: StructCodec<T> = {
    kind: 'struct',
    name,
    fields: infos,
    // Every field its codec takes (absent only where the codec takes nothing), and no other.
    check: (v, path, env, ref) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return notA(path, `an object (${name})`, v);
      const r = typeof ref === 'object' && ref !== null ? (ref as Record<string, unknown>) : undefined;
      for (const f of infos) {
        const value = read(v as T, f.name);
        if (f.omitted?.omitted === 'constant') {
          if (r !== undefined && JSON.stringify(value) !== JSON.stringify(r[f.name])) return `${path}.${f.name}: not the run's (${f.omitted.why})`;
          continue;
        }
        const bad = f.codec.check ? f.codec.check(value, `${path}.${f.name}`, env, r?.[f.name]) : null;
        if (bad !== null) return bad;
      }
      for (const k of Object.keys(v)) if (!known.has(k) && k !== 'kind') return `${path}.${k}: not a field of ${name}`;
      return null;
    },
    ...(rename ? { rename } : {}),
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
    ...(inner.check ? { check: inner.check } : {}),
    ...(inner.role ? { role: inner.role } : {}),
    ...(inner.rename ? { rename: inner.rename } : {}),
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
  const renames = kinds.some((k) => (variants as unknown as Record<string, StructCodec<unknown>>)[k]?.rename !== undefined);
  return {
    kind: 'tagged',
    variants,
    check: (v: unknown, path: string, env: CheckEnv, ref?: unknown) => {
      const kind = typeof v === 'object' && v !== null ? (v as { kind?: unknown }).kind : undefined;
      if (typeof kind !== 'string' || !index.has(kind)) return notA(`${path}.kind`, `one of ${kinds.join(', ')}`, kind);
      const variant = (variants as unknown as Record<string, StructCodec<unknown>>)[kind] as StructCodec<unknown>;
      const sameKind = typeof ref === 'object' && ref !== null && (ref as { kind?: unknown }).kind === kind;
      return variant.check ? variant.check(v, path, env, sameKind ? ref : undefined) : null;
    },
    ...(renames
      ? {
          rename: (v: T, r: Renaming): T => {
            const f = of(v).rename;
            return f ? (f(v, r) as T) : v;
          },
        }
      : {}),
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
