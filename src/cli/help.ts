/**
 * What `shootdown help <command>` and `shootdown <command> --help` print: every option of the
 * command with its value, default and meaning. The same table gives "did you mean" for a mistyped
 * option or command.
 */
// The explorer's defaults come from modules without imports: `run` and `help` do not load the explorer.
import { DEFAULT_BOUNDS, DEFAULT_PNR_MAX_STATES, DEFAULT_PNR_MAX_STATES_GUESTS } from '../explore/defaults.js';
import { FRONTIER_PER_SHARD } from '../explore/shard-split.js';
import { DEFAULT_SCENARIO } from '../scenarios/builtin.js';
import { DEFAULT_PRESET } from '../kernel/variants.js';
import { ACTOR_KINDS } from '../viz/actor-kinds.js';

/**
 * A whole number with its thousands grouped by commas, as toLocaleString('en-US') writes it. Not
 * toLocaleString itself: its first call loads ICU's number formats, some 20–35 ms of every command's start
 * (these texts are built when the module loads, also for `run`).
 */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

const EXPLORE_USAGE = `  shootdown explore <scenario file | built-in> [--cpus N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                [--strategy exhaustive|random|pct] [--property NAME]... [--max-states N] [--max-depth N]
                [--max-time S] [--all-violations] [--seed N] [--runs N] [--pct-depth D] [--no-reduction]
                [--symmetry | --no-symmetry] [--max-pass-over K]
                [--workers N | --shard I/N [--split-depth D]] [--out DIR] [--json] [--no-pnr] [--pnr-max-states N]
  shootdown explore merge <shard results dir | file>... [--out DIR] [--json] [--no-pnr] [--pnr-max-states N]
                                 bounds: --max-states ${grouped(DEFAULT_BOUNDS.maxStates)} and --max-depth ${grouped(DEFAULT_BOUNDS.maxDepth)} by default, no time limit;
                                 stops at each property's first (shortest) violation unless --all-violations;
                                 --symmetry keys states up to renaming interchangeable CPUs (same initial state,
                                 not named by the script, alike vCPUs pinned, no vsock devices; not with
                                 --workers/--shard), their vCPUs renamed with them: fewer states,
                                 each dearer to key; on by default where 3 or more CPUs are interchangeable
                                 (for one exhaustive search: not with --workers/--shard or random/pct);
                                 exit 0 complete and no violation, 1 violation, 2 bad input, 3 stopped at a
                                 bound with none found; each counterexample's point of no return (the decision
                                 after which every continuation violates) is searched, at most --pnr-max-states
                                 ${grouped(DEFAULT_PNR_MAX_STATES)} states from each prefix (${grouped(DEFAULT_PNR_MAX_STATES_GUESTS)} with guests); --no-pnr skips it
`;

export interface OptionHelp {
  /** Without the leading dashes. */
  name: string;
  /** The value's placeholder (`N`, `FILE`); absent for a flag that takes none. */
  value?: string;
  /** What applies when the option is absent. */
  default?: string;
  /** Given again, it adds another value. */
  repeatable?: boolean;
  text: string;
}

export interface CommandHelp {
  name: string;
  /** The arguments after the command name. */
  args: string;
  summary: string;
  options: OptionHelp[];
  /** Printed after the options: what the command's result and exit status mean. */
  notes?: string;
}

const KERNEL_OPTIONS: OptionHelp[] = [
  { name: 'kernel', value: 'PRESET', default: `the scenario's, else ${DEFAULT_PRESET}`, text: 'kernel preset (`shootdown kernels` lists them)' },
  { name: 'fix', value: 'NAME', repeatable: true, text: 'turn one fix switch on, on top of the preset' },
  { name: 'no-fix', value: 'NAME', repeatable: true, text: 'turn one fix switch off' },
];

export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'run',
    args: '[<scenario file | built-in>]',
    summary: `run one scenario (default ${DEFAULT_SCENARIO}) and print its timeline and outcome`,
    options: [
      { name: 'seed', value: 'N', default: '1', text: 'seed of the scheduler choices (0 to 4294967295)' },
      ...KERNEL_OPTIONS,
      { name: 'json', default: 'off', text: 'print the outcome as one JSON object instead of the timeline' },
      { name: 'timeline', default: 'off', text: 'with --json: add the timeline\'s lines as objects (timeline[])' },
      { name: 'trace', value: 'FILE', text: 'write the whole trace (JSON lines) to FILE, a regular file or a new one' },
      { name: 'replay', value: 'TRACE', text: 'replay a trace choice by choice; exit 1 if the run does not reproduce it, 2 if a scenario, --kernel, --fix or --no-fix given contradicts its header' },
      { name: 'steps', default: 'off', text: 'show every step, memory write and instruction in the timeline' },
      { name: 'fail-on-violation', default: 'off', text: 'exit 1 when a property is violated (for CI)' },
      { name: 'strict', default: 'off', text: 'exit 2 when a script step\'s `when` trigger never fired' },
      { name: 'inspect', default: 'off', text: "serve the run to Stately's inspector" },
      { name: 'inspect-port', value: 'N', default: '8080', text: 'port of the inspection server' },
      { name: 'inspect-linger', value: 'S', default: '60', text: 'seconds the inspection server stays up after the run (0 to 86400; 0: close at once)' },
      { name: 'inspect-host', value: 'ADDR', default: '127.0.0.1', text: 'address the inspection server listens on (anything but loopback is warned about)' },
      { name: 'inspect-wait', default: 'off', text: 'implies --inspect; start the run only when the first inspector page (or WebSocket client) connects' },
    ],
  },
  {
    name: 'explore',
    args: '<scenario file | built-in>',
    summary: 'every interleaving of a scenario, checked against the properties',
    options: [
      { name: 'cpus', value: 'N', default: "the scenario's", text: 'widen or narrow the machine to N CPUs (1 to 64)' },
      ...KERNEL_OPTIONS,
      { name: 'strategy', value: 'exhaustive|random|pct', default: 'exhaustive', text: 'how interleavings are picked' },
      { name: 'property', value: 'NAME', repeatable: true, default: 'all', text: 'check only this property; one that cannot apply to the scenario (a vsock property without a vhost-vsock device, shootdown-acked on one CPU, reboot-completes with nothing that restarts) is refused' },
      { name: 'max-states', value: 'N', default: grouped(DEFAULT_BOUNDS.maxStates), text: 'exhaustive: stop after N states (with --workers W: N in all, counted together); random and pct take --runs' },
      { name: 'max-depth', value: 'N', default: grouped(DEFAULT_BOUNDS.maxDepth), text: 'do not go deeper than N decisions' },
      { name: 'max-time', value: 'S', default: 'none', text: 'stop after S seconds (the result says the search is not complete)' },
      { name: 'all-violations', default: 'off', text: "go on after each property's first (shortest) violation and report every kind" },
      {
        name: 'max-pass-over',
        value: 'K',
        default: 'none',
        text: 'only runs where no CPU with its step ready waits through more than K decisions of others (1 to 200): rules out runs that need a CPU to stall, unless the scenario scripts it (stall, smi); the counts are part of each state, so no sleep sets or symmetry',
      },
      { name: 'seed', value: 'N', default: String(DEFAULT_BOUNDS.seed), text: 'seed of the random and pct strategies' },
      { name: 'runs', value: 'N', default: String(DEFAULT_BOUNDS.runs), text: 'runs of the random and pct strategies' },
      { name: 'pct-depth', value: 'D', default: String(DEFAULT_BOUNDS.pctDepth), text: 'priority change points of pct' },
      { name: 'no-reduction', default: 'off', text: 'explore without sleep sets' },
      { name: 'symmetry', default: 'on with 3 or more interchangeable CPUs (one exhaustive search)', text: 'key states up to renaming interchangeable CPUs (alike, unnamed by the script, with alike vCPUs pinned, no vsock devices): fewer states, each dearer' },
      { name: 'no-symmetry', default: 'off', text: 'search without symmetry reduction (to compare)' },
      { name: 'workers', value: 'N', default: '1', text: 'worker threads' },
      { name: 'shard', value: 'I/N', text: 'search shard I of N (0 to N-1, e.g. $JOB_COMPLETION_INDEX/N) and write its result to --out for `explore merge`' },
      { name: 'split-depth', value: 'D', default: `the first depth with ${FRONTIER_PER_SHARD}N frontier states`, text: 'with --shard: where the shards split the search' },
      { name: 'out', value: 'DIR', default: 'shootdown-traces', text: 'where counterexample traces (with --shard: the shard result) are written' },
      { name: 'json', default: 'off', text: 'print the result as one JSON object' },
      { name: 'no-pnr', default: 'off', text: "skip each counterexample's point of no return (the decision after which every continuation violates)" },
      { name: 'pnr-max-states', value: 'N', default: `${grouped(DEFAULT_PNR_MAX_STATES)}, ${grouped(DEFAULT_PNR_MAX_STATES_GUESTS)} with guests`, text: 'states searched from each prefix of a counterexample for its point of no return' },
    ],
    notes:
      `bounds: --max-states ${grouped(DEFAULT_BOUNDS.maxStates)} and --max-depth ${grouped(DEFAULT_BOUNDS.maxDepth)} by default, no time limit; the search stops at each\n` +
      "property's first (shortest) violation unless --all-violations, and when the JavaScript heap is three-quarters full.\n" +
      'exit status: 0 complete and no violation, 1 a violation, 2 bad input, 3 stopped at a bound with none found (no proof).\n' +
      '\n' +
      'shards: every shard runs the same breadth-first prefix, then shard I keeps the frontier states whose state hash\n' +
      'is I mod N; bounds apply to each shard; a shard exits 0 once its result file is written (2 on bad input).\n' +
      '  shootdown explore merge <shard results dir | file>... [--out DIR] [--json] [--no-pnr] [--pnr-max-states N]\n' +
      'checks that the files are exactly the shards 0 to N-1 of one search and reports them as one explore: the same\n' +
      'verdict, exit status, counterexample traces (--out) and JSON (plus `shards`). See docs/sharding.md.',
  },
  {
    name: 'view',
    args: '[<trace file | scenario file | built-in>]',
    summary: 'the viewer: statecharts with the active states lit, playback, message sequence',
    options: [
      { name: 'port', value: 'N', default: '7357 (the next free one if taken)', text: 'serve the viewer on port N (0: any free port)' },
      { name: 'host', value: 'ADDR', default: '127.0.0.1', text: 'address the viewer listens on (anything but loopback is warned about)' },
      { name: 'out', value: 'DIR', text: 'write the viewer to DIR instead of serving it' },
      { name: 'force', default: 'off', text: 'with --out: write into a non-empty directory' },
      { name: 'seed', value: 'N', default: '1', text: 'seed of the run (for a scenario)' },
      ...KERNEL_OPTIONS,
    ],
  },
  {
    name: 'export',
    args: '<actor kind>',
    summary: `a chart drawn from its machine (kinds: ${ACTOR_KINDS.map((k) => k.name).join(', ')})`,
    options: [
      { name: 'format', value: 'mermaid|scxml|dot|json', default: 'mermaid', text: 'output format' },
      { name: 'root', value: 'PATH', default: 'the whole chart', text: 'export only the state at PATH' },
      { name: 'depth', value: 'N', default: 'all levels', text: 'levels of nested states drawn' },
    ],
  },
  {
    name: 'export-trace',
    args: '<trace file>',
    summary: 'a trace as a message sequence',
    options: [{ name: 'format', value: 'mermaid-sequence|json|perfetto', default: 'mermaid-sequence', text: 'output format (perfetto: Chrome trace-event JSON for ui.perfetto.dev)' }],
  },
  { name: 'list', args: '', summary: 'built-in scenarios', options: [{ name: 'json', default: 'off', text: 'the catalogue as one JSON object' }] },
  { name: 'kernels', args: '', summary: 'kernel presets and fix switches', options: [{ name: 'json', default: 'off', text: 'presets and switches as one JSON object' }] },
  { name: 'help', args: '[<command>]', summary: 'this text, or every option of one command', options: [] },
];

export const COMMAND_NAMES = COMMANDS.map((c) => c.name);

export function findCommand(name: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The overview: one synopsis per command. */
export function usageText(): string {
  return `usage:
  shootdown run [<scenario file | built-in>] [--seed N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                [--json [--timeline]] [--trace FILE] [--replay TRACE] [--steps] [--fail-on-violation] [--strict]
                [--inspect | --inspect-wait [--inspect-port N] [--inspect-linger S] [--inspect-host ADDR]]
${EXPLORE_USAGE.trimEnd()}
  shootdown list [--json]        built-in scenarios
  shootdown kernels [--json]     kernel presets and fix switches
  shootdown view [<trace file | scenario file | built-in>] [--port N] [--host ADDR] | [--out DIR [--force]]
                 [--seed N] [--kernel PRESET] [--fix NAME]... [--no-fix NAME]...
                                 the viewer: statecharts with the active states lit, playback, message sequence
  shootdown export <actor kind> [--format mermaid|scxml|dot|json] [--root PATH] [--depth N]
                                 a chart drawn from its machine (kinds: ${ACTOR_KINDS.map((k) => k.name).join(', ')})
  shootdown export-trace <trace file> [--format mermaid-sequence|json|perfetto]
  shootdown help [<command>]     every option of a command, with its default (also \`shootdown <command> --help\`)
  shootdown --version

exit status: 0 done; 1 a replay that does not reproduce its trace, a violation with \`run --fail-on-violation\`,
or a violation found by \`explore\`; 2 bad input (one line on stderr saying what and where); 3 an \`explore\`
stopped at a bound with no violation found; 74 stdout could not be written; 130/143 interrupted by SIGINT/SIGTERM
(no partial output file is left).
`;
}

/** Every option of one command, with its default. */
export function commandHelpText(c: CommandHelp): string {
  const lines = [`usage: shootdown ${c.name}${c.args ? ` ${c.args}` : ''}${c.options.length ? ' [options]' : ''}`, '', `  ${c.summary}`];
  if (c.options.length) {
    lines.push('', 'options:');
    const heads = c.options.map((o) => `--${o.name}${o.value ? ` ${o.value}` : ''}${o.repeatable ? ' (repeatable)' : ''}`);
    const width = Math.min(Math.max(...heads.map((h) => h.length)), 40);
    c.options.forEach((o, i) => {
      const head = heads[i] as string;
      const text = `${o.text}${o.default !== undefined ? ` [default: ${o.default}]` : ''}`;
      lines.push(head.length > width ? `  ${head}\n  ${' '.repeat(width)}  ${text}` : `  ${head.padEnd(width)}  ${text}`);
    });
  }
  if (c.notes) lines.push('', c.notes);
  return lines.join('\n') + '\n';
}
