/**
 * Section 4e of `npm run bench`: what symmetry reduction (src/explore/symmetry.ts) buys on whole
 * searches. R2 with 4 CPUs has one pair of interchangeable CPUs (2 and 3), so at most half the
 * states go; each state costs more to key (its canonical renaming). Both sides run the whole search,
 * `--all-violations --no-pnr`, in fresh processes, interleaved (with, without, with, …): states,
 * the search's own time and the whole process's, and the per-pair ratio of search times.
 */
import { fmt, median, table } from './measure.js';
import { interleave, pairedSummary, ratioText, spreadText } from './paired.js';
import { exploreFresh } from './exploration.js';

const PRESETS = (process.env.BENCH_SYMMETRY_KERNELS ?? 'v6.2,v6.6').split(',');
const PAIRS = Number(process.env.BENCH_SYMMETRY_PAIRS ?? 2);
const CPUS = Number(process.env.BENCH_SYMMETRY_CPUS ?? 4);

export function symmetryRows(out: (line?: string) => void): void {
  if (PAIRS < 1) return;
  out(`-- 4e. Symmetry: R2 at ${CPUS} CPUs searched whole with and without it, ${PAIRS} interleaved pair(s) of fresh processes --`);
  out(`   node dist/bin/shootdown.js explore R2 --cpus ${CPUS} --kernel <preset> --all-violations --no-pnr --max-states 50000000 {--symmetry|--no-symmetry} --json`);
  const rows: string[][] = [];
  for (const preset of PRESETS) {
    const args = (sym: boolean) => ['R2', '--cpus', String(CPUS), '--kernel', preset, '--all-violations', '--no-pnr', '--max-states', '50000000', sym ? '--symmetry' : '--no-symmetry'];
    const runs = interleave(PAIRS, () => exploreFresh(args(true)), () => exploreFresh(args(false)));
    const withSym = runs.a;
    const without = runs.b;
    const paired = pairedSummary(
      withSym.map((r) => r.elapsedMs),
      without.map((r) => r.elapsedMs),
    );
    const first = withSym[0] as (typeof withSym)[number];
    const plain = without[0] as (typeof without)[number];
    rows.push([
      preset,
      fmt(plain.statesVisited),
      `${fmt(first.statesVisited)} (${first.symmetry ? first.symmetry.factor.toFixed(2) : '-'}×)`,
      first.complete && plain.complete ? 'yes' : 'no',
      spreadText(paired.b, fmt),
      spreadText(paired.a, fmt),
      `${fmt(median(without.map((r) => r.wallMs)))} / ${fmt(median(withSym.map((r) => r.wallMs)))}`,
      `${((median(withSym.map((r) => r.elapsedMs)) / first.statesVisited) * 1000).toFixed(2)} / ${((median(without.map((r) => r.elapsedMs)) / plain.statesVisited) * 1000).toFixed(2)}`,
      ratioText(paired.ratio),
    ]);
  }
  out(table(['kernel', 'states', 'with symmetry (factor)', 'complete', 'search ms without', 'search ms with', 'whole ms without / with', 'µs per state with / without', 'with ÷ without (per pair)'], rows));
  out();
}
