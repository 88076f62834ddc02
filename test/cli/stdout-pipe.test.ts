/**
 * stdout that takes its time (a pipe read slower than the run writes) and stdout that fails (a full
 * disk): a run waits for its reader, so what it holds stays bounded; a write error is one line on
 * stderr and exit 74, never a stack.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';
import { everyCpuRestarts as restartsFile } from './every-cpu-restarts.js';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-stdout-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const everyCpuRestarts = (cpus: number): string => restartsFile(dir, cpus);

describe('a run writing to a slow reader', () => {
  it('waits for the reader: what is written and not yet read stays bounded, whatever the length of the output', async () => {
    const file = everyCpuRestarts(128);
    // A pipe of 64 KiB whose reader takes what is there only when the run waits for it.
    const PIPE = 64 * 1024;
    let unread = 0;
    let mostUnread = 0;
    let total = 0;
    const { cli: base } = memoryIo();
    const io: CliIo = {
      ...base,
      stdout: (t) => {
        unread += t.length;
        total += t.length;
        mostUnread = Math.max(mostUnread, unread);
      },
      stdoutBusy: () =>
        unread < PIPE
          ? null
          : new Promise<void>((resolve) =>
              setImmediate(() => {
                unread = 0;
                resolve();
              }),
            ),
    };
    expect(await main(['run', file], io)).toBe(0);
    expect(total).toBeGreaterThan(2 * 1024 * 1024);
    // The run's 64 KiB chunks and a few steps' lines (a step writes at most a line per CPU).
    expect(mostUnread).toBeLessThan(total / 4);
    expect(mostUnread).toBeLessThan(1024 * 1024);
  });
});

describe('stdout that cannot be written', () => {
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  });

  it.skipIf(!fs.existsSync('/dev/full'))('a full device: one line naming the error, exit 74, no stack', () => {
    for (const args of [['list'], ['run', 'T1']]) {
      const out = fs.openSync('/dev/full', 'w');
      try {
        const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
        expect(r.status).toBe(74);
        expect(r.stderr).toBe('shootdown: cannot write to stdout: ENOSPC: no space left on device, write\n');
      } finally {
        fs.closeSync(out);
      }
    }
  });
});
