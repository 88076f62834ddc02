/**
 * Renamings of CPU numbers for symmetry reduction (symmetry.ts): a permutation applied to CPU ids and
 * to the addresses of each CPU's VMXON and VMCS regions, choice keys renamed, the abstraction that
 * tells a CPU only from itself and its group, and the permutations of tied CPUs.
 */
import { VMCS_REGION_BASE, VMXON_REGION_BASE } from '../hw/cpu-state.js';
import type { Renaming } from '../state/codec.js';
import { mix } from '../state/hash.js';

const PAGE = 0x1000;
/** VMCS regions per CPU (VMCS_REGION_BASE + (id * 64 + v) * 0x1000: simulation.ts cpuInputs). */
const VMCS_PER_CPU = 64;

export function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/** A renaming of CPUs given as each CPU's image (CPUs past the end and -1 stay). */
export function renaming(perm: readonly number[]): Renaming {
  const n = perm.length;
  const cpu = (id: number): number => (id >= 0 && id < n ? (perm[id] as number) : id);
  return {
    cpu,
    addr: (a) => {
      const x = a - VMXON_REGION_BASE;
      if (x >= 0 && x < n * PAGE) {
        const id = Math.floor(x / PAGE);
        return VMXON_REGION_BASE + cpu(id) * PAGE + (x - id * PAGE);
      }
      const y = a - VMCS_REGION_BASE;
      if (y >= 0 && y < n * VMCS_PER_CPU * PAGE) {
        const id = Math.floor(y / (VMCS_PER_CPU * PAGE));
        return VMCS_REGION_BASE + cpu(id) * VMCS_PER_CPU * PAGE + (y - id * VMCS_PER_CPU * PAGE);
      }
      return a;
    },
  };
}

/** A choice key (Simulation.itemKey) with its CPU numbers renamed. */
export function renameChoiceKey(key: string, cpu: (id: number) => number): string {
  const m = /^([std])(\d+)(.*)$/.exec(key);
  if (!m) return key; // scripted actions (x…) are by step index
  let rest = m[3] as string;
  if (m[1] === 'd') {
    // d<target><<mode>:<vector>:<from>:<source>
    const parts = rest.split(':');
    if (parts.length === 4 && /^\d+$/.test(parts[2] as string)) parts[2] = String(cpu(Number(parts[2])));
    rest = parts.join(':');
  }
  return `${m[1]}${cpu(Number(m[2]))}${rest}`;
}

/** Every CPU number of group `groupOf[id]` as one stand-in; `self` as another (n CPUs). */
export function abstractRenaming(self: number, n: number, groupOf: readonly number[]): Renaming {
  const cpu = (id: number): number => (id === self ? -1000 : id >= 0 && id < n && groupOf[id] !== -1 ? -2000 - (groupOf[id] as number) : id);
  const r = renaming([]);
  return {
    cpu,
    addr: (a) => {
      // The region's CPU, abstracted; its offset within the CPU's regions kept.
      const x = a - VMXON_REGION_BASE;
      if (x >= 0 && x < n * PAGE) return mix(1, cpu(Math.floor(x / PAGE))) + (x % PAGE);
      const y = a - VMCS_REGION_BASE;
      if (y >= 0 && y < n * VMCS_PER_CPU * PAGE) return mix(2, cpu(Math.floor(y / (VMCS_PER_CPU * PAGE)))) + (y % (VMCS_PER_CPU * PAGE));
      return r.addr(a);
    },
  };
}

/** Ids of renamings past 12 CPUs start here (above every Lehmer rank of 12 or fewer). */
const FIRST_LARGE_ID = 2 ** 31;

/**
 * A number for a renaming, never negative (the identity is 0): its rank among all permutations
 * (Lehmer code) up to 12 CPUs, where that is a small integer; past that, an id given in order of
 * first use (`ids`).
 */
export function permId(perm: readonly number[], ids: Map<string, number>): number {
  const n = perm.length;
  if (n <= 12) {
    let rank = 0;
    for (let i = 0; i < n; i++) {
      let smaller = 0;
      for (let j = i + 1; j < n; j++) if ((perm[j] as number) < (perm[i] as number)) smaller++;
      rank = rank * (n - i) + smaller;
    }
    return rank;
  }
  const key = perm.join(',');
  let id = ids.get(key);
  if (id === undefined) ids.set(key, (id = FIRST_LARGE_ID + ids.size));
  return id;
}

/** Every permutation of 0..n-1 that permutes each of `classes` within itself and fixes the rest. */
export function* permutationsOf(classes: readonly number[][], n: number): Generator<number[]> {
  const base = Array.from({ length: n }, (_, i) => i);
  function* rec(k: number, cur: number[]): Generator<number[]> {
    if (k === classes.length) {
      yield cur;
      return;
    }
    const cls = classes[k] as number[];
    for (const order of arrangements(cls)) {
      const next = cur.slice();
      cls.forEach((c, i) => (next[c] = order[i] as number));
      yield* rec(k + 1, next);
    }
  }
  yield* rec(0, base);
}

function* arrangements(xs: readonly number[]): Generator<number[]> {
  if (xs.length <= 1) {
    yield [...xs];
    return;
  }
  for (let i = 0; i < xs.length; i++) {
    const rest = [...xs.slice(0, i), ...xs.slice(i + 1)];
    for (const r of arrangements(rest)) yield [xs[i] as number, ...r];
  }
}
