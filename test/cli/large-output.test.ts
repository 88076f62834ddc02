/**
 * Output longer than one JavaScript string can be (V8: 2^29 − 24 characters): `run --json --timeline`
 * and `export-trace --format json` write their document in pieces; `view` refuses a run whose trace
 * passes what it takes, with exit 2 and what to use instead, before writing anything. The bounds are
 * lowered here so that small runs reach them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { JSON_TIMELINE_LIMIT } from '../../src/cli/json-output.js';
import { VIEW_TRACE_LIMIT } from '../../src/cli/viz-commands.js';
import { memoryIo } from './memory-io.js';
import { everyCpuRestarts as restartsFile } from './every-cpu-restarts.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-large-output-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const everyCpuRestarts = (cpus: number): string => restartsFile(dir, cpus);

/** An io that keeps each write apart. */
function chunked() {
  const base = memoryIo();
  const chunks: string[] = [];
  const cli: CliIo = { ...base.cli, stdout: (t) => chunks.push(t) };
  return { cli, chunks, err: base.err, text: () => chunks.join('') };
}

describe('documents longer than a string can be are written in pieces', () => {
  it('run --json --timeline: chunks of about 64 KiB that join into the document', async () => {
    const t = chunked();
    expect(await main(['run', everyCpuRestarts(32), '--json', '--timeline'], t.cli)).toBe(0);
    const doc = JSON.parse(t.text()) as { timeline: unknown[]; outcome: unknown };
    expect(doc.timeline.length).toBeGreaterThan(1000);
    expect(t.chunks.length).toBeGreaterThan(4);
    expect(Math.max(...t.chunks.map((c) => c.length))).toBeLessThan(128 * 1024);
    // The same document as the run's plain --json, with the timeline.
    const plain = memoryIo();
    expect(await main(['run', everyCpuRestarts(32), '--json'], plain.cli)).toBe(0);
    const { timeline: _t, ...rest } = doc;
    expect(rest).toEqual(JSON.parse(plain.out()));
  });

  it('export-trace --format json: chunks of about 64 KiB that join into the document', async () => {
    const trace = path.join(dir, 'er32.jsonl');
    expect(await main(['run', everyCpuRestarts(32), '--trace', trace], memoryIo().cli)).toBe(0);
    const t = chunked();
    expect(await main(['export-trace', trace, '--format', 'json'], t.cli)).toBe(0);
    const doc = JSON.parse(t.text()) as { records: unknown[] };
    expect(doc.records.length).toBe(fs.readFileSync(trace, 'utf8').trim().split('\n').length);
    expect(t.chunks.length).toBeGreaterThan(4);
    expect(Math.max(...t.chunks.map((c) => c.length))).toBeLessThan(128 * 1024);
  });
});

describe('past what one document holds: exit 2 naming the bound and what to use instead', () => {
  it('run --json --timeline with more timeline lines than the bound: exit 2, nothing on stdout, no trace file left', async () => {
    const was = JSON_TIMELINE_LIMIT.lines;
    JSON_TIMELINE_LIMIT.lines = 500;
    try {
      const t = memoryIo();
      const trace = path.join(dir, 'over.jsonl');
      expect(await main(['run', everyCpuRestarts(32), '--json', '--timeline', '--trace', trace], t.cli)).toBe(2);
      expect(t.out()).toBe('');
      expect(t.err()).toMatch(/^shootdown: --json --timeline: the run's timeline passed 500 lines, the most one JSON document holds .*--trace FILE.*without --json\n$/);
      expect(fs.existsSync(trace)).toBe(false);
      // Under the bound: the document.
      JSON_TIMELINE_LIMIT.lines = 100_000;
      const ok = memoryIo();
      expect(await main(['run', everyCpuRestarts(32), '--json', '--timeline'], ok.cli)).toBe(0);
      expect((JSON.parse(ok.out()) as { timeline: unknown[] }).timeline.length).toBeGreaterThan(500);
    } finally {
      JSON_TIMELINE_LIMIT.lines = was;
    }
  });

  it('view --out of a run whose trace passes what the viewer takes: exit 2, no directory written', async () => {
    const was = VIEW_TRACE_LIMIT.chars;
    VIEW_TRACE_LIMIT.chars = 64 * 1024;
    try {
      const t = memoryIo();
      const out = path.join(dir, 'site');
      expect(await main(['view', everyCpuRestarts(32), '--out', out], t.cli)).toBe(2);
      expect(t.err()).toMatch(/^shootdown: er32: the run's trace passes 65536 characters, the most the viewer takes .*--trace FILE.*\n$/);
      expect(t.out()).toBe('');
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      VIEW_TRACE_LIMIT.chars = was;
    }
  });
});
