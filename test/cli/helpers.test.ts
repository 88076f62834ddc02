/**
 * The small modules the commands share: terminal escaping and cutting, "did you mean", and output
 * files that are renamed into place whole or not at all.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clip, errorLine, escapeControls, quote } from '../../src/cli/terminal.js';
import { closest, editDistance } from '../../src/cli/suggest.js';
import { OutputFile, OutputFileError, outputTargetProblem } from '../../src/cli/output-file.js';
import { duplicateKey, parseJsonText } from '../../src/scenarios/json-text.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-helpers-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('escapeControls', () => {
  it.each([
    ['plain text', 'plain text'],
    ['OSC 52: \u001b]52;c;aGk=\u0007', 'OSC 52: \\x1b]52;c;aGk=\\x07'],
    ['a\nb\tc\rd', 'a\\nb\\tc\\rd'],
    ['C1 CSI \u009b2J and DEL \u007f', 'C1 CSI \\x9b2J and DEL \\x7f'],
    ['bidi \u202eevil', 'bidi \\u202eevil'],
    ['a backslash \\ with \u001b', 'a backslash \\\\ with \\x1b'],
    ['a backslash \\ alone', 'a backslash \\ alone'],
  ])('%j → %j', (input, output) => {
    expect(escapeControls(input)).toBe(output);
  });

  it('never lets a control character through (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(escapeControls(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      }),
    );
  });
});

describe('clip, quote and errorLine', () => {
  it('clip keeps short text and says how much of long text it left out', () => {
    expect(clip('abc', 5)).toBe('abc');
    expect(clip('abcdefgh', 5)).toBe('abcde… (3 more characters)');
    // A surrogate pair is not split.
    expect(clip('abcd😀xyz', 5)).toBe('abcd… (5 more characters)');
  });

  it('quote cuts, then escapes', () => {
    expect(quote(`${'a'.repeat(100)}\u001b`)).toBe(`${'a'.repeat(80)}… (21 more characters)`);
    expect(quote('x\ny')).toBe('x\\ny');
  });

  it('errorLine: one line, a 10 MB run cut, a long path kept', () => {
    const longPath = `/tmp/${'d'.repeat(150)}/trace.jsonl`;
    expect(errorLine(`${longPath}: is a directory`)).toBe(`${longPath}: is a directory`);
    const line = errorLine(`options.${'k'.repeat(10_000_000)}: unknown key\nsecond line`);
    expect(line.length).toBeLessThan(1100);
    expect(line).toContain('more characters');
    expect(line).not.toContain('\n');
    expect(line).toContain('unknown key\\nsecond line');
  });
});

describe('did you mean', () => {
  const switches = ['emergency-callback-sets-kvm-rebooting', 'virt-disable-via-kvm-callback', 'vmxoff-eats-faults'];
  it.each([
    ['rnu', ['run', 'explore', 'view', 'export', 'export-trace', 'list', 'kernels', 'help'], 'run'],
    ['mainlin', ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'], 'mainline'],
    ['emergency-callback-set-kvm-rebooting', switches, 'emergency-callback-sets-kvm-rebooting'],
    ['--no-fixes', ['--fix', '--no-fix', '--seed'], '--no-fix'],
    ['t5', ['T5', 'T6'], 'T5'],
    ['vmxoff', switches, 'vmxoff-eats-faults'],
    ['zzzz', ['run', 'list'], null],
    ['', ['run'], null],
  ])('%j → %j', (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected);
  });

  it('editDistance counts a swap of neighbours as one edit, and stops at the limit', () => {
    expect(editDistance('rnu', 'run')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('a'.repeat(50), 'b'.repeat(50), 2)).toBe(3);
  });
});

describe('OutputFile', () => {
  it('the target appears only on close, whole; nothing is left beside it', () => {
    const target = path.join(dir, 'out.txt');
    const f = new OutputFile(target);
    f.write('one\n');
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(f.temp)).toBe(true);
    f.write('two\n');
    f.close();
    expect(fs.readFileSync(target, 'utf8')).toBe('one\ntwo\n');
    expect(fs.readdirSync(dir)).toEqual(['out.txt']);
  });

  it('abort leaves an existing target as it was', () => {
    const target = path.join(dir, 'kept.txt');
    fs.writeFileSync(target, 'before');
    const f = new OutputFile(target);
    f.write('after');
    f.abort();
    expect(fs.readFileSync(target, 'utf8')).toBe('before');
    expect(fs.readdirSync(dir).filter((n) => n.includes('kept.txt'))).toEqual(['kept.txt']);
  });

  it('a target that became a directory while written is not clobbered: close throws and removes the temporary file', () => {
    const target = path.join(dir, 'becomes-dir');
    const f = new OutputFile(target);
    f.write('x');
    fs.mkdirSync(target);
    expect(() => f.close()).toThrow(OutputFileError);
    expect(fs.statSync(target).isDirectory()).toBe(true);
    expect(fs.existsSync(f.temp)).toBe(false);
  });

  it('outputTargetProblem names what the target is', () => {
    expect(outputTargetProblem(path.join(dir, 'new.txt'))).toBeNull();
    expect(outputTargetProblem(dir)).toBe('is a directory');
    expect(outputTargetProblem('/dev/null')).toBe('is a device, not a regular file');
    expect(outputTargetProblem(`${dir}/`)).toBe('names a directory');
  });
});

describe('duplicate keys', () => {
  it.each([
    ['{"a":1,"b":2}', null],
    ['{"a":{"b":1},"c":{"b":2}}', null],
    ['[{"a":1},{"a":2}]', null],
    ['{"a":1,"a":2}', 'a'],
    ['{"s":[0,{"x":"\\"a\\":","x":1}]}', 's[1].x'],
    ['{"a\\u0062":1,"ab":2}', 'ab'],
    ['{"a b":1,"a b":2}', '["a b"]'],
  ])('%s → %j', (text, path) => {
    expect(duplicateKey(text)?.path ?? null).toBe(path);
  });

  it('agrees with a reference on generated objects: no duplicate in JSON.stringify output, one when a key is repeated', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (o, k) => {
        const text = JSON.stringify(o);
        expect(duplicateKey(text)).toBeNull();
        const twice = `{${JSON.stringify(k)}:1,${text.slice(1, -1)}${text === '{}' ? '' : ','}${JSON.stringify(k)}:2}`;
        expect(duplicateKey(twice)).not.toBeNull();
      }),
    );
  });

  it('parseJsonText reports it with its line and column', () => {
    expect(parseJsonText('{\n "a": 1,\n "a": 2\n}')).toEqual({ ok: false, line: 3, column: 2, reason: "duplicate key 'a'" });
  });
});
