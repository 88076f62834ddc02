/**
 * Section 5 of `npm run bench`: the cold start. A user types `shootdown run …` and waits for node to start,
 * the code to load, the JIT to warm up and the run to end; the in-process rows of section 1 see none of
 * that. Here the 8192-CPU emergency restart of section 1 (src/bench/data/emergency-restart-8192.json: the same scenario
 * as a file) runs as a child process, interleaved pair by pair with the same command through the CLI's
 * `main()` in this (warm) process; and node's own start and the CLI's module load are timed alone.
 */
import { fileURLToPath } from 'node:url';
import { main, nodeIo, type CliIo } from '../cli/main.js';
import { fmt, now, table } from './measure.js';
import { interleaveAsync, pairedSummary, ratioText, spread, spreadText, timeProcess } from './paired.js';

/**
 * The command a user runs: package.json's `bin`, the bundle `npm run build` writes (src/cli/vite.config.ts), in
 * dist/bin beside dist/src where this module is built.
 */
export const BIN = fileURLToPath(new URL('../../bin/shootdown.js', import.meta.url));
const BIN_SHOWN = 'dist/bin/shootdown.js';

/** The scenario file of the cold rows, in the repository: the bench's 8192-CPU emergency restart. */
export const COLD_SCENARIO = fileURLToPath(new URL('../../../src/bench/data/emergency-restart-8192.json', import.meta.url));
const SHOWN = 'src/bench/data/emergency-restart-8192.json';

/** The goal of issue #12 for the whole cold process. */
const COLD_TARGET_MS = 1000;

/** CPU milliseconds' median and range, or '-' without GNU time. */
export function cpuText(values: readonly (number | null)[]): string {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? '-' : spreadText(spread(known), (n) => fmt(n));
}

export async function coldRows(out: (line?: string) => void, cli: string, pairs: number): Promise<void> {
  out(`== 5. Cold start: the whole process as a user types it, ${pairs} pairs interleaved with the same command run warm in this process ==`);
  const node = process.execPath;
  const alone = (args: string[]): string[] => {
    const runs = Array.from({ length: pairs }, () => timeProcess(node, args, { cpu: true }));
    return [spreadText(spread(runs.map((r) => r.ms)), (n) => fmt(n)), cpuText(runs.map((r) => r.cpuMs))];
  };
  out(
    table(
      ['command', 'what', 'wall ms (median, range)', 'CPU ms (user+sys)'],
      [
        ['node -e 0', 'node starts and exits', ...alone(['-e', '0'])],
        [`node -e 'import("./${BIN_SHOWN}")'`, 'node starts, loads the CLI, exits', ...alone(['-e', `import(${JSON.stringify(cli)})`])],
      ],
    ),
  );
  out();
  const rows: string[][] = [];
  for (const json of [true, false]) {
    const args = ['run', COLD_SCENARIO, ...(json ? ['--json'] : [])];
    let warmBytes = 0;
    const sink: CliIo = { ...nodeIo, isTty: false, stdout: (t) => void (warmBytes += t.length), stderr: () => undefined };
    const r = await interleaveAsync(
      pairs,
      () => {
        const p = timeProcess(node, [cli, ...args], { cpu: true });
        if (p.status !== 0) throw new Error(`shootdown ${args.join(' ')} exited with ${p.status}: ${p.stderr}`);
        return { ms: p.ms, cpuMs: p.cpuMs, bytes: p.stdout.length };
      },
      async () => {
        warmBytes = 0;
        const t0 = now();
        const code = await main(args, sink);
        const ms = now() - t0;
        if (code !== 0) throw new Error(`main(${args.join(' ')}) returned ${code}`);
        return { ms, bytes: warmBytes };
      },
    );
    const s = pairedSummary(
      r.a.map((x) => x.ms),
      r.b.map((x) => x.ms),
    );
    const same = r.a.every((x) => x.bytes === r.b[0]?.bytes) && r.b.every((x) => x.bytes === r.b[0]?.bytes);
    rows.push([
      `shootdown run ${SHOWN}${json ? ' --json' : ''}`,
      spreadText(s.a, (n) => fmt(n)),
      cpuText(r.a.map((x) => x.cpuMs)),
      spreadText(s.b, (n) => fmt(n)),
      ratioText(s.ratio),
      fmt(r.b[0]?.bytes ?? 0),
      same ? 'ok' : 'OUTPUT DIFFERS',
      s.a.median <= COLD_TARGET_MS ? 'PASS' : 'MISS',
    ]);
  }
  out(table(['command (stdout to a pipe)', `cold ms: node ${BIN_SHOWN} …`, 'cold CPU ms', 'warm ms: main() in this process', 'cold ÷ warm', 'stdout bytes', 'same output', `cold ≤ ${fmt(COLD_TARGET_MS)} ms`], rows));
  out(`(section 1's warm figure is the simulation alone, without the CLI's validation of the file and its output;`);
  out(` CPU ms counts every thread of the child, GC and JIT included, and not the time it waited for a core)`);
  out();
}
