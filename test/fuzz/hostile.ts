/**
 * Arbitraries for hostile input: the values a careless or malicious scenario or trace file holds
 * (sizes far past any machine, control sequences, pathological patterns, wrong types), and
 * mutations that put them anywhere in an otherwise valid document.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Strings a terminal or a parser should not trust. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '\x1b]52;c;c2hvb3Rkb3du\x07', // OSC 52: write the clipboard
    '\x1b[2J\x1b[H', // clear the screen
    'line\n[  0.000] cpu0 forged timeline line',
    '\u009b31mred', // CSI as one C1 character
    '\x00\x07\x08\x7f',
    '%E0%A4%A',
    '../../../../etc/passwd',
    '__proto__',
    'constructor',
    '',
    ' ',
    '\uFEFF',
    '\ud800',
    '**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.x',
    Array.from({ length: 400 }, (_, i) => `s${i}`).join('|'),
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'x'.repeat(n)),
);

/** Numbers at and past every bound a field could have. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, 1, 2, 3, 255, 256, 4096, 8193, 65536, 30_000_000, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -0, 0.5, 1e-9),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, false, [], {}) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.array(hostileNumber, { maxLength: 5 }) },
);

/** Every path to a value in a JSON document, root first. */
export function pathsOf(doc: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(doc)) doc.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (doc !== null && typeof doc === 'object') for (const [k, v] of Object.entries(doc)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

export type Mutation =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Json };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: hostileString, value: hostileValue }) },
);

/** Applies a mutation to a copy of `doc`; `at` picks one of its paths (modulo their count). */
export function mutate(doc: Json, m: Mutation): Json {
  const copy = structuredClone(doc);
  const paths = pathsOf(copy);
  const target = paths[m.at % paths.length] as (string | number)[];
  if (target.length === 0) return m.kind === 'replace' ? m.value : copy;
  let parent: Json = copy;
  for (const k of target.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k] as Json;
  const last = target[target.length - 1] as string | number;
  const holder = parent as Record<string | number, Json>;
  if (m.kind === 'replace') holder[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete holder[last];
  } else {
    const node = holder[last];
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      Object.defineProperty(node, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    } else if (Array.isArray(node)) node.push(m.value);
  }
  return copy;
}

/** Damage done to the text itself, after serialisation. */
export type TextDamage =
  | { kind: 'none' }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate-key' }
  | { kind: 'bom' }
  | { kind: 'flip'; at: number; char: string }
  | { kind: 'deep'; depth: number };

export const textDamageArb: fc.Arbitrary<TextDamage> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'duplicate-key' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bom' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), char: fc.constantFrom('{', '}', '"', ',', ':', '\\', '\n', '\x1b', '9') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), depth: fc.integer({ min: 1_000, max: 100_000 }) }) },
);

export function damage(text: string, d: TextDamage): string {
  switch (d.kind) {
    case 'none':
      return text;
    case 'truncate':
      return text.slice(0, d.at % (text.length + 1));
    case 'duplicate-key': {
      const i = text.indexOf('{');
      return i < 0 ? text : `${text.slice(0, i + 1)}"name":"dup",${text.slice(i + 1)}`;
    }
    case 'bom':
      return `\uFEFF${text}`;
    case 'flip': {
      const i = d.at % Math.max(1, text.length);
      return text.slice(0, i) + d.char + text.slice(i + 1);
    }
    case 'deep':
      return `${'['.repeat(d.depth)}${']'.repeat(d.depth)}`;
  }
}
