/**
 * A VMM thread's script in a scenario file, through the built command as a process: the sizes it
 * names are bounded before memory is spent (src/scenarios/limits.ts), a refusal exits 2 with the
 * path of the field and leaves no output file, and what the kernel accepts is accepted.
 *
 * - VHOST_SET_MEM_TABLE: a table the kernel reads counts its regions against MAX_MEM_TABLE_REGIONS
 *   for the whole scenario; a count over max_mem_regions is the kernel's -E2BIG (vhost_set_memory
 *   refuses it from the header), not a validation error, and costs nothing however large.
 * - `{ "vhost": "start" }` steps count as the calls they expand to against MAX_PROGRAM_LENGTH.
 * - VHOST_SET_LOG_FD -1 (VHOST_FILE_UNBIND) turns the log off; another negative fd is -EBADF.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MEM_TABLE_REGIONS, MAX_PROGRAM_LENGTH } from '../../src/scenarios/limits.js';
import { DEFAULT_MAX_MEM_REGIONS } from '../../src/vhost/device-state.js';
import { start } from '../../src/vhost/qemu.js';

const root = path.join(__dirname, '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-vmm-bounds-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
});

/** A VM per script, each with a vhost-vsock device the script drives itself, on a 2-CPU machine. */
function scenario(name: string, scripts: unknown[][]): string {
  const file = path.join(dir, `${name}.json`);
  const vms = scripts.map((vmm, vm) => ({ vsock: { setup: 'script', worker: 0, cid: 3 + vm }, vcpus: [{ cpu: 1, vmm }] }));
  fs.writeFileSync(file, JSON.stringify({ name, machine: { cpus: 2 }, vms }));
  return file;
}

/** `shootdown run FILE --trace OUT` as a process. */
function run(file: string): { status: number | null; stdout: string; stderr: string; traced: boolean } {
  const trace = path.join(dir, `${path.basename(file, '.json')}.jsonl`);
  const r = spawnSync(process.execPath, [cli, 'run', file, '--trace', trace], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, traced: fs.existsSync(trace) };
}

const OWNER = { ioctl: 'VHOST_SET_OWNER' };

describe('VHOST_SET_MEM_TABLE regions', () => {
  it('tables the kernel reads are bounded over the whole scenario: exit 2 at the call that passes the bound, no trace', () => {
    // Full tables of max_mem_regions, spread over two VMs, one call more than the bound allows.
    const calls = Math.floor(MAX_MEM_TABLE_REGIONS / DEFAULT_MAX_MEM_REGIONS) + 1;
    const first = Math.ceil(calls / 2);
    const table = { ioctl: 'VHOST_SET_MEM_TABLE', regions: DEFAULT_MAX_MEM_REGIONS };
    const file = scenario('mem-total', [
      [OWNER, ...Array.from({ length: first }, () => table)],
      [OWNER, ...Array.from({ length: calls - first }, () => table)],
    ]);
    const r = run(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`vms[1].vcpus[0].vmm[${calls - first}].regions: the scenario's VHOST_SET_MEM_TABLE calls pass more than ${MAX_MEM_TABLE_REGIONS} regions in all`);
    expect(r.stdout).toBe('');
    expect(r.traced).toBe(false);
  });

  it('a count over max_mem_regions is the kernel\'s -E2BIG, however large (nregions is a __u32), and costs no memory', () => {
    const counts = [DEFAULT_MAX_MEM_REGIONS + 1, 1_000_000, 0xffff_ffff];
    // Many such calls on many VMs: far more regions than the bound if they were made, none are.
    const script = [OWNER, ...Array.from({ length: 200 }, (_, i) => ({ ioctl: 'VHOST_SET_MEM_TABLE', regions: counts[i % counts.length] }))];
    const r = run(scenario('mem-e2big', Array.from({ length: 8 }, () => script)));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.match(/VHOST_SET_MEM_TABLE = -E2BIG/g)).toHaveLength(8 * 200);
  });

  it('a count of max_mem_regions is read: the table is set', () => {
    const r = run(scenario('mem-max', [[OWNER, { ioctl: 'VHOST_SET_MEM_TABLE', regions: DEFAULT_MAX_MEM_REGIONS }]]));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/VHOST_SET_MEM_TABLE = 0\b/);
  });
});

describe('{ "vhost": … } steps count as the calls they make', () => {
  it(`start steps expanding past ${MAX_PROGRAM_LENGTH} calls: exit 2 naming the thread's vmm, no trace`, () => {
    const per = start(0, 128).length;
    const steps = Math.floor(MAX_PROGRAM_LENGTH / per) + 1;
    expect(steps).toBeLessThan(MAX_PROGRAM_LENGTH);
    const r = run(scenario('macro', [[{ vhost: 'realize' }, ...Array.from({ length: steps }, () => ({ vhost: 'start' }))]]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`vms\\[0\\]\\.vcpus\\[0\\]\\.vmm: too many calls: the steps make more than ${MAX_PROGRAM_LENGTH} ioctl calls`));
    expect(r.stdout).toBe('');
    expect(r.traced).toBe(false);
  });

  it('as many as fit are run', () => {
    const realize = 5;
    const per = start(0, 128).length;
    const steps = Math.floor((MAX_PROGRAM_LENGTH - realize) / per);
    const r = run(scenario('macro-fits', [[{ vhost: 'realize' }, ...Array.from({ length: steps }, () => ({ vhost: 'start' }))]]));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('VHOST_SET_LOG_FD', () => {
  it('-1 (VHOST_FILE_UNBIND) turns the log off: accepted by the validator, 0 from the kernel', () => {
    const r = run(scenario('logfd-off', [[{ vhost: 'realize' }, { ioctl: 'VHOST_SET_LOG_FD', arg: -1 }]]));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/VHOST_SET_LOG_FD = 0\b/);
  });

  it('another negative fd reaches eventfd_ctx_fdget: -EBADF', () => {
    const r = run(scenario('logfd-neg', [[{ vhost: 'realize' }, { ioctl: 'VHOST_SET_LOG_FD', arg: -2 }]]));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/VHOST_SET_LOG_FD = -EBADF/);
  });

  it('a value that is no C int is refused with its path, exit 2, no trace', () => {
    const r = run(scenario('logfd-big', [[{ vhost: 'realize' }, { ioctl: 'VHOST_SET_LOG_FD', arg: -(2 ** 31) - 1 }]]));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('vms[0].vcpus[0].vmm[1].arg: expected an integer');
    expect(r.traced).toBe(false);
  });
});
