/**
 * JSON.parse with a syntax error that says where: line and column (both from 1) and the reason.
 * V8 puts the offset in most of its messages ("... in JSON at position 12"); for the others
 * ("Unexpected token ']', "[1,]" is not valid JSON") the offset is found by scanning the text.
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

const AT_POSITION = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?/;
const NOT_VALID = /is not valid JSON$/;

export function parseJsonText(text: string): JsonText {
  // An editor's byte-order mark is not part of the JSON, and not something to complain about.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
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
