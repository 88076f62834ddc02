/**
 * The command line's options, parsed the same way by every command: node's parseArgs, with a value that
 * looks like a negative number taken as the value of the option before it (so `--seed -1` reaches the
 * option's own range check instead of parseArgs' "argument is ambiguous"), and its errors as bad input.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from './scenario-args.js';

/**
 * `--seed -1` is a value, not an option: parseArgs would call it ambiguous. Join an option that takes a
 * value with a following argument that looks like a negative number, so the option's check names it.
 */
function joinNegatives(args: readonly string[], options: ParseArgsConfig['options']): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const option = a.startsWith('--') ? options?.[a.slice(2)] : undefined;
    if (option?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i += 1;
    } else out.push(a);
  }
  return out;
}

/**
 * parseArgs over `config.args`, negative numbers kept as values, its errors as one line of bad input.
 * An option that takes one value and is given twice with different values is refused: parseArgs keeps
 * the last, so `--seed abc --seed 2` would run seed 2 without a word about the first.
 */
export function parseCommandArgs<T extends ParseArgsConfig & { args: readonly string[] }>(config: T): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T & { tokens: true }>>;
  try {
    parsed = parseArgs({ ...config, args: joinNegatives(config.args, config.options), tokens: true }) as ReturnType<typeof parseArgs<T & { tokens: true }>>;
  } catch (e) {
    throw new InputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const seen = new Map<string, string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    const option = config.options?.[t.name];
    if (option === undefined || option.multiple === true) continue;
    const before = seen.get(t.name);
    if (before !== undefined && before !== t.value) {
      throw new InputError(`--${t.name} given twice (${JSON.stringify(before)}, then ${JSON.stringify(t.value)}): give it once`);
    }
    seen.set(t.name, t.value);
  }
  const { tokens: _tokens, ...result } = parsed;
  return result as unknown as ReturnType<typeof parseArgs<T>>;
}
