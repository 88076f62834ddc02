/**
 * A JSON document too large for one string (V8 caps a string at 2^29 − 24 characters, ~512 MiB): the
 * text of `JSON.stringify(doc, null, indent)`, character for character, in pieces. The values of the
 * document's top-level keys that are arrays (or `JsonSequence`s, made one element at a time) are
 * written element by element, so no piece is longer than one element's text.
 */

/** An array written element by element as its elements are made (their objects are never all held at once). */
export class JsonSequence {
  constructor(readonly items: () => Iterable<unknown>) {}
}

/** `JSON.stringify(value, null, indent)`, with every line after the first indented by `pad`. */
function nested(value: unknown, indent: number, pad: string): string {
  const text = JSON.stringify(value, null, indent) ?? 'null';
  return pad === '' || !text.includes('\n') ? text : text.replace(/\n/g, `\n${pad}`);
}

export function* jsonPieces(doc: Record<string, unknown>, indent: number): Generator<string> {
  const pad1 = ' '.repeat(indent);
  const pad2 = pad1 + pad1;
  // As JSON.stringify: a key whose value is undefined (or a function) is left out.
  const keys = Object.keys(doc).filter((k) => doc[k] !== undefined && typeof doc[k] !== 'function');
  if (keys.length === 0) {
    yield '{}';
    return;
  }
  yield '{';
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as string;
    const value = doc[key];
    const comma = k < keys.length - 1 ? ',' : '';
    const name = `\n${pad1}${JSON.stringify(key)}: `;
    if (!Array.isArray(value) && !(value instanceof JsonSequence)) {
      yield `${name}${nested(value, indent, pad1)}${comma}`;
      continue;
    }
    let first = true;
    for (const item of Array.isArray(value) ? value : value.items()) {
      // Arrays write undefined (and functions) as null, as JSON.stringify does.
      yield `${first ? `${name}[` : ','}\n${pad2}${item === undefined || typeof item === 'function' ? 'null' : nested(item, indent, pad2)}`;
      first = false;
    }
    yield first ? `${name}[]${comma}` : `\n${pad1}]${comma}`;
  }
  yield '\n}';
}
