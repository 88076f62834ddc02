/**
 * The JSON output as a script reads it, through `main()`: run --json carries what the text says
 * (ioctl returns and errnos, trace events, splats, how a shootdown wait ended), --timeline gives
 * the text timeline's lines as objects, list/kernels --json, and docs/outcome.schema.json holds
 * for every built-in.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from './memory-io.js';
import { validate } from './json-schema.js';
import { cpuList } from '../../src/kernel/memory.js';

const schema = JSON.parse(fs.readFileSync(new URL('../../docs/outcome.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

interface Ioctl {
  actor: string;
  name: string;
  names: string[];
  argument: unknown;
  ret: number | null;
  errno: string | null;
  exit: { reason: string; code: number } | null;
  stateAfter: string | null;
}
interface Event {
  kind: string;
  name: string;
  vcpu: number | null;
  data: Record<string, unknown>;
  text: string | null;
}
interface Entry {
  timeNs: number;
  cpu: number | null;
  actor: string | null;
  kind: string;
  text: string;
  record: Record<string, unknown>;
}
interface RunDoc {
  outcome: {
    end: string;
    timeNs: number;
    ioctls: Ioctl[];
    events: Event[];
    shootdowns: { sent: boolean; endedBy: string; waitedMs: number | null; timedOut: boolean }[];
  };
  timeline?: Entry[];
}

async function run(args: string[], files: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const t = memoryIo(files);
  const code = await main(args, t.cli);
  return { code, out: t.out(), err: t.err() };
}

async function runJson(args: string[], files: Record<string, string> = {}): Promise<RunDoc> {
  const r = await run([...args, '--json'], files);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as RunDoc;
}

/** The text timeline's lines: between the header's blank line and the blank line before the outcome. */
function textTimeline(out: string): string[] {
  const [, body] = out.split('\n\n');
  return (body ?? '').split('\n');
}

describe('run --json: what the text timeline says, as data', () => {
  it('T12: VHOST_SET_RUNNING without a memory table returns -EFAULT, both names, state unchanged', async () => {
    const o = (await runJson(['run', 'T12'])).outcome;
    const start = o.ioctls.find((c) => c.name === 'VHOST_SET_RUNNING');
    expect(start).toMatchObject({ actor: 'VMM0', argument: 1, ret: -14, errno: 'EFAULT', stateAfter: 'open.owned' });
    expect(start?.names).toEqual(expect.arrayContaining(['VHOST_SET_RUNNING', 'VHOST_VSOCK_SET_RUNNING']));
    // The same call as the text prints it.
    const text = (await run(['run', 'T12'])).out;
    expect(text).toContain('VHOST_SET_RUNNING = -EFAULT (-14) → open.owned');
  });

  it('T9 on v6.6 with rsm-clears-nested-run-pending: a TRIPLE_FAULT exit injected into L1, no WARN; without it the WARN splat', async () => {
    const fixed = (await runJson(['run', 'T9', '--kernel', 'v6.6', '--fix', 'rsm-clears-nested-run-pending'])).outcome;
    const inject = fixed.events.filter((e) => e.kind === 'kvm' && e.name === 'kvm_nested_vmexit_inject');
    expect(inject.map((e) => e.data.reason)).toEqual(['TRIPLE_FAULT']);
    expect(inject[0]?.vcpu).toBe(0);
    expect(fixed.events.filter((e) => e.kind === 'warn')).toEqual([]);
    // L1 took the exit and runs on: no KVM_RUN ends in KVM_EXIT_SHUTDOWN, every one returned 0.
    const runs = fixed.ioctls.filter((c) => c.name === 'KVM_RUN');
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.every((c) => c.ret === 0 && c.exit !== null && c.exit.reason !== 'KVM_EXIT_SHUTDOWN')).toBe(true);

    const unfixed = (await runJson(['run', 'T9', '--kernel', 'v6.6'])).outcome;
    const warn = unfixed.events.filter((e) => e.kind === 'warn');
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ name: 'nested_vmx_vmexit', vcpu: 0 });
    expect(warn[0]?.text).toMatch(/^WARNING: CPU: 1 PID: 0 at arch\/x86\/kvm\/vmx\/nested\.c nested_vmx_vmexit/);
  });

  it('a BUG in a vCPU thread is a splat event of that vCPU, and its KVM_RUN never returns', async () => {
    const o = (await runJson(['run', 'T8', '--kernel', 'v5.10', '--no-fix', 'tdp-level-at-vcpu-create'])).outcome;
    const bugs = o.events.filter((e) => e.kind === 'bug');
    expect(bugs).toHaveLength(1);
    expect(bugs[0]).toMatchObject({ vcpu: 0 });
    expect(bugs[0]?.text).toMatch(/^kernel BUG at arch\/x86\/kvm\/mmu\/mmu\.c/);
    // The die header after the BUG line is the same splat, not a second one.
    expect(o.events.filter((e) => e.kind === 'oops')).toEqual([]);
    expect(o.ioctls.at(-1)).toMatchObject({ name: 'KVM_RUN', ret: null, stateAfter: null });
  });

  it('register arguments are hex as given in text and JSON: KVM_SET_SREGS efer 0x2501', async () => {
    const o = (await runJson(['run', 'T9'])).outcome;
    expect(o.ioctls.find((c) => c.name === 'KVM_SET_SREGS')?.argument).toEqual({ efer: '0x2501' });
    expect((await run(['run', 'T9'])).out).toContain('KVM_SET_SREGS({"efer":"0x2501"})');
  });

  it('cpumask writes show the CPUs in the mask, not a count', async () => {
    const text = (await run(['run', 'T6', '--steps'])).out;
    // T6 has 4 CPUs; CPU0 stops the others.
    expect(text).toContain('cpumask_copy(cpus_stop_mask) = "{1-3}"');
    expect(text).not.toMatch(/cpus_stop_mask\) = \d/);
    const doc = await runJson(['run', 'T6', '--steps', '--timeline']);
    const copy = doc.timeline?.find((e) => e.record.t === 'mem' && e.record.op === 'cpumask_copy');
    expect(copy?.record.value).toBe('{1-3}');
  });
});

describe('cpuList: a cpumask in the trace', () => {
  it.each([
    [[], '{}'],
    [[0, 0, 0], '{}'],
    [[1, 1], '{0-1}'],
    [[1, 0, 1, 1, 1, 0, 1], '{0,2-4,6}'],
  ])('%j → %s', (bits, text) => expect(cpuList(bits)).toBe(text));

  it('a mask of many ranges keeps its first and last eight and its weight', () => {
    const bits = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const text = cpuList(bits);
    expect(text).toBe('{0,3,6,9,12,15,18,21,…,78,81,84,87,90,93,96,99} (34 CPUs)');
  });
});

describe('a shootdown wait the platform reset cut short', () => {
  // CPU0 panics with kdump and starts its shootdown; CPU1's emergency restart (its own shootdown
  // refused: shootdown-only-once) resets the machine before anyone acks. On v6.6: under mainline's
  // shorter E6 disable path CPU1 passes the crash_ipi_issued check before CPU0 sets it, and both send.
  const v66 = ['--kernel', 'v6.6'];
  const race = {
    name: 'race',
    machine: { cpus: 3 },
    initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { kdump: true },
    script: [
      { cpu: 0, do: 'panic', at: 0 },
      { cpu: 1, do: 'emergency-restart', at: 0 },
      { cpu: 2, do: 'irqs-off', at: 0 },
    ],
  };
  const files = { 'race.json': JSON.stringify(race) };

  it('says the reset ended the wait, in JSON and in text', async () => {
    const o = (await runJson(['run', 'race.json', '--seed', '2', ...v66], files)).outcome;
    expect(o.end).toBe('reset');
    const sent = o.shootdowns.filter((s) => s.sent);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ endedBy: 'reset', timedOut: false });
    expect(sent[0]?.waitedMs).toBeGreaterThan(0);
    const text = (await run(['run', 'race.json', '--seed', '2', ...v66], files)).out;
    expect(text).toMatch(/NMI shootdown by CPU0: wait ended by the platform reset after [\d.]+ ms; acked by none/);
    expect(text).not.toContain('never finished');
  });
});

describe('run --json --timeline', () => {
  it('has one object per text timeline line, with the same text, time and CPU', async () => {
    for (const args of [['run', 'T9', '--kernel', 'v6.6'], ['run', 'T-vsock-credit'], ['run', 'T6', '--steps']]) {
      const lines = textTimeline((await run(args)).out);
      const entries = (await runJson([...args, '--timeline'])).timeline ?? [];
      expect(entries).toHaveLength(lines.length);
      entries.forEach((e, i) => {
        const line = lines[i] as string;
        expect(line.endsWith(e.text)).toBe(true);
        const [, s, frac] = /^\[\s*(\d+)\.(\d{9})\]/.exec(line) ?? [];
        expect(e.timeNs).toBe(Number(s) * 1e9 + Number(frac));
        if (e.cpu !== null && e.kind !== 'send') expect(line).toContain(`CPU${e.cpu}  `);
        expect(e.record.t).toBe(e.kind);
      });
    }
  });

  it('names the actor of guest-side lines as the text does', async () => {
    const entries = (await runJson(['run', 'T12', '--timeline'])).timeline ?? [];
    const call = entries.find((e) => e.kind === 'ioctl');
    expect(call?.actor).toBe('VMM0');
    expect(call?.text.startsWith('VMM0 vhost-vsock0 ')).toBe(true);
    expect(entries.at(-1)).toMatchObject({ kind: 'end', cpu: null, actor: null });
  });

  it('without --timeline there is no timeline', async () => {
    expect((await runJson(['run', 'T12'])).timeline).toBeUndefined();
  });
});

describe('list --json and kernels --json', () => {
  it('list --json has every built-in of the text list and the default', async () => {
    const r = await run(['list', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { default: string; scenarios: { id: string; name: string; summary: string }[] };
    const text = (await run(['list'])).out;
    const ids = text.split('\n\n')[0]?.split('\n').map((l) => l.split(/\s+/)[0]);
    expect(doc.scenarios.map((s) => s.id)).toEqual(ids);
    expect(text).toContain(`default: ${doc.default}`);
    for (const s of doc.scenarios) expect(text).toContain(s.summary);
  });

  it('kernels --json has every preset with its switches and every switch with its upstream change', async () => {
    const r = await run(['kernels', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as {
      default: string;
      presets: { name: string; switches: string[] }[];
      switches: { name: string; era: string; summary: string; upstream: string }[];
    };
    const text = (await run(['kernels'])).out;
    expect(text).toContain(`presets (default ${doc.default})`);
    for (const p of doc.presets) expect(text).toContain(`  ${p.name.padEnd(9)} `);
    for (const s of doc.switches) expect(text).toContain(`  ${s.name}  [${s.era}]\n      ${s.summary}\n      upstream: ${s.upstream}`);
    const names = new Set(doc.switches.map((s) => s.name));
    for (const p of doc.presets) for (const s of p.switches) expect(names.has(s)).toBe(true);
  });

  it('an unknown option of list or kernels is exit 2 with one line naming it', async () => {
    for (const cmd of ['list', 'kernels']) {
      const r = await run([cmd, '--jsno']);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^shootdown: ${cmd}: .*--jsno.*\\n$`));
    }
  });
});

describe('docs/outcome.schema.json', () => {
  it('every built-in run --json --timeline conforms', async () => {
    const ids = (JSON.parse((await run(['list', '--json'])).out) as { scenarios: { id: string }[] }).scenarios.map((s) => s.id);
    expect(ids.length).toBeGreaterThan(10);
    for (const id of ids) {
      const r = await run(['run', id, '--json', '--timeline']);
      expect(r.code, `${id}: ${r.err}`).toBe(0);
      expect(validate(schema, JSON.parse(r.out)), id).toEqual([]);
    }
  });

  it('the validator finds a missing field, an extra field, a wrong type and a value outside an enum', async () => {
    const doc = JSON.parse((await run(['run', 'T12', '--json'])).out) as { outcome: Record<string, unknown> };
    const broken = structuredClone(doc);
    delete broken.outcome.ioctls;
    broken.outcome.extra = 1;
    broken.outcome.end = 'exploded';
    (broken.outcome.events as unknown[]).push({ timeNs: 'soon' });
    const errors = validate(schema, broken);
    expect(errors).toEqual(
      expect.arrayContaining([
        "$.outcome: missing required 'ioctls'",
        "$.outcome: unexpected property 'extra'",
        expect.stringMatching(/^\$\.outcome\.end: "exploded" is not one of/),
        '$.outcome.events[0].timeNs: expected integer, got string',
      ]),
    );
  });
});
