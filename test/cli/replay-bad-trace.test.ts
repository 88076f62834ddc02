/**
 * `run --replay` of a trace that is not one shootdown writes is bad input (exit 2, the line named), not a
 * divergence (exit 1): a line over the 1 MiB limit (refused by its length before it is parsed), a header
 * field that is not one or is out of bounds, a record after the `end` record.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { SWITCH_NAMES } from '../../src/kernel/variants.js';
import { MAX_TRACE_LINE } from '../../src/scenarios/limits.js';
import { builtin, traceText } from '../viz/helpers.js';
import { memoryIo } from './memory-io.js';

const lines = traceText(builtin('T5')).split('\n').slice(0, -1);
const header = JSON.parse(lines[0] as string) as Record<string, unknown>;
const consoleAt = lines.findIndex((l) => l.startsWith('{"t":"console"'));

async function replay(text: string): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo({ 'x.jsonl': text });
  const code = await main(['run', '--replay', 'x.jsonl'], t.cli);
  return { code, out: t.out(), err: t.err() };
}

const withHeader = (h: Record<string, unknown>): string => [JSON.stringify(h), ...lines.slice(1)].join('\n') + '\n';

/** The trace with its console line padded to `length` characters (still a record of its kind). */
function padded(length: number): string {
  const rec = JSON.parse(lines[consoleAt] as string) as Record<string, unknown>;
  const bare = JSON.stringify({ ...rec, pad: '' }).length;
  const out = [...lines];
  out[consoleAt] = JSON.stringify({ ...rec, pad: 'A'.repeat(length - bare) });
  expect((out[consoleAt] as string).length).toBe(length);
  return out.join('\n') + '\n';
}

describe('run --replay: a line over the trace-line limit', () => {
  it('the unchanged trace replays (exit 0)', async () => {
    expect((await replay(lines.join('\n') + '\n')).code).toBe(0);
  });

  it('one character over: exit 2 naming the file, the line and the limit', async () => {
    expect(consoleAt).toBeGreaterThan(0);
    const r = await replay(padded(MAX_TRACE_LINE + 1));
    expect(r.code).toBe(2);
    expect(r.err).toBe(`shootdown: --replay x.jsonl: line ${consoleAt + 1} is longer than ${MAX_TRACE_LINE} characters (${MAX_TRACE_LINE + 1}): no record of a trace is\n`);
    expect(r.out).toBe('');
  });

  it('at the limit: read, and the extra field is a divergence (exit 1)', async () => {
    expect((await replay(padded(MAX_TRACE_LINE))).code).toBe(1);
  });

  it('a long line that is not JSON is refused by its length, before it is parsed', async () => {
    const out = [...lines];
    out[consoleAt] = '{'.repeat(MAX_TRACE_LINE + 1);
    const r = await replay(out.join('\n') + '\n');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`line ${consoleAt + 1} is longer than ${MAX_TRACE_LINE} characters`));
  });
});

describe('run --replay: a header field that is not one, or out of bounds, is bad input (exit 2) on line 1', () => {
  const on = SWITCH_NAMES.find((n) => (header.switches as string[]).includes(n)) as string;
  it.each([
    ['an unknown field', { ...header, extra: 1 }, /line 1: header: unknown field "extra"/],
    ['a __proto__ field', JSON.parse(JSON.stringify(header).replace(/\}$/, ',"__proto__":{"x":1}}')) as Record<string, unknown>, /line 1: header: unknown field "__proto__"/],
    ['an unknown option', { ...header, options: { ...(header.options as object), turbo: true } }, /line 1: header\.options: unknown field "turbo"/],
    ['a switch twice', { ...header, switches: [...(header.switches as string[]), on] }, new RegExp(`line 1: header\\.switches\\[\\d+\\]: "${on}" is listed twice`)],
    ['more switches than there are', { ...header, switches: Array.from({ length: SWITCH_NAMES.length + 1 }, () => on) }, new RegExp(`line 1: header\\.switches: expected at most ${SWITCH_NAMES.length} names \\(each known kernel switch once\\), got ${SWITCH_NAMES.length + 1}`)],
    ['an unknown vendor', { ...header, vendor: 'via' }, /line 1: header\.vendor: expected "intel" or "amd", got "via"/],
    ['a scenario named by a path', { ...header, scenario: '../../../../etc/passwd' }, /line 1: header\.scenario: expected a scenario's id \(a built-in's, or a file's name without directories/],
    ['a scenario name longer than a file name', { ...header, scenario: 'T'.repeat(256) }, /line 1: header\.scenario: expected a scenario's id/],
  ])('%s', async (_what, h, message) => {
    const r = await replay(withHeader(h));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^shootdown: --replay x\.jsonl: /);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});

describe('run --replay: a line after the end record is bad input (exit 2), not a divergence', () => {
  it.each([
    ['a record of the run again', lines[1] as string],
    ['a second end record', lines.at(-1) as string],
  ])('%s', async (_what, extra) => {
    expect(lines.at(-1)).toMatch(/^\{"t":"end"/);
    const r = await replay([...lines, extra].join('\n') + '\n');
    expect(r.code).toBe(2);
    expect(r.err).toBe(`shootdown: --replay x.jsonl: line ${lines.length + 1}: a line after the end record (line ${lines.length}); a trace ends with it\n`);
  });

  it('blank lines after it are no record', async () => {
    expect((await replay(lines.join('\n') + '\n\n\n')).code).toBe(0);
  });
});

describe('every trace shootdown writes is read back', () => {
  it("a vsock run with 245,760 packets: the ledger's last record (every packet's id, over 1 MiB) replays", async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-packets-'));
    try {
      const send = (at: number, extra: object) => ({ at, cpu: 0, do: 'vsock-send', send: { cid: 3, srcPort: 7000, dstPort: 6000, ...extra } });
      const scenario = {
        name: 'packets',
        machine: { cpus: 3 },
        options: { maxSteps: 20000 },
        vms: [
          {
            onShutdown: 'reset',
            vsock: { cid: 3, worker: 2, hostListen: [5000], guestListen: [6000], guestTraffic: [{ op: 'REQUEST', srcPort: 1024, dstPort: 5000 }] },
            vcpus: [{ cpu: 1, guest: { l1: ['spin'] } }],
          },
        ],
        // Raw RW packets on ports no connection holds: each is queued at once (stream data would wait for a RESPONSE
        // the never-started device cannot bring, and make no packet).
        script: Array.from({ length: 60 }, (_, i) => send(400 + i, { op: 'RW', len: 1, count: 4096 })),
      };
      const file = path.join(dir, 'packets.json');
      const trace = path.join(dir, 'packets.jsonl');
      fs.writeFileSync(file, JSON.stringify(scenario));
      const t = memoryIo();
      expect(await main(['run', file, '--trace', trace], t.cli), t.err()).toBe(0);
      const longest = Math.max(...fs.readFileSync(trace, 'utf8').split('\n').map((l) => l.length));
      expect(longest).toBeGreaterThan(1024 * 1024);
      expect(longest).toBeLessThanOrEqual(MAX_TRACE_LINE);
      const r = memoryIo();
      expect(await main(['run', file, '--replay', trace], r.cli), r.err()).toBe(0);
      expect(r.err()).toMatch(/replay: reproduced all/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
