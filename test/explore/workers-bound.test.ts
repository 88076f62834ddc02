/**
 * `explore --workers W --max-states N` bounds the whole search at N states, as `--help` says, not N for
 * each worker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-workers-bound-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function explore(args: string[]): Promise<{ code: number; json: { complete: boolean; stoppedBy: string[]; statesVisited: number; bounds: { maxStates: number } } }> {
  const t = memoryIo();
  const code = await main(['explore', ...args, '--json', '--out', dir], t.cli);
  return { code, json: JSON.parse(t.out()) };
}

describe('--max-states with --workers', () => {
  it.each([[2], [3]])('with %i workers the states visited, summed over the workers, stay within the bound', async (workers) => {
    const bound = 301;
    const { code, json } = await explore(['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-states', String(bound), '--workers', String(workers)]);
    expect(json.stoppedBy).toEqual(['max-states']);
    expect(json.complete).toBe(false);
    expect(code).toBe(3);
    expect(json.bounds.maxStates).toBe(bound);
    expect(json.statesVisited).toBeLessThanOrEqual(bound);
    // The workers share the bound: together they use it up.
    expect(json.statesVisited).toBeGreaterThanOrEqual(bound - workers);
  });

  it('a search that fits in the bound completes, however unevenly the root splits it between the workers', async () => {
    // T3 with 2 workers: 6,836 states in all, nearly all of them one worker's (a split of the bound
    // stopped that worker at 3,500 while the other had the root alone).
    const one = await explore(['T3', '--max-states', '7000']);
    const { code, json } = await explore(['T3', '--max-states', '7000', '--workers', '2']);
    expect(one.json.complete).toBe(true);
    expect({ code, complete: json.complete, stoppedBy: json.stoppedBy }).toEqual({ code: one.code, complete: true, stoppedBy: [] });
    expect(json.statesVisited).toBeLessThanOrEqual(7000);
  });

  it('more workers than states: still at most the bound', async () => {
    const { json } = await explore(['R2', '--kernel', 'mainline', '--property', 'no-kernel-bug', '--max-states', '2', '--workers', '4']);
    expect(json.statesVisited).toBeLessThanOrEqual(2);
    expect(json.stoppedBy).toEqual(['max-states']);
  });

  it('--help says how the bound applies with workers', async () => {
    const t = memoryIo();
    expect(await main(['explore', '--help'], t.cli)).toBe(0);
    expect(t.out()).toMatch(/--max-states N[^\n]*stop after N states \(with --workers W: N in all/);
  });
});
