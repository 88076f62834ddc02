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

/** parseArgs over `config.args`, negative numbers kept as values, its errors as one line of bad input. */
export function parseCommandArgs<T extends ParseArgsConfig & { args: readonly string[] }>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs({ ...config, args: joinNegatives(config.args, config.options) }) as ReturnType<typeof parseArgs<T>>;
  } catch (e) {
    throw new InputError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}
