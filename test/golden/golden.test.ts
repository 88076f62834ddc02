/**
 * The golden corpus: what the simulator says today, kept so that a change meant to keep behaviour
 * (the one-machine-value refactor) can be held to it. For every built-in × every kernel preset ×
 * seeds 1–3, the `run --json` output and the whole trace; for R1/R2 at 2 and 3 CPUs under every preset
 * and for T-L2 and T14 (bounded), `explore --json` without its timings. One file per built-in and
 * preset, so a diff says where behaviour moved.
 *
 * `GOLDEN_UPDATE=1 npx vitest run test/golden` rewrites the corpus: do that only in a commit that
 * says why the outputs changed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, nodeIo, type CliIo } from '../../src/cli/main.js';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.js';
import { PRESETS } from '../../src/kernel/variants.js';

const UPDATE = process.env.GOLDEN_UPDATE === '1';
const ROOT = path.resolve('test/golden');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-golden-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const io: CliIo = { ...nodeIo, isTty: false, stdout: (t) => void (stdout += t), stderr: () => {} };
  return { code: await main(argv, io), stdout };
}

function check(file: string, text: string): void {
  const at = path.join(ROOT, file);
  if (UPDATE) {
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.writeFileSync(at, text);
    return;
  }
  expect(fs.existsSync(at), `${file} is missing from the corpus (GOLDEN_UPDATE=1 writes it)`).toBe(true);
  const want = fs.readFileSync(at, 'utf8').split('\n');
  const got = text.split('\n');
  const first = want.findIndex((line, i) => line !== got[i]);
  const where = first === -1 ? want.length : first;
  if (first !== -1 || got.length !== want.length) {
    expect(`${file}:${where + 1}: ${got[where] ?? '(end)'}`).toBe(`${file}:${where + 1}: ${want[where] ?? '(end)'}`);
  }
}

describe('golden corpus: run', () => {
  for (const b of BUILTIN_SCENARIOS) {
    it(`${b.id} under every preset, seeds 1–3`, async () => {
      for (const p of PRESETS) {
        const parts: string[] = [];
        for (const seed of [1, 2, 3]) {
          const trace = path.join(tmp, `${b.id}-${p.name}-${seed}.jsonl`);
          const r = await cli(['run', b.id, '--kernel', p.name, '--seed', String(seed), '--json', '--trace', trace]);
          parts.push(`# shootdown run ${b.id} --kernel ${p.name} --seed ${seed} --json: exit ${r.code}`, r.stdout.trimEnd());
          parts.push(`# its trace`, fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8').trimEnd() : '(none)');
        }
        check(`run/${b.id}/${p.name}.txt`, parts.join('\n') + '\n');
      }
    });
  }
});

/** explore --json without what depends on the machine's speed. */
function verdict(stdout: string): string {
  const r = JSON.parse(stdout) as Record<string, unknown>;
  for (const k of ['elapsedMs', 'firstViolationMs', 'statesPerSecond', 'progress']) delete r[k];
  // Counterexample files are named by their content; the folder is this run's scratch one.
  for (const v of (r.violations ?? []) as { traceFile?: string }[]) if (v.traceFile) v.traceFile = path.basename(v.traceFile);
  return JSON.stringify(r, null, 2);
}

describe('golden corpus: explore', () => {
  for (const name of ['R1', 'R2']) {
    for (const cpus of [2, 3]) {
      it(`${name} with ${cpus} CPUs under every preset`, async () => {
        const parts: string[] = [];
        for (const p of PRESETS) {
          const argv = ['explore', name, '--cpus', String(cpus), '--kernel', p.name, '--json', '--out', path.join(tmp, 'explore')];
          const r = await cli(argv);
          parts.push(`# shootdown ${argv.slice(0, -2).join(' ')}: exit ${r.code}`, verdict(r.stdout));
        }
        check(`explore/${name}-${cpus}cpus.txt`, parts.join('\n') + '\n');
      }, 300_000);
    }
  }
  for (const name of ['T-L2', 'T14']) {
    it(`${name}, bounded`, async () => {
      const argv = ['explore', name, '--max-states', '5000', '--json', '--out', path.join(tmp, 'explore')];
      const r = await cli(argv);
      check(`explore/${name}.txt`, `# shootdown ${argv.slice(0, -2).join(' ')}: exit ${r.code}\n${verdict(r.stdout)}\n`);
    }, 300_000);
  }
});
