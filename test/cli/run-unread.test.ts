/**
 * `run` without a trace file, a replay or `--steps` leaves out the records it does not read (step, choice,
 * instruction and timer records: the simulation's `unread`). What it prints must not move: the timeline,
 * the outcome and the JSON document are the same as those of the run that writes every record to a trace.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.js';
import { memoryIo } from './memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-unread-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function stdout(argv: string[]): Promise<string> {
  const io = memoryIo();
  expect(await main(argv, io.cli)).toBe(0);
  return io.out();
}

describe('run prints the same without the records it does not read', () => {
  it.each(BUILTIN_SCENARIOS.map((b) => b.id))('%s: timeline, --json and --json --timeline', async (id) => {
    for (const extra of [[], ['--json'], ['--json', '--timeline']]) {
      const argv = ['run', id, '--seed', '2', ...extra];
      const trace = path.join(dir, `${id}.jsonl`);
      expect(await stdout(argv)).toBe(await stdout([...argv, '--trace', trace]));
    }
  });
});
