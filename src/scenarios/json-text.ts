/**
 * JSON.parse with a syntax error that says where: line and column (both from 1) and the reason.
 * V8 puts the offset in most of its messages ("... in JSON at position 12"); for the others
 * ("Unexpected token ']', "[1,]" is not valid JSON") the offset is found by scanning the text.
 * A key given twice in one object is refused too: JSON.parse keeps the last silently, so the file
 * would not mean what one of its lines says (RFC 8259 §4: names SHOULD be unique).
 */

export type JsonText = { ok: true; value: unknown } | { ok: false; line: number; column: number; reason: string };

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9A-Fa-f]$/;
const DIGIT = /^[0-9]$/;

/**
 * The offset of the first character that makes `text` not JSON (RFC 8259), or text.length when the
 * text ends too early. Iterative, so that deep nesting cannot exhaust the stack.
 */
export function syntaxErrorOffset(text: string): number {
  const n = text.length;
  let i = 0;
  const skipWhitespace = (): void => {
    while (i < n && WHITESPACE.has(text[i] ?? '')) i++;
  };
  const digits = (): boolean => {
    if (!DIGIT.test(text[i] ?? '')) return false;
    while (DIGIT.test(text[i] ?? '')) i++;
    return true;
  };
  const string = (): boolean => {
    i++; // the opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined || c < ' ') return false;
      if (c === '"') {
        i++;
        return true;
      }
      if (c === '\\') {
        i++;
        const e = text[i] ?? '';
        if (ESCAPES.has(e)) i++;
        else if (e === 'u') {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!HEX.test(text[i] ?? '')) return false;
        } else return false;
      } else i++;
    }
  };
  const number = (): boolean => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (!digits()) return false;
    if (text[i] === '.') {
      i++;
      if (!digits()) return false;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!digits()) return false;
    }
    return true;
  };
  const literal = (word: string): boolean => {
    for (const c of word) {
      if (text[i] !== c) return false;
      i++;
    }
    return true;
  };
  const scalar = (): boolean => {
    const c = text[i] ?? '';
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || DIGIT.test(c)) return number();
    return false;
  };
  // A property name and its colon; leaves i at the value.
  const key = (): boolean => {
    skipWhitespace();
    if (text[i] !== '"' || !string()) return false;
    skipWhitespace();
    if (text[i] !== ':') return false;
    i++;
    return true;
  };

  const open: ('{' | '[')[] = [];
  for (;;) {
    // Here a value is expected.
    skipWhitespace();
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === (c === '{' ? '}' : ']')) i++;
      else {
        open.push(c);
        if (c === '{' && !key()) return i;
        continue;
      }
    } else if (!scalar()) return i;
    // Here a value has ended: a comma, a closing bracket, or the end of the text.
    for (;;) {
      skipWhitespace();
      const top = open[open.length - 1];
      if (top === undefined) return i;
      const d = text[i];
      if (d === ',') {
        i++;
        if (top === '{' && !key()) return i;
        break;
      }
      if (d !== (top === '{' ? '}' : ']')) return i;
      i++;
      open.pop();
    }
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Where a path step is a plain name, it is written `.name`; otherwise `["…"]`. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

interface Frame {
  /** The keys seen so far, for an object (a list while it is small); null for an array. */
  keys: string[] | Set<string> | null;
  key: string;
  index: number;
}

function pathOf(stack: readonly Frame[], last: string): string {
  let out = '';
  const step = (key: string) => (PLAIN_KEY.test(key) ? `${out === '' ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`);
  for (let f = 0; f < stack.length - 1; f++) {
    const frame = stack[f] as Frame;
    out += frame.keys === null ? `[${frame.index}]` : step(frame.key);
  }
  return out + step(last);
}

/**
 * The first key that `text` (valid JSON) gives twice in one object: its offset and its path
 * (`options.kdump`, `script[2].when`), or null. One pass, no recursion.
 */
export function duplicateKey(text: string): { offset: number; path: string } | null {
  const stack: Frame[] = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote (one not escaped by an odd run of backslashes).
      let j = text.indexOf('"', i + 1);
      for (;;) {
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      if (j < 0) return null;
      if (expectKey) {
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        const top = stack[stack.length - 1] as Frame;
        const keys = top.keys as string[] | Set<string>;
        if (Array.isArray(keys)) {
          if (keys.includes(key)) return { offset: i, path: pathOf(stack, key) };
          keys.push(key);
          if (keys.length > 32) top.keys = new Set(keys);
        } else {
          if (keys.has(key)) return { offset: i, path: pathOf(stack, key) };
          keys.add(key);
        }
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push({ keys: [], key: '', index: 0 });
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push({ keys: null, key: '', index: 0 });
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      const top = stack[stack.length - 1] as Frame;
      if (top.keys === null) top.index++;
      else expectKey = true;
    }
  }
  return null;
}

const AT_POSITION = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?/;
const NOT_VALID = /is not valid JSON$/;

export function parseJsonText(text: string): JsonText {
  // An editor's byte-order mark is not part of the JSON, and not something to complain about.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    const value = JSON.parse(body) as unknown;
    const dup = duplicateKey(body);
    if (dup !== null) return { ok: false, ...lineAndColumn(body, dup.offset), reason: `duplicate key '${dup.path}'` };
    return { ok: true, value };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const position = AT_POSITION.exec(message);
    const offset = position?.[1] !== undefined ? Number(position[1]) : syntaxErrorOffset(body);
    let reason = message.replace(AT_POSITION, '');
    if (NOT_VALID.test(message)) {
      // "Unexpected token 'x', "...text..." is not valid JSON": the quoted text helps nobody once the
      // line and column are given.
      const code = body.codePointAt(offset);
      reason =
        code === undefined
          ? 'Unexpected end of JSON input'
          : `Unexpected token '${JSON.stringify(String.fromCodePoint(code)).slice(1, -1)}'`;
    }
    return { ok: false, ...lineAndColumn(body, offset), reason };
  }
}
