/**
 * A negative number given to a numeric option reaches the option's own check (which names the option
 * and its range) in every command, not node's "argument is ambiguous".
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';

async function cli(args: string[]): Promise<{ code: number; err: string }> {
  const t = memoryIo();
  const code = await main(args, t.cli);
  return { code, err: t.err() };
}

describe('negative numbers as option values', () => {
  it.each([
    [['run', 'T5', '--seed', '-1'], /^shootdown: --seed: expected an integer from 0 to 4294967295, got '-1'\n$/],
    [['export', 'vcpu', '--depth', '-1'], /^shootdown: --depth: expected a positive integer, got '-1'\n$/],
    [['view', 'T5', '--port', '-1'], /^shootdown: --port: expected an integer from 0 to 65535, got '-1'\n$/],
    [['explore', 'R1', '--seed', '-1'], /^shootdown: --seed: expected a whole number from 0 to [\d,]+, got "-1" \(too small\)\n$/],
  ])('%j is refused by the option\'s own range check', async (args, message) => {
    const { code, err } = await cli(args);
    expect(err).not.toMatch(/ambiguous/);
    expect(err).toMatch(message);
    expect(code).toBe(2);
  });
});
