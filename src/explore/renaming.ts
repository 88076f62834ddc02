/**
 * Renamings of CPU numbers for symmetry reduction (symmetry.ts): a permutation applied to CPU ids and
 * to the addresses of each CPU's VMXON and VMCS regions, choice keys renamed, the abstraction that
 * tells a CPU only from itself and its group, and the permutations of tied CPUs.
 */
import { VMCS_REGION_BASE, VMXON_REGION_BASE } from '../hw/cpu-state.js';
import { GUEST_VMCS_BASE } from '../sim/guest-inputs.js';
import type { Renaming } from '../state/codec.js';
import { mix } from '../state/hash.js';

/** Each vCPU's VMCS/VMCB regions (vmcs01, vmcs02: guest-inputs.ts vmcsRegions). */
const VCPU_REGIONS = 0x2000;

/**
 * The scenario's vCPUs as renamings see them (symmetry.ts): a renaming of CPUs takes the k-th vCPU
 * pinned to a CPU to the k-th vCPU pinned to its image (with its VMM thread; the groups are made so
 * that they are alike), and a VMM thread's own vCPU file descriptor to its image's.
 */
export interface VcpuLayout {
  /** Each vCPU's CPU, and its place among the vCPUs pinned there (in index order). */
  pcpu: readonly number[];
  pos: readonly number[];
  /** Each CPU's vCPUs, in index order. */
  on: readonly (readonly number[])[];
  /** The file descriptor KVM_CREATE_VCPU gives each vCPU's VMM thread (kvm/ioctl.ts vcpuFd). */
  fd: readonly number[];
}

/** Each vCPU's image under a renaming of CPUs (`perm`: each CPU's image). */
export function vcpuImages(perm: readonly number[], layout: VcpuLayout): number[] {
  return layout.pcpu.map((p, i) => {
    const to = p >= 0 && p < perm.length ? (perm[p] as number) : p;
    return to === p ? i : ((layout.on[to] as readonly number[])[layout.pos[i] as number] as number);
  });
}

/** A per-vCPU region's address (a vCPU's VMCS/VMCB), its vCPU renamed by `vcpu`; else undefined. */
function vcpuRegion(a: number, count: number, vcpu: (i: number) => number): number | undefined {
  const z = a - GUEST_VMCS_BASE;
  if (z < 0 || z >= count * VCPU_REGIONS) return undefined;
  const v = Math.floor(z / VCPU_REGIONS);
  return vcpu(v) * VCPU_REGIONS + GUEST_VMCS_BASE + (z - v * VCPU_REGIONS);
}

/**
 * The renaming of VMM thread `i`'s state under `r` (made with `vcpus`, each vCPU's image): its own
 * vCPU's file descriptor becomes its image's.
 */
export function vmmRenaming(r: Renaming, i: number, vcpus: readonly number[], layout: VcpuLayout): Renaming {
  const own = layout.fd[i] as number;
  const to = layout.fd[vcpus[i] as number] as number;
  return own === to ? r : { ...r, vcpuFd: (fd) => (fd === own ? to : fd) };
}

const PAGE = 0x1000;
/** VMCS regions per CPU (VMCS_REGION_BASE + (id * 64 + v) * 0x1000: simulation.ts cpuInputs). */
const VMCS_PER_CPU = 64;

export function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/**
 * A renaming of CPUs given as each CPU's image (CPUs past the end and -1 stay); with `layout`, the
 * vCPUs pinned to them renamed with them (vcpuImages).
 */
export function renaming(perm: readonly number[], layout?: VcpuLayout): Renaming {
  const n = perm.length;
  const cpu = (id: number): number => (id >= 0 && id < n ? (perm[id] as number) : id);
  const images = layout && layout.pcpu.length > 0 ? vcpuImages(perm, layout) : null;
  const vcpu = images ? (i: number): number => (i >= 0 && i < images.length ? (images[i] as number) : i) : null;
  return {
    cpu,
    ...(vcpu ? { vcpu } : {}),
    addr: (a) => {
      if (vcpu && images) {
        const g = vcpuRegion(a, images.length, vcpu);
        if (g !== undefined) return g;
      }
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

/** A choice key (Simulation.itemKey) with its CPU numbers (and vCPU indices: a vCPU's or VMM thread's step) renamed. */
export function renameChoiceKey(key: string, cpu: (id: number) => number, vcpu?: (index: number) => number): string {
  const g = vcpu ? /^([vu])(\d+)$/.exec(key) : null;
  if (g && vcpu) return `${g[1]}${vcpu(Number(g[2]))}`;
  const m = /^([std])(\d+)(.*)$/.exec(key);
  if (!m) return key; // scripted actions (x…) are by step index; vhost workers (w…) are never renamed
  let rest = m[3] as string;
  if (m[1] === 'd') {
    // d<target><<mode>:<vector>:<from>:<source>
    const parts = rest.split(':');
    if (parts.length === 4 && /^\d+$/.test(parts[2] as string)) parts[2] = String(cpu(Number(parts[2])));
    rest = parts.join(':');
  }
  return `${m[1]}${cpu(Number(m[2]))}${rest}`;
}

/**
 * Every CPU number of group `groupOf[id]` as one stand-in; `self` as another (n CPUs); with `layout`,
 * each vCPU pinned to a CPU of a group as its place there and its CPU's stand-in.
 */
export function abstractRenaming(self: number, n: number, groupOf: readonly number[], layout?: VcpuLayout): Renaming {
  const cpu = (id: number): number => (id === self ? -1000 : id >= 0 && id < n && groupOf[id] !== -1 ? -2000 - (groupOf[id] as number) : id);
  const r = renaming([]);
  const count = layout?.pcpu.length ?? 0;
  const vcpu = (i: number): number => {
    const p = i >= 0 && i < count ? ((layout as VcpuLayout).pcpu[i] as number) : -1;
    return p >= 0 && p < n && groupOf[p] !== -1 ? cpu(p) * 1000 - ((layout as VcpuLayout).pos[i] as number) : i;
  };
  return {
    cpu,
    ...(count > 0 ? { vcpu } : {}),
    addr: (a) => {
      // A vCPU's region: the vCPU abstracted, the offset kept.
      const z = a - GUEST_VMCS_BASE;
      if (z >= 0 && z < count * VCPU_REGIONS) return mix(3, vcpu(Math.floor(z / VCPU_REGIONS))) + (z % VCPU_REGIONS);
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

/**
 * One renaming per coset σH of H in the renamings of `ties` within themselves, where H renames each
 * of `classes` (per tie: its places split into classes) within itself: a coset is fixed by the
 * sets σ sends the classes to, so σ takes each class's places, in order, to the places of one set
 * in order. Tie t's classes are `classes[t]`.
 */
export function* cosetRepresentatives(classes: readonly (readonly (readonly number[])[])[], n: number): Generator<number[]> {
  const sigma = Array.from({ length: n }, (_, i) => i);
  const free: number[][] = classes.map((cls) => cls.flat().sort((a, b) => a - b));
  // Tie t, class j: choose the places its class is sent to among those of the tie still free.
  function* rec(t: number, j: number): Generator<number[]> {
    if (t === classes.length) {
      yield sigma;
      return;
    }
    const cls = classes[t] as readonly (readonly number[])[];
    if (j === cls.length) {
      yield* rec(t + 1, 0);
      return;
    }
    const from = cls[j] as readonly number[];
    const left = free[t] as number[];
    for (const to of subsets(left, from.length)) {
      from.forEach((place, i) => (sigma[place] = to[i] as number));
      free[t] = left.filter((x) => !to.includes(x));
      yield* rec(t, j + 1);
      free[t] = left;
    }
  }
  yield* rec(0, 0);
}

/** The k-element subsets of `xs`, each in the order of `xs`: the first is the first k. */
function* subsets(xs: readonly number[], k: number): Generator<number[]> {
  if (k === 0) {
    yield [];
    return;
  }
  for (let i = 0; i + k <= xs.length; i++) for (const rest of subsets(xs.slice(i + 1), k - 1)) yield [xs[i] as number, ...rest];
}

/** n! / (k1! k2! …): the ways to split n places into classes of sizes ks (which add up to n). */
export function multinomial(ks: readonly number[]): number {
  let out = 1;
  let n = 0;
  for (const k of ks) for (let i = 1; i <= k; i++) out = (out * ++n) / i;
  return Math.round(out);
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
