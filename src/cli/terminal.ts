/**
 * Text from input (scenario names, panic messages, keys, file names, trace lines) on its way to a
 * terminal: control characters are shown, not obeyed, so a value cannot set the clipboard (OSC 52),
 * clear the screen (ESC [2J) or forge a line of the timeline with a newline; and a value quoted in
 * an error line is cut to a readable length.
 */

// C0 controls, DEL and the C1 controls (U+0080–U+009F: 0x9B is a one-character CSI on some terminals),
// and the bidirectional overrides and isolates, which reorder what a line appears to say.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every control character written as a visible escape: ESC as `\x1b`, a newline as `\n`.
 * Text without control characters comes back unchanged (a backslash is doubled only when the text
 * also holds a control character, so that the escapes stay unambiguous there).
 */
export function escapeControls(text: string): string {
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(text)) return text;
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\\]/g, escapeOne);
}

/** The length an error line quotes of a value before cutting it. */
export const QUOTE_MAX = 80;

/** `text` cut to `max` characters, with how much was left out: `abc… (1234 more characters)`. */
export function clip(text: string, max = QUOTE_MAX): string {
  if (text.length <= max) return text;
  // Do not split a surrogate pair.
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
}

/** A value from input as an error line shows it: cut to `max`, then its controls escaped. */
export function quote(text: string, max = QUOTE_MAX): string {
  return escapeControls(clip(text, max));
}

/** The longest error line printed, whatever it quotes. */
export const ERROR_LINE_MAX = 1000;
/** The longest run without a space kept whole in an error line: room for a long path, not a 10 MB key. */
export const ERROR_RUN_MAX = 200;

/**
 * An error message made fit for one line of stderr: controls escaped, every run of more than
 * ERROR_RUN_MAX characters without a space (a long key or value quoted by whoever built the
 * message) cut, and the whole cut to ERROR_LINE_MAX.
 */
export function errorLine(message: string): string {
  return clip(clipRuns(escapeControls(message), ERROR_RUN_MAX), ERROR_LINE_MAX);
}

/** Every run of more than `max` characters without a space, cut. (A loop: a regular expression overflows V8's stack on a 10 MB run.) */
function clipRuns(text: string, max: number): string {
  const parts: string[] = [];
  let kept = 0;
  let runStart = -1;
  for (let i = 0; i <= text.length; i++) {
    const space = i === text.length || text.charCodeAt(i) === 0x20;
    if (!space) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart > max) {
        parts.push(text.slice(kept, runStart), clip(text.slice(runStart, i), max));
        kept = i;
      }
      runStart = -1;
    }
  }
  parts.push(text.slice(kept));
  return parts.join('');
}

// What may still reach stdout raw from a writer that escapes C0 its own way (JSON escapes C0 but not C1
// or the bidi controls; a mermaid export turns C0 into pictures): everything but newline and tab.
const STDOUT_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The last guard before stdout: any control character left (other than newline and tab) is written as
 * `\uXXXX`, which inside a JSON string is the same character and elsewhere is visible text.
 */
export function stdoutSafe(text: string): string {
  STDOUT_CONTROL.lastIndex = 0;
  if (!STDOUT_CONTROL.test(text)) return text;
  return text.replace(STDOUT_CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `text` as one word of a POSIX shell command line the user can paste: as it is when it holds only
 * characters no shell treats specially, else in single quotes, or as bash's `$'…'` with every control
 * character written as an escape (so the word is safe on a terminal too). A word that starts with `-`
 * gets `./` in front, so that it is not taken for an option.
 */
export function shellWord(text: string): string {
  const word = text.startsWith('-') ? `./${text}` : text;
  if (/^[A-Za-z0-9_/.,:@%+=-]+$/.test(word)) return word;
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(word)) return `'${word.replace(/'/g, `'\\''`)}'`;
  // In $'…' bash reads \xHH as one byte: a character past ASCII is written as its UTF-8 bytes, so the
  // name bash makes is the file's (U+0085 is \xc2\x85, not the byte 0x85).
  const bytes = (c: string): string => [...Buffer.from(c, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  return `$'${word.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\\']/g, (c) => (c === "'" ? "\\'" : c.charCodeAt(0) < 0x80 ? escapeOne(c) : bytes(c)))}'`;
}

/**
 * The command that replays a trace, to paste into a shell: a trace's header keeps a scenario file's id
 * (its name without directories or `.json`), not its path, so a run of a file names the file.
 */
export function replayCommand(scenarioFile: string | null, traceFile: string): string {
  return `shootdown run ${scenarioFile === null ? '' : `${shellWord(scenarioFile)} `}--replay ${shellWord(traceFile)}`;
}
