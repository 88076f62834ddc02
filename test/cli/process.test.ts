/**
 * The built command as a process (`npm run build` first, as `npm test` does): what only a real
 * process shows — signals leave no partial trace file and exit 128 + the signal number, a device
 * node given to --trace is refused and stays a device, --version finds package.json from dist/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-process-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
});

/** A machine big enough that its run lasts long after the trace file is opened. */
const BIG = {
  name: 'big',
  machine: { cpus: 4096 },
  initial: { all: { vmx: 'root', loadedVmcs: 1 } },
  options: { kdump: true },
  script: [{ cpu: 0, do: 'panic', at: 0 }],
};

const partials = () => fs.readdirSync(dir).filter((f) => f.endsWith('.partial'));

async function interrupted(signal: 'SIGINT' | 'SIGTERM'): Promise<{ code: number | null; signal: string | null }> {
  const scenario = path.join(dir, 'big.json');
  fs.writeFileSync(scenario, JSON.stringify(BIG));
  const trace = path.join(dir, `big-${signal}.jsonl`);
  const child = spawn(process.execPath, [cli, 'run', scenario, '--trace', trace], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  // Wait until the trace is being written (its temporary file has content), then interrupt.
  let done = false;
  void exited.then(() => (done = true));
  for (;;) {
    if (done) throw new Error(`the run ended before it could be interrupted: ${child.stderr.read() as string}`);
    const temp = partials()[0];
    if (temp !== undefined && fs.statSync(path.join(dir, temp)).size > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(signal);
  const result = await exited;
  expect(fs.existsSync(trace)).toBe(false);
  return result;
}

describe('shootdown run as a process', () => {
  it('SIGINT during a run: exit 130 and no partial trace file left', async () => {
    expect(await interrupted('SIGINT')).toEqual({ code: 130, signal: null });
    expect(partials()).toEqual([]);
  }, 60_000);

  it('SIGTERM during a run: exit 143 and no partial trace file left', async () => {
    expect(await interrupted('SIGTERM')).toEqual({ code: 143, signal: null });
    expect(partials()).toEqual([]);
  }, 60_000);

  it('SIGINT while `view --out` writes the viewer: no temporary file left in the directory', () => {
    // A preload that sends the process SIGINT from inside the first write of a viewer file, so the
    // signal lands while a temporary file is open (the write is synchronous: without a handler the
    // default action kills the process there and then, leaving the file).
    const preload = path.join(dir, 'sigint-on-write.mjs');
    fs.writeFileSync(
      preload,
      [
        "import fs from 'node:fs';",
        "import { syncBuiltinESMExports } from 'node:module';",
        'const write = fs.writeFileSync;',
        'let sent = false;',
        'fs.writeFileSync = function (file, ...rest) {',
        "  if (!sent && typeof file === 'number') { sent = true; process.kill(process.pid, 'SIGINT'); }",
        '  return write.call(this, file, ...rest);',
        '};',
        'syncBuiltinESMExports();',
      ].join('\n'),
    );
    const out = path.join(dir, 'viewer-interrupted');
    const r = spawnSync(process.execPath, ['--import', preload, cli, 'view', 'T5', '--out', out], { encoding: 'utf8' });
    // The signal waits for the synchronous write to finish: then the viewer is complete (exit 0, the
    // handler already gone with the last temporary file) or removed with it (exit 130) — never killed mid-file.
    expect(r.signal).toBeNull();
    expect([0, 130]).toContain(r.status);
    if (r.status === 0) expect(fs.existsSync(path.join(out, 'index.html'))).toBe(true);
    const left = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => f.startsWith('.')) : [];
    expect(left).toEqual([]);
  }, 60_000);

  it('--trace /dev/full: exit 2 before the run, and /dev/full is still a device', () => {
    const r = spawnSync(process.execPath, [cli, 'run', 'T5', '--trace', '/dev/full'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("shootdown: --trace '/dev/full': is a device, not a regular file\n");
    expect(fs.statSync('/dev/full').isCharacterDevice()).toBe(true);
  });

  it('--version from the built file', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const r = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`shootdown ${pkg.version}\n`);
  });

  it('--fail-on-violation: exit 1 from the process when a property fails, 0 without the flag', () => {
    expect(spawnSync(process.execPath, [cli, 'run', 'T5', '--kernel', 'v5.11', '--fail-on-violation', '--json'], { encoding: 'utf8' }).status).toBe(1);
    expect(spawnSync(process.execPath, [cli, 'run', 'T5', '--kernel', 'v5.11', '--json'], { encoding: 'utf8' }).status).toBe(0);
  });
});
