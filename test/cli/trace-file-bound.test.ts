/**
 * `run --trace FILE` writes at most what shootdown reads back (--replay, view and export-trace take
 * files up to MAX_INPUT_BYTES): a run whose trace would pass it stops as bad input (exit 2, one line
 * naming --trace and the bound) and leaves no file. Found by fuzzing: a guest program mutated into a
 * loop on VM exits (["io", {"jmp": 0}]) writes about 160 bytes a step until options.maxSteps (allowed
 * up to 10^8: some 16 GB), a file `run --replay` then refused. TRACE_FILE_LIMIT is lowered here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { TRACE_FILE_LIMIT } from '../../src/cli/run-command.js';
import { MAX_INPUT_BYTES } from '../../src/cli/input-file.js';
import { memoryIo } from './memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-trace-bound-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  TRACE_FILE_LIMIT.bytes = MAX_INPUT_BYTES;
});

describe('run --trace: the trace file is bounded by what can be read back', () => {
  it('is MAX_INPUT_BYTES by default', () => {
    expect(TRACE_FILE_LIMIT.bytes).toBe(MAX_INPUT_BYTES);
  });

  it('a run whose trace would pass the bound exits 2 naming it, and leaves no file', async () => {
    const file = path.join(dir, 'cut.jsonl');
    const whole = path.join(dir, 'whole.jsonl');
    expect(await main(['run', 'T5', '--trace', whole], memoryIo().cli)).toBe(0);
    const size = fs.statSync(whole).size;
    TRACE_FILE_LIMIT.bytes = Math.floor(size / 2);
    const t = memoryIo();
    expect(await main(['run', 'T5', '--trace', file], t.cli)).toBe(2);
    expect(t.err()).toMatch(new RegExp(`^shootdown: --trace '[^']*cut\\.jsonl': the run's trace passes ${Math.floor(size / 2)} bytes, the most shootdown reads back \\(--replay, view, export-trace\\); lower options\\.maxSteps`));
    expect(t.err().trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('cut'))).toEqual([]);
    // A trace exactly as large as the bound is written whole.
    TRACE_FILE_LIMIT.bytes = size;
    expect(await main(['run', 'T5', '--trace', file], memoryIo().cli)).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(fs.readFileSync(whole, 'utf8'));
  });
});
