/**
 * explore's --out files, all or none: a failure after the first file is in place removes what the call
 * wrote (its files at names that were free, its temporary files, the directories it made), and leaves a
 * file that was there before. (The CLI's own cases, a name taken before the search, are in
 * exit2-leaves-nothing.test.ts; a failure this late needs a target that changes under the write, made
 * here by two files of the list that collide.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeOutFiles } from '../../src/cli/out-files.js';
import { InputError } from '../../src/cli/scenario-args.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-out-files-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Every path under `dir`, temporary files included. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('writeOutFiles', () => {
  it('writes every file, making the directories they need', () => {
    const out = path.join(root, 'ok');
    expect(writeOutFiles([{ dir: out, name: 'a.jsonl', text: 'a\n' }, { dir: path.join(out, 'sub'), name: 'b.json', text: 'b\n' }])).toEqual([path.join(out, 'a.jsonl'), path.join(out, 'sub', 'b.json')]);
    expect(tree(out)).toEqual(['a.jsonl', 'sub', path.join('sub', 'b.json')]);
  });

  it('a rename that fails after others were put in place: they are removed, the directory made is removed, a file there before stays', () => {
    const out = path.join(root, 'late');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.jsonl'), 'before\n');
    // 'sub' is free when checked; by its rename it is the directory the second file made.
    const files = [
      { dir: out, name: 'x.jsonl', text: 'x\n' },
      { dir: out, name: 'old.jsonl', text: 'new\n' },
      { dir: path.join(out, 'sub'), name: 'y.json', text: 'y\n' },
      { dir: out, name: 'sub', text: 'z\n' },
    ];
    expect(() => writeOutFiles(files)).toThrow(InputError);
    expect(tree(out)).toEqual(['old.jsonl']);
    // Replaced before the failure: its name was not free, so it is not removed (its text is the run's).
    expect(fs.existsSync(path.join(out, 'old.jsonl'))).toBe(true);
  });

  it('a directory it had to make for the first file is gone after a failure', () => {
    const parent = path.join(root, 'made');
    fs.mkdirSync(parent);
    const out = path.join(parent, 'new', 'deeper');
    expect(() => writeOutFiles([{ dir: out, name: 'a', text: '' }, { dir: path.join(out, 'a'), name: 'b', text: '' }])).toThrow(InputError);
    expect(tree(parent)).toEqual([]);
  });
});
