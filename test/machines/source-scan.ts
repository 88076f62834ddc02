/**
 * For tests that read the project's own source as text (no casts, no module state): the TypeScript
 * files under a folder, and a file's code with comments and string and template literals blanked.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every .ts/.tsx file under `dir` (no declaration files, nothing under node_modules). */
export function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The source with comments and string and template literals blanked (newlines kept, so line
 * numbers stay): what is left is code.
 */
export function codeOnly(text: string): string {
  let out = '';
  let i = 0;
  const blank = (end: number): void => {
    out += text.slice(i, end).replace(/[^\n]/g, ' ');
    i = end;
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      blank(end < 0 ? text.length : end);
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      blank(end < 0 ? text.length : end + 2);
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      blank(Math.min(j + 1, text.length));
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}
