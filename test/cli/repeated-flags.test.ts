/**
 * An option that takes one value, given twice with different values: parseArgs keeps the last, so
 * `--seed abc --seed 2` ran seed 2 and never checked "abc". The built command refuses it (exit 2, one
 * line naming the option and both values, nothing on stdout, no trace file); the same value twice,
 * and repeatable options (--fix, --property), are taken as before.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtCli } from './built-cli.js';

const { dir, shootdown } = builtCli('repeated');

describe('a one-value option given twice', () => {
  it.each([
    [['run', 'T5', '--seed', 'abc', '--seed', '2', '--trace', 't.jsonl'], '--seed given twice ("abc", then "2")'],
    [['run', 'T5', '--kernel', 'v5.10', '--kernel', 'mainline', '--trace', 't.jsonl'], '--kernel given twice ("v5.10", then "mainline")'],
    [['explore', 'R2', '--cpus', '2', '--cpus', '3', '--out', 'o'], '--cpus given twice ("2", then "3")'],
    [['explore', 'R2', '--max-states', '10', '--max-states=-1', '--out', 'o'], '--max-states given twice ("10", then "-1")'],
  ])('%j: exit 2 naming both values, nothing written', (args, message) => {
    const r = shootdown(args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(message);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('the same value twice, and a repeatable option given twice, run as before', () => {
    const same = shootdown(['run', 'T5', '--seed', '3', '--seed', '3', '--json']);
    expect(same.status, same.stderr).toBe(0);
    const once = shootdown(['run', 'T5', '--seed', '3', '--json']);
    expect(same.stdout).toBe(once.stdout);
    const fixes = shootdown(['run', 'T5', '--kernel', 'v5.10', '--fix', 'vmxoff-eats-faults', '--fix', 'shootdown-if-vmx-supported', '--json']);
    expect(fixes.status, fixes.stderr).toBe(0);
  });
});
