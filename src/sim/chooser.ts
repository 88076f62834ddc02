/**
 * The one source of nondeterminism. Every choice the scheduler makes (which runnable item goes
 * next, how long a delivery takes) is one call to `choose(n)`; a seeded chooser makes a run from a
 * seed, a replay chooser feeds back the picks a trace recorded.
 */
import type { ChoiceKind } from '../trace/records.js';

export interface Chooser {
  /** An integer in [0, n). */
  choose(n: number, kind: ChoiceKind): number;
  /** A JSON value from which `restoreChooser` makes an identical chooser. */
  save(): ChooserState;
}

export type ChooserState = { kind: 'seeded'; seed: number; state: number } | { kind: 'replay'; picks: Pick[]; position: number };

export interface Pick {
  kind: ChoiceKind;
  n: number;
  pick: number;
}

/** mulberry32: small, fast, and its whole state is one 32-bit integer. */
export class SeededChooser implements Chooser {
  private state: number;

  constructor(
    readonly seed: number,
    state?: number,
  ) {
    this.state = state ?? seed >>> 0;
  }

  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  choose(n: number): number {
    if (n <= 1) return 0;
    // u32 · n < 2^53 for every n the simulator asks for, so this is exact.
    return Math.floor((this.next() * n) / 0x1_0000_0000);
  }

  save(): ChooserState {
    return { kind: 'seeded', seed: this.seed, state: this.state };
  }
}

export class ReplayDivergence extends Error {
  override name = 'ReplayDivergence';
}

export class ReplayChooser implements Chooser {
  constructor(
    private readonly picks: readonly Pick[],
    private position = 0,
  ) {}

  choose(n: number, kind: ChoiceKind): number {
    if (n <= 1) return 0;
    const p = this.picks[this.position];
    if (!p) throw new ReplayDivergence(`replay ran out of recorded choices at choice ${this.position} (${kind} of ${n})`);
    if (p.kind !== kind || p.n !== n) {
      throw new ReplayDivergence(
        `replay diverged at choice ${this.position}: the trace chose a ${p.kind} among ${p.n}, this run asks for a ${kind} among ${n}`,
      );
    }
    if (!Number.isInteger(p.pick) || p.pick < 0 || p.pick >= n) {
      throw new ReplayDivergence(`replay choice ${this.position} picks ${p.pick}, outside 0..${n - 1}`);
    }
    this.position += 1;
    return p.pick;
  }

  save(): ChooserState {
    return { kind: 'replay', picks: [...this.picks], position: this.position };
  }
}

export function restoreChooser(state: ChooserState): Chooser {
  return state.kind === 'seeded' ? new SeededChooser(state.seed, state.state) : new ReplayChooser(state.picks, state.position);
}

/**
 * Replays a prefix of picks, then always takes the first choice: how an explored path to a
 * violation becomes a complete run whose trace `--replay` reproduces.
 */
export class PrefixChooser implements Chooser {
  private position = 0;

  constructor(private readonly prefix: readonly { pick: number; n: number }[]) {}

  choose(n: number, kind: ChoiceKind): number {
    if (n <= 1) return 0;
    const p = this.prefix[this.position];
    this.position += 1;
    if (!p) return 0;
    if (p.n !== n || kind !== 'next') throw new ReplayDivergence(`explored path diverged at choice ${this.position - 1}: ${p.n} choices then, ${n} now`);
    return p.pick;
  }

  save(): ChooserState {
    throw new Error('a prefix chooser is not saved');
  }
}
