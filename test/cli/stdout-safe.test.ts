/**
 * No control character from input reaches the terminal raw on stdout, whatever the command and format:
 * JSON escapes C0 but not C1 (U+009B is a one-character CSI) or the bidi overrides, and view's own lines
 * quoted the scenario's name. JSON stays JSON: the escaped text parses back to the same string.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, nodeIo, type CliIo } from '../../src/cli/main.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-stdout-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const NAME = 'nm\u009b31m\u202eevil\u001b]52;c;SGVsbG8=\u0007';
const file = path.join(dir, 'evil.json');
fs.writeFileSync(file, JSON.stringify({ name: NAME, machine: { cpus: 2 }, script: [{ cpu: 0, do: 'panic', at: 0, message: 'x\u009by\u2066' }] }));
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const io: CliIo = { ...nodeIo, isTty: false, stdout: (t) => void (out += t), stderr: () => {} };
  return { code: await main(argv, io), out };
}

describe('stdout carries no raw control character', () => {
  it('run --json: escaped, and the JSON parses back to the name as written', async () => {
    const r = await run(['run', file, '--json']);
    expect(r.code).toBe(0);
    expect(RAW.test(r.out)).toBe(false);
    expect((JSON.parse(r.out) as { scenario: { name: string } }).scenario.name).toBe(NAME);
  });

  it.each([['run'], ['view --out'], ['export-trace']])('%s', async (what) => {
    const trace = path.join(dir, 'evil.jsonl');
    await run(['run', file, '--trace', trace, '--json']);
    const argv = what === 'run' ? ['run', file] : what === 'view --out' ? ['view', file, '--out', path.join(dir, 'site'), '--force'] : ['export-trace', trace];
    const r = await run(argv);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThan(0);
    expect(RAW.test(r.out)).toBe(false);
  });
});
