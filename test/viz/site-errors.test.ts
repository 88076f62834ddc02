/**
 * `shootdown view` on a trace the reader accepts but the viewer's model refuses (its sizes are out of
 * bounds): exit 2 with a message that names the file, as `export-trace` does, and nothing written.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { MAX_CPUS, MAX_TRACE_IN_FLIGHT } from '../../src/scenarios/limits.js';
import { memoryIo } from '../cli/memory-io.js';
import { builtin, traceText } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-site-errors-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * T5's header, widened to the most CPUs, then NMIs to all others until more are in flight than the
 * model holds; it ends as a run of that many CPUs does, with a final record for each (T5's CPU 0's).
 */
function tooManyInFlight(): { text: string; badLine: number } {
  const t5 = traceText(builtin('T5')).split('\n');
  const header = JSON.parse(t5[0] as string) as Record<string, unknown>;
  const final = JSON.parse(t5.find((l) => l.startsWith('{"t":"final"')) as string) as Record<string, unknown>;
  const lines = [JSON.stringify({ ...header, cpus: MAX_CPUS })];
  const sends = Math.floor(MAX_TRACE_IN_FLIGHT / (MAX_CPUS - 1)) + 1;
  for (let m = 1; m <= sends; m++) {
    lines.push(JSON.stringify({ t: 'send', ns: 240 + m, msg: m, from: 0, mode: 'nmi', vector: 2, dest: 'all-but-self', targets: MAX_CPUS - 1, source: 'kernel' }));
  }
  for (let cpu = 0; cpu < MAX_CPUS; cpu++) lines.push(JSON.stringify({ ...final, cpu }));
  lines.push(JSON.stringify({ t: 'end', ns: 30_000_000, steps: 1, end: 'kexec' }));
  return { text: lines.join('\n') + '\n', badLine: sends + 1 };
}

describe('view on a trace the viewer cannot hold', () => {
  it('names the file and the line, exits 2 and writes no site', async () => {
    const { text, badLine } = tooManyInFlight();
    const file = path.join(dir, 'inflight.jsonl');
    fs.writeFileSync(file, text);
    const out = path.join(dir, 'site');
    const t = memoryIo();
    expect(await main(['view', file, '--out', out], t.cli)).toBe(2);
    expect(t.err()).toMatch(new RegExp(`inflight\\.jsonl: line ${badLine}: more than ${MAX_TRACE_IN_FLIGHT} deliveries in flight at once`));
    expect(fs.existsSync(path.join(out, 'index.html'))).toBe(false);
  });
});
