/**
 * The built command as a process, for tests that must see what a user sees (`npm run build` first, as
 * `npm test` does): a scratch directory for the test file (removed after it) and the command run in it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';

export const cli = path.join(__dirname, '../../dist/src/cli/main.js');

export function builtCli(name: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `shootdown-${name}-`));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  });
  /** `shootdown args…` run to its end in the scratch directory. */
  const shootdown = (args: readonly string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { dir, shootdown };
}
