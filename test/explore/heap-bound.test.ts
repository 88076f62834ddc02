/**
 * A search stops when the JavaScript heap is nearly full, as at any other bound: `stoppedBy: ['memory']`,
 * exit 3 with a line saying how to go on. The states a search keeps grow with --max-states (allowed up to
 * 10^9): `explore T1 --cpus 12 --max-states 3000000` under a 300 MB heap died with "FATAL ERROR: … heap
 * out of memory" and a native stack (exit 134) before this bound (found by fuzzing the options).
 * HEAP_BOUND is lowered here to make any heap count as full.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { HEAP_BOUND } from '../../src/explore/options.js';
import { memoryIo } from '../cli/memory-io.js';

const saved = HEAP_BOUND.fraction;
afterEach(() => {
  HEAP_BOUND.fraction = saved;
});

describe('explore: the heap bound', () => {
  it('a search past the heap bound stops with stoppedBy memory and exits 3, not with a crash', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-heap-bound-'));
    try {
      HEAP_BOUND.fraction = 0;
      const t = memoryIo();
      const code = await main(['explore', 'T5', '--kernel', 'mainline', '--max-states', '20000', '--no-pnr', '--json', '--out', dir], t.cli);
      const json = JSON.parse(t.out()) as { complete: boolean; stoppedBy: string[]; statesVisited: number };
      expect(json.stoppedBy).toEqual(['memory']);
      expect(json.complete).toBe(false);
      expect(json.statesVisited).toBeLessThan(20000);
      expect(code).toBe(3);
      const human = memoryIo();
      expect(await main(['explore', 'T5', '--kernel', 'mainline', '--max-states', '20000', '--no-pnr', '--out', dir], human.cli)).toBe(3);
      expect(human.out()).toMatch(/stopped: the JavaScript heap was three-quarters full: lower --max-states or --cpus, or give node more \(NODE_OPTIONS=--max-old-space-size=MB\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('under the bound, the same search is not stopped by it', async () => {
    const t = memoryIo();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-heap-bound-'));
    try {
      expect(await main(['explore', 'T5', '--kernel', 'mainline', '--max-states', '3000', '--no-pnr', '--json', '--out', dir], t.cli)).toBe(3);
      expect((JSON.parse(t.out()) as { stoppedBy: string[] }).stoppedBy).toEqual(['max-states']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
