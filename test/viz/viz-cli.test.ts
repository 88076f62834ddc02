/**
 * `shootdown view | export | export-trace` as a user runs them through `main()`: output on stdout,
 * bad input → exit 2 with one line naming it, the static site self-contained with the trace inline
 * and `</script>` unable to end its script element.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { viewCommand } from '../../src/cli/viz-commands.js';
import { buildSite, SITE_FILES, SiteError, writeSite, type RunningViewer, type Site } from '../../src/viz/site.js';
import { TRACE_ELEMENT_ID } from '../../src/viz/viewer-data.js';
import { builtin, traceText } from './helpers.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import { branchBaseOfTrace } from '../../src/viz/branch-server.js';
import { memoryIo } from '../cli/memory-io.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-viz-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const io = memoryIo;

const t5 = traceText(builtin('T5'));
const t5File = path.join(dir, 't5.jsonl');
fs.writeFileSync(t5File, t5);

describe('shootdown export', () => {
  it.each([
    ['mermaid', /^stateDiagram-v2\n/],
    ['scxml', /^<\?xml version="1\.0"/],
    ['dot', /^digraph "physical-cpu" \{/],
    ['json', /^\{\n "kind": "physical-cpu"/],
  ])('--format %s', async (format, start) => {
    const t = io();
    expect(await main(['export', 'physical-cpu', '--format', format], t.cli)).toBe(0);
    expect(t.out()).toMatch(start);
  });

  it('warns on stderr when the whole chart is over mermaid\'s limits, and --root cuts a part under them', async () => {
    const all = io();
    expect(await main(['export', 'physical-cpu'], all.cli)).toBe(0);
    expect(all.err()).toMatch(/GitHub will not render it/);
    const part = io();
    expect(await main(['export', 'physical-cpu', '--root', 'os.nmi.emergencyHandler'], part.cli)).toBe(0);
    expect(part.err()).toBe('');
    expect(part.out()).toContain('state "emergencyHandler" as s_os__nmi__emergencyHandler {');
  });

  it('draws the vhost-vsock device file with the lifecycle edges of docs/model.md §5.4', async () => {
    const t = io();
    expect(await main(['export', 'vhost-vsock'], t.cli)).toBe(0);
    expect(t.err()).toBe('');
    for (const edge of [
      's_open__unowned --> s_open__owned',
      's_open__configured --> s_open__running',
      's_open__running --> s_open__stopped',
      's_open__stopped --> s_open__running',
      's_open --> s_released : close',
    ]) {
      expect(t.out()).toContain(edge);
    }
  });
});

describe('--help after a command', () => {
  it.each([['run'], ['explore'], ['export']])('shootdown %s --help prints the usage of that command and exits 0', async (command) => {
    const t = io();
    expect(await main([command, '--help'], t.cli)).toBe(0);
    expect(t.out()).toMatch(new RegExp(`^usage: shootdown ${command} `));
    if (command === 'export') expect(t.out()).toContain('kinds: physical-cpu, vhost-vsock');
    expect(t.err()).toBe('');
  });
});

describe('shootdown export-trace', () => {
  it('mermaid-sequence: the shootdown NMI from CPU2 to CPU1, and notes for the console', async () => {
    const t = io();
    expect(await main(['export-trace', t5File], t.cli)).toBe(0);
    expect(t.out()).toMatch(/^sequenceDiagram\n/);
    expect(t.out()).toContain('CPU2->>CPU1: NMI (msg 1)');
    expect(t.out()).toContain('Note over CPU2: Kernel panic - not syncing: Oops: 0000 in a driver (race R2)');
    // `#` and `;` would start an entity and end a statement in mermaid.
    expect(t.out()).toContain('VMCLEAR #35;UD');
  });

  it('json: records, messages paired send → delivery with trace lines, marks', async () => {
    const t = io();
    expect(await main(['export-trace', t5File, '--format', 'json'], t.cli)).toBe(0);
    const json = JSON.parse(t.out()) as { records: unknown[]; messages: { msg: number; cpu: number; sendLine: number; line: number }[] };
    expect(json.records).toHaveLength(t5.trim().split('\n').length);
    const nmi = json.messages.find((m) => m.msg === 1 && m.cpu === 1);
    expect(t5.split('\n')[(nmi?.line ?? 0) - 1]).toContain('"t":"deliver"');
    expect(t5.split('\n')[(nmi?.sendLine ?? 0) - 1]).toContain('"t":"send"');
  });
});

describe('shootdown view', () => {
  it('--out writes a site that needs no server: the trace inline as JSON, `</script>` escaped', async () => {
    const evil = t5.replace('Kernel panic - not syncing: Oops: 0000 in a driver (race R2)', '</script><script>window.pwned=1</script>');
    const file = path.join(dir, 'evil.jsonl');
    fs.writeFileSync(file, evil);
    const out = path.join(dir, 'site');
    const t = io();
    expect(await main(['view', file, '--out', out], t.cli)).toBe(0);
    expect(t.out()).toContain(path.join(out, 'index.html'));
    for (const f of ['index.html', 'viewer.js', 'viewer.css', 'elk.bundled.js', 'elk-api.js', 'elk-worker.min.js']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(html).not.toContain('</script><script>window.pwned');
    expect(html.match(/<script/g)).toHaveLength(3);
    const inline = html.slice(html.indexOf(`id="${TRACE_ELEMENT_ID}">`) + TRACE_ELEMENT_ID.length + 6, html.indexOf('</script>', html.indexOf(TRACE_ELEMENT_ID)));
    expect(JSON.parse(inline)).toBe(evil);
    // Nothing loads from elsewhere (the favicon's SVG namespace is a name, not a fetch).
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('serves on 127.0.0.1, prints the URL, and closes', async () => {
    const t = io();
    let server: RunningViewer | null = null;
    expect(await viewCommand(['T5'], t.cli, { onServer: (s) => (server = s) })).toBe(0);
    const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(t.out())?.[0];
    expect(url).toBeDefined();
    try {
      const page = await fetch(url as string);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script src="viewer.js"></script>');
      expect((await fetch(`${url}viewer.js`)).status).toBe(200);
      expect((await fetch(`${url}../package.json`)).status).toBe(404);
    } finally {
      await (server as RunningViewer | null)?.close();
    }
  });

  describe('--out never clobbers what it should not', () => {
    let site: Site;
    beforeAll(async () => {
      site = await buildSite({ trace: t5, source: 't5.jsonl' });
    }, 60_000);
    const fresh = (name: string) => {
      const d = path.join(dir, name);
      fs.mkdirSync(d);
      return d;
    };

    it('a non-empty directory: refused without --force (nothing written); with --force the files go in beside the others', async () => {
      const out = fresh('notes');
      fs.writeFileSync(path.join(out, 'mine.txt'), 'keep me');
      const t = io();
      expect(await main(['view', t5File, '--out', out], t.cli)).toBe(2);
      expect(t.err()).toBe(`shootdown: --out ${out}: the directory is not empty (1 entry); give --force to write the viewer's files into it\n`);
      expect(fs.readdirSync(out)).toEqual(['mine.txt']);
      const f = io();
      expect(await main(['view', t5File, '--out', out, '--force'], f.cli)).toBe(0);
      expect(fs.readdirSync(out).sort()).toEqual([...SITE_FILES, 'mine.txt'].sort());
      expect(fs.readFileSync(path.join(out, 'mine.txt'), 'utf8')).toBe('keep me');
    });

    it('a symbolic link where the page goes is not followed out of the directory, even with --force', async () => {
      const out = fresh('planted');
      const victim = path.join(dir, 'victim.txt');
      fs.writeFileSync(victim, 'untouched');
      fs.symlinkSync(victim, path.join(out, 'index.html'));
      expect(() => writeSite(out, site, true)).toThrow(SiteError);
      expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
      const t = io();
      expect(await main(['view', t5File, '--out', out, '--force'], t.cli)).toBe(2);
      expect(t.err()).toBe(`shootdown: --out ${out}: index.html is a symbolic link; shootdown writes only files of its own there\n`);
      expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
      expect(fs.readdirSync(out)).toEqual(['index.html']);
    });

    it('a directory that is itself a symbolic link is refused', async () => {
      const real = fresh('real');
      const link = path.join(dir, 'link');
      fs.symlinkSync(real, link);
      const t = io();
      expect(await main(['view', t5File, '--out', link], t.cli)).toBe(2);
      expect(t.err()).toMatch(/^shootdown: --out .*link: is a symbolic link; give the directory itself/);
      expect(fs.readdirSync(real)).toEqual([]);
    });

    it('a write that fails half-way leaves nothing: no file, no temporary, no directory it created', () => {
      const out = path.join(dir, 'half', 'site');
      const broken: Site = new Map([...site, ['no-such-dir/x.js', { type: 'text/javascript', body: 'x' }]]);
      expect(() => writeSite(out, broken)).toThrow(/^--out .*half\/site: cannot write the viewer there \(ENOENT/);
      expect(fs.existsSync(path.join(dir, 'half'))).toBe(false);
      const empty = fresh('empty');
      expect(() => writeSite(empty, broken)).toThrow(SiteError);
      expect(fs.readdirSync(empty)).toEqual([]);
    });

    it('a path that cannot be a directory → exit 2, one line', async () => {
      const t = io();
      expect(await main(['view', t5File, '--out', '/dev/null/site'], t.cli)).toBe(2);
      expect(t.err()).toMatch(/^shootdown: --out \/dev\/null\/site: cannot write the viewer there \(ENOTDIR/);
      expect(t.err().trim().split('\n')).toHaveLength(1);
    });

    it('--force without --out → exit 2', async () => {
      const t = io();
      expect(await main(['view', 'T5', '--force'], t.cli)).toBe(2);
      expect(t.err()).toMatch(/^shootdown: --force goes with --out DIR/);
    });
  });

  const bad: [string, string[], RegExp][] = [
    ['a missing file', ['view', 'nope.jsonl', '--out', 'x'], /nope\.jsonl: no such file, and not a built-in scenario/],
    ['a bad port', ['view', 'T5', '--port', 'http'], /--port: expected an integer from 0 to 65535/],
    ['--seed with a trace file', ['view', t5File, '--seed', '3', '--out', 'x'], /--seed cannot be used with a trace file/],
    ['a broken trace', ['view', 'broken.jsonl', '--out', 'x'], /broken\.jsonl: line 2 is not JSON/],
    ['an unknown kind', ['export', 'gpu'], /unknown actor kind 'gpu' \(known: physical-cpu, vhost-vsock, vcpu, vmm\)/],
    ['an unknown format', ['export', 'physical-cpu', '--format', 'png'], /--format: expected one of mermaid, scxml, dot, json/],
    ['an unknown root', ['export', 'physical-cpu', '--root', 'os.nowhere'], /--root: no state at path 'os\.nowhere'/],
    ['a missing trace', ['export-trace'], /export-trace: name a trace file/],
    ['an unknown trace format', ['export-trace', t5File, '--format', 'svg'], /--format: expected one of mermaid-sequence, json/],
  ];
  it.each(bad)('%s → exit 2, one line', async (_name, argv, message) => {
    const t = io({ 'broken.jsonl': `${t5.split('\n')[0]}\n{oops\n` });
    expect(await main(argv, t.cli)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.err()).toMatch(/^shootdown: /);
    expect(t.err().trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync('x')).toBe(false);
  });
});

describe('sizes named in a trace file are bounded before memory is spent', () => {
  const header = t5.slice(0, t5.indexOf('\n'));
  const write = (name: string, lines: string[]): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  it('a record naming CPU 30,000,000: exit 2 naming the line and the range, no output', async () => {
    const file = write('far-cpu.jsonl', [header, JSON.stringify({ t: 'step', ns: 0, cpu: 30_000_000, ctx: 'task', from: 'os.task.idle', to: 'os.task.idle' })]);
    for (const format of ['mermaid-sequence', 'json']) {
      const t = io();
      expect(await main(['export-trace', file, '--format', format], t.cli)).toBe(2);
      expect(t.out()).toBe('');
      expect(t.err()).toContain(`${file}: line 2: step.cpu: expected a CPU number from 0 to 3 (the header says 4 CPUs), got 30000000`);
    }
  });

  it('a header claiming more CPUs than the limit, and a message with more targets than CPUs', async () => {
    const big = write('big-header.jsonl', [header.replace(/"cpus":\d+/, '"cpus":30000000')]);
    const t = io();
    expect(await main(['export-trace', big], t.cli)).toBe(2);
    expect(t.err()).toContain('line 1: header.cpus: expected an integer from 1 to 8192, got 30000000');
    const send = write('many-targets.jsonl', [header, JSON.stringify({ t: 'send', ns: 0, msg: 1, from: 0, mode: 'nmi', vector: 2, dest: 'all', targets: 1e9, source: 'kernel' })]);
    const u = io();
    expect(await main(['export-trace', send], u.cli)).toBe(2);
    expect(u.err()).toMatch(/line 2: (send\.vector: expected a non-negative integer or null|'targets' must be an integer from 0 to 4)/);
  });
});

describe("a trace's header names the machine its records come from", () => {
  const lines = t5.trimEnd().split('\n');
  const cpus = builtin('T5').machine.cpus;
  const endLine = lines.length;
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it.each([cpus + 1, 8192])('header.cpus %i with the final records of the CPUs the run had: view and export-trace exit 2 naming the line', async (claimed) => {
    const file = write(`cpus-${claimed}.jsonl`, t5.replace(/"cpus":\d+/, `"cpus":${claimed}`));
    const message = `${file}: line ${endLine}: the run ends with the final records of ${cpus} CPUs, but header.cpus says ${claimed} (a run writes one for each of its CPUs before its end record)`;
    for (const argv of [['export-trace', file], ['view', file, '--out', path.join(dir, `out-${claimed}`)]]) {
      const t = io();
      expect(await main(argv, t.cli)).toBe(2);
      expect(t.err()).toBe(`shootdown: ${message}\n`);
      expect(t.out()).toBe('');
    }
    expect(fs.existsSync(path.join(dir, `out-${claimed}`))).toBe(false);
  });

  it('final records out of order, or one missing, are refused naming the line', async () => {
    const first = lines.findIndex((l) => l.startsWith('{"t":"final"'));
    const swapped = [...lines];
    [swapped[first], swapped[first + 1]] = [swapped[first + 1] as string, swapped[first] as string];
    const t = io();
    expect(await main(['export-trace', write('swapped.jsonl', swapped.join('\n') + '\n')], t.cli)).toBe(2);
    expect(t.err()).toContain(`line ${first + 1}: final record of CPU 1 where the run writes CPU 0's (one final record per CPU, from 0 in order)`);
    const short = lines.filter((_, i) => i !== first + cpus - 1);
    const u = io();
    expect(await main(['export-trace', write('short.jsonl', short.join('\n') + '\n')], u.cli)).toBe(2);
    expect(u.err()).toContain(`line ${short.length}: the run ends with the final records of ${cpus - 1} CPUs, but header.cpus says ${cpus}`);
  });

  it('a trace of a built-in run with another CPU count (as explore --cpus N writes) reads, exports and branches', async () => {
    const raw = findBuiltin('T5')?.raw as Record<string, unknown>;
    const six = validateScenario({ ...raw, machine: { ...(raw.machine as object), cpus: cpus + 2 } }, 'T5', validationContext);
    if (!six.ok) throw new Error('T5 on more CPUs does not validate');
    const text = traceText(six.scenario);
    expect(JSON.parse(text.slice(0, text.indexOf('\n')))).toMatchObject({ scenario: 'T5', cpus: cpus + 2 });
    const t = io();
    expect(await main(['export-trace', write('t5-more.jsonl', text)], t.cli), t.err()).toBe(0);
    expect(branchBaseOfTrace(text)).toMatchObject({ base: { scenario: { machine: { cpus: cpus + 2 } } } });
  });
});
