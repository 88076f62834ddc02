// Over 400 lines because the memos that make keying an interned state cheap (a part's number by id and renaming, for CPU charts, guest actors, memory, flags, items and observers) serve one algorithm, Symmetry.keyOf's, and belong beside it; the memo containers are small classes here.
/**
 * Symmetry keys for the transition cache (cached.ts), whose states are interned parts: a CPU's chart
 * state, the memory, the pending-item multiset, the flags and the observer set are each a number.
 * The canonical renaming is the one `Symmetry.keyOf` finds for the same state, and the key is made
 * from the same hashes (each part under that renaming), but as partsKey makes the search's keys
 * without symmetry: each part's hash is numbered by content and the numbers keyed (64 bits). Every
 * hash and number it is made of — a part abstracted from a CPU's point of view, a part under a
 * renaming — is remembered by the part's id (and the renaming's slot), so keying a state costs a
 * few array lookups instead of renaming objects. The parts never change once interned, which is
 * what makes remembering them sound. The renamings the orbit count tries are not remembered.
 */
import type { Renaming } from '../state/codec.js';
import type { CpuChartState } from '../state/cpu.js';
import type { FlagValues } from '../state/flags.js';
import { flagsHash } from '../state/flags.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { pendingHash, type PendingItem } from '../state/pending.js';
import type { Observer } from '../spec/index.js';
import { HashTable } from './hash-table.js';
import { partsKey } from './state-hash.js';
import { mix } from '../state/hash.js';
import { permId, vcpuImages, vmmRenaming, type VcpuLayout, renaming } from './renaming.js';
import { renamedChartHash, renamedFlagsHash, renamedItemHash, renamedMemoryHash, Symmetry } from './symmetry.js';

/** The transition cache's interned parts, by number, as symmetry reads them. */
export interface InternedParts {
  /** Chart state `state` as CPU `cpu`'s (an interned state is the same for any CPU: no CPU's number is part of it). */
  chart(state: number, cpu: number): CpuChartState;
  /** Its hash, as the state hash has it. */
  cpuHash(state: number): number;
  /** The descriptor numbers of pending-item multiset `items`. */
  items(items: number): Int32Array;
  /** A descriptor's pending item. */
  item(desc: number): PendingItem;
  memory(mem: number): { state: KernelMemoryState; hash: number };
  flags(flags: number): FlagValues;
  observers(set: number): readonly Observer[];
  /** With guests: guest state `state` as guest slot `j`'s, hashed under a renaming (NaN: the same as cpuHash gives). */
  guestHashUnder(state: number, j: number, r: Renaming): number;
  /** The scenario's vCPUs (symmetry.ts vcpuLayout), if any. */
  layout: VcpuLayout | undefined;
}

/** Renamings past this many in one search are not remembered (each hash under them is worked out). */
const SLOTS = 2 ** 20;

/** Dense numbers for 53-bit hashes: equal hashes, equal numbers (a part's content, numbered). */
class Dictionary {
  private readonly at = new HashTable(1 << 12);
  private size = 0;

  id(hash: number): number {
    let i = this.at.get(hash);
    if (i < 0) this.at.set(hash, (i = this.size++));
    return i;
  }

  /** The number of a hash, -1 if it has none. */
  find(hash: number): number {
    return this.at.get(hash);
  }
}

/**
 * A part number per small non-negative integer (`none`: none yet), in one growing Int32Array. Two
 * classes (this and HashByNumber) rather than one over either kind of typed array: one `get` that
 * sees both kinds is a polymorphic load on the keying's hottest line.
 */
class ByNumber {
  private a: Int32Array;

  constructor(private readonly none: number) {
    this.a = new Int32Array(16).fill(none);
  }

  get(i: number): number {
    return i < this.a.length ? (this.a[i] as number) : this.none;
  }

  put(i: number, v: number): number {
    if (i >= this.a.length) this.a = grown(this.a, i, this.none, Int32Array);
    this.a[i] = v;
    return v;
  }
}

/** A 53-bit hash per small non-negative integer (NaN: none yet), in one growing Float64Array. */
class HashByNumber {
  private a = new Float64Array(16).fill(Number.NaN);

  get(i: number): number {
    return i < this.a.length ? (this.a[i] as number) : Number.NaN;
  }

  put(i: number, v: number): number {
    if (i >= this.a.length) this.a = grown(this.a, i, Number.NaN, Float64Array);
    this.a[i] = v;
    return v;
  }
}

/** `a` copied into one twice as long as often as it takes to hold index `i`, the rest `none`. */
function grown<A extends Int32Array | Float64Array>(a: A, i: number, none: number, make: new (length: number) => A): A {
  let len = a.length;
  while (len <= i) len *= 2;
  const out = new make(len);
  out.fill(none);
  out.set(a);
  return out;
}

/** A part's number (-1: none) or a hash (NaN: none) by a small integer. */
const numbers = (): ByNumber => new ByNumber(-1);
const hashes = (): HashByNumber => new HashByNumber();

/** Renamings (slots) below this keep their parts' numbers in arrays by part id; the rest in one hash table. */
const ARRAY_SLOTS = 32;

/** A part's number by its id and renaming slot (-1: none yet). */
class PerRenaming {
  private readonly bySlot: ByNumber[] = [];
  private readonly rest = new HashTable(1 << 12);

  get(id: number, slot: number): number {
    if (slot < ARRAY_SLOTS) return this.bySlot[slot]?.get(id) ?? -1;
    return this.rest.get(id * SLOTS + slot);
  }

  /** A number for a key just looked up by `get`. */
  put(id: number, slot: number, v: number): number {
    if (slot < ARRAY_SLOTS) (this.bySlot[slot] ??= numbers()).put(id, v);
    else this.rest.set(id * SLOTS + slot, v);
    return v;
  }
}

/**
 * The key is not Symmetry.keyOf's number but made the same way from the same hashes: each part's
 * hash (under the canonical renaming) is numbered by its content (a Dictionary per kind of part),
 * and the numbers are keyed as the search without symmetry keys its parts' ids (partsKey: 64 bits,
 * two multiplications a part). A part's number is remembered by its id, and by id and renaming.
 */
export class InternedSymmetry extends Symmetry {
  /** Each descriptor's CPU within a group (-1: none; -2: not seen yet), and its item abstracted from that CPU. */
  private readonly descCpu = new ByNumber(-2);
  private readonly descAbs = hashes();
  /** By CPU, each chart state abstracted from that CPU's point of view (by the state's id). */
  private readonly chartAbs: HashByNumber[];
  /** Each kind of part's contents, numbered (by their hash as the state hash has it). */
  private readonly chartNo = new Dictionary();
  private readonly memNo = new Dictionary();
  private readonly flagsNo = new Dictionary();
  private readonly itemsNo = new Dictionary();
  /** A part's number by its id and renaming slot (slot 0: as it is). */
  private readonly chartUnder = new PerRenaming();
  private readonly memUnder = new PerRenaming();
  private readonly flagsUnder = new PerRenaming();
  private readonly itemsUnder = new PerRenaming();
  /** (observer set, renaming slot) → what its observers remember, by clock. */
  private readonly observersAt = new HashTable(1 << 12);
  private readonly observersByNow: Map<number, number>[] = [];
  /** Renaming ids (permId) → small numbers (slots), the identity 0; each slot's renaming and id. */
  private readonly slots = new Map<number, number>([[0, 0]]);
  private readonly slotPerms: number[][];
  private readonly slotIds: number[] = [0];
  /** Whether the last state keyed has CPUs tied in its canonical order (counting its orbit then keys it again). */
  tied = false;
  /** The slot of the renaming the last key was made under (-1: past SLOTS renamings, none). */
  slotUsed = 0;
  /** Each slot's chart number under the renaming being keyed, at its image's place (hashIds). */
  private readonly placed: Int32Array;
  /** The slots keyed: the CPUs, then the guest slots (vCPU i at cpuCount + 2i, its VMM thread after it). */
  private readonly width: number;
  /** By guest slot: each guest state abstracted from its CPU's point of view, by state id; its number by id and renaming slot. */
  private readonly guestAbs: HashByNumber[];
  private readonly guestUnder: PerRenaming[];
  /** By renaming slot: each vCPU's image. */
  private readonly slotImages: (readonly number[])[] = [];
  /** The last key (keyOfIds, or a renaming tried for the orbit), as partsKey gives it: low, high 32 bits. */
  readonly keyHalves = new Int32Array(2);

  /** The state being keyed (keyOfIds), for hashIds. */
  private cpus: Int32Array;
  private mem = 0;
  private items = 0;
  private flagsId = 0;
  private now = 0;
  private set = 0;
  /** The orbit count's trials: renamings of tied CPUs, keyed without being remembered (there may be many). */
  private readonly rehash = (perm: readonly number[]): number => this.hashIds(perm, 'trial');
  /** The orbit count's exchanges of two tied CPUs: a few per state, among the renamings the search keys under anyway, remembered. */
  private readonly exchange = (perm: readonly number[]): number => this.hashIds(perm, 'exchange');

  constructor(
    groups: readonly (readonly number[])[],
    private readonly cpuCount: number,
    private readonly parts: InternedParts,
  ) {
    super(groups, cpuCount, parts.layout);
    const guests = 2 * (parts.layout?.pcpu.length ?? 0);
    this.width = cpuCount + guests;
    this.cpus = new Int32Array(this.width);
    this.placed = new Int32Array(this.width);
    this.guestAbs = Array.from({ length: guests }, () => hashes());
    this.guestUnder = Array.from({ length: guests }, () => new PerRenaming());
    this.chartAbs = Array.from({ length: cpuCount }, () => hashes());
    this.slotPerms = [Array.from({ length: cpuCount }, (_, c) => c)];
  }

  /**
   * Take the renaming of slot `slot` (a `slotUsed` of a state keyed earlier) as the last state
   * keyed's, for the choice keys and sleep sets of that state (toCanonical, fromCanonical,
   * canonical, renamingId): the batch keys its children first and visits them after.
   */
  select(slot: number): void {
    const perm = this.slotPerms[slot] as number[];
    for (let c = 0; c < perm.length; c++) this.perm[c] = perm[c] as number;
    this.permKey = this.slotIds[slot] as number;
    this.identity = slot === 0;
    this.lastRehash = null;
  }

  /**
   * The canonical key of a state given as its parts' numbers (its CPUs' and guest actors' states by
   * slot), into `keyHalves`; 53 bits of it returned. The renaming is Symmetry.keyOf's.
   */
  keyOfIds(cpus: Int32Array, mem: number, items: number, flags: number, now: number, set: number): number {
    const n = this.cpuCount;
    const groupOf = this.groupOf;
    const descs = this.parts.items(items);
    for (let k = 0; k < descs.length; k++) {
      const d = descs[k] as number;
      let c = this.descCpu.get(d);
      if (c === -2) c = this.learnDesc(d);
      if (c >= 0) this.addOwn(c, this.descAbs.get(d));
    }
    const sortKey = this.sortKey;
    const layout = this.layout;
    for (let c = 0; c < n; c++) {
      if (groupOf[c] === -1) continue;
      const id = cpus[c] as number;
      const abs = this.chartAbs[c] as HashByNumber;
      const x = abs.get(id);
      let h = x === x ? x : abs.put(id, this.abstractChartHash(this.parts.chart(id, c), c));
      // Its vCPUs and their VMM threads (Symmetry.keyOf).
      if (layout) for (const i of layout.on[c] as number[]) h = mix(mix(h, this.guestAbstracted(cpus, 2 * i, c, i)), this.guestAbstracted(cpus, 2 * i + 1, c, i));
      sortKey[c] = h;
    }
    const ties = this.order();
    for (let c = 0; c < this.width; c++) this.cpus[c] = cpus[c] as number;
    this.mem = mem;
    this.items = items;
    this.flagsId = flags;
    this.now = now;
    this.set = set;
    const h = this.hashIds(this.perm);
    this.lastRehash = this.rehash;
    this.lastExchange = this.exchange;
    this.lastTies = ties;
    this.lastH = h;
    this.tied = ties.length > 0;
    return h;
  }

  /** Guest slot `j`'s state (of vCPU `i`, pinned to CPU `c`) abstracted from `c`'s point of view (Symmetry.abstractGuestHash), remembered by state id. */
  private guestAbstracted(cpus: Int32Array, j: number, c: number, i: number): number {
    const id = cpus[this.cpuCount + j] as number;
    const abs = this.guestAbs[j] as HashByNumber;
    const x = abs.get(id);
    if (x === x) return x;
    const y = this.parts.guestHashUnder(id, j, this.abstractGuest(c, i));
    return abs.put(id, y === y ? y : this.parts.cpuHash(id));
  }

  /** A descriptor first met: whose it is (as Symmetry.keyOf tells), and its item abstracted from that CPU. */
  private learnDesc(d: number): number {
    const it = this.parts.item(d);
    let c = this.ownerOf(it);
    if (c < 0 || c >= this.cpuCount || this.groupOf[c] === -1) c = -1;
    else this.descAbs.put(d, this.abstractItemHash(it, c));
    return this.descCpu.put(d, c);
  }

  /**
   * The key of the state being keyed under renaming `perm` (into `keyHalves`), and 53 bits of it
   * (what the orbit count compares). A `trial` (a renaming the orbit count tries) is keyed without
   * a slot, memos or new part numbers: a part whose content has no number yet cannot be the
   * canonical key's part at that place, so the trial cannot give the canonical key (NaN). An
   * `exchange` (the orbit count's exchange of two tied CPUs) is remembered as a key is, but leaves
   * `slotUsed` as the state's key left it.
   */
  private hashIds(perm: readonly number[], how: 'key' | 'exchange' | 'trial' = 'key'): number {
    const trial = how === 'trial';
    const n = this.cpuCount;
    let identity = perm === this.perm ? this.identity : true;
    if (perm !== this.perm) for (let c = 0; c < n && identity; c++) identity = perm[c] === c;
    const permKey = perm === this.perm ? this.permKey : identity || trial ? 0 : permId(perm, this.perms);
    let slot = trial ? undefined : permKey === 0 ? 0 : permKey === this.lastPermKey ? this.lastSlot : this.slots.get(permKey);
    if (slot === undefined && !trial && this.slots.size < SLOTS) {
      this.slots.set(permKey, (slot = this.slots.size));
      this.slotPerms.push([...perm]);
      this.slotIds.push(permKey);
    }
    const layout = this.layout;
    const images = !layout ? null : slot !== undefined ? (this.slotImages[slot] ??= vcpuImages(perm, layout)) : vcpuImages(perm, layout);
    if (how === 'key') this.slotUsed = slot ?? -1;
    if (slot !== undefined) {
      this.lastPermKey = permKey;
      this.lastSlot = slot;
    }
    // (No slot: past SLOTS renamings, or a trial: nothing under this one is remembered.)
    const memo = slot !== undefined;
    const s = slot ?? 0;
    // The renaming as an object (hashes under it), made only on a memo's miss.
    this.rPerm = perm;
    this.rPermKey = permKey;
    this.rTrial = trial;
    this.r = null;
    const parts = this.parts;
    const placed = this.placed;
    for (let c = 0; c < n; c++) {
      const id = this.cpus[c] as number;
      let x = memo ? this.chartUnder.get(id, s) : -1;
      if (x < 0) {
        x = this.number(this.chartNo, identity ? parts.cpuHash(id) : renamedChartHash(parts.chart(id, c), parts.cpuHash(id), this.renamed()));
        if (x < 0) return Number.NaN;
        if (memo) this.chartUnder.put(id, s, x);
      }
      placed[perm[c] as number] = x;
    }
    // The guest slots: vCPU i and its VMM thread at its image's places.
    if (images) {
      for (let j = 0; j < this.width - n; j++) {
        const id = this.cpus[n + j] as number;
        const under = this.guestUnder[j] as PerRenaming;
        let x = memo ? under.get(id, s) : -1;
        if (x < 0) {
          const i = j >> 1;
          let h = Number.NaN;
          if (!identity) h = parts.guestHashUnder(id, j, j % 2 === 0 ? this.renamed() : vmmRenaming(this.renamed(), i, images, layout as VcpuLayout));
          x = this.number(this.chartNo, h === h ? h : parts.cpuHash(id));
          if (x < 0) return Number.NaN;
          if (memo) under.put(id, s, x);
        }
        placed[n + 2 * (images[j >> 1] as number) + (j % 2)] = x;
      }
    }
    let mem = memo ? this.memUnder.get(this.mem, s) : -1;
    if (mem < 0) {
      const m = parts.memory(this.mem);
      mem = this.number(this.memNo, identity ? m.hash : renamedMemoryHash(m.state, m.hash, this.renamed()));
      if (mem < 0) return Number.NaN;
      if (memo) this.memUnder.put(this.mem, s, mem);
    }
    let flags = memo ? this.flagsUnder.get(this.flagsId, s) : -1;
    if (flags < 0) {
      const values = parts.flags(this.flagsId);
      flags = this.number(this.flagsNo, identity ? flagsHash(values) : renamedFlagsHash(values, this.renamed()));
      if (flags < 0) return Number.NaN;
      if (memo) this.flagsUnder.put(this.flagsId, s, flags);
    }
    let items = memo ? this.itemsUnder.get(this.items, s) : -1;
    if (items < 0) {
      items = this.number(this.itemsNo, this.itemsHash(identity ? null : this.renamed()));
      if (items < 0) return Number.NaN;
      if (memo) this.itemsUnder.put(this.items, s, items);
    }
    const observers = this.observersHash(memo, s);
    const out = this.keyHalves;
    partsKey(out, placed, this.width, mem, items, flags, observers | 0, (observers / 4294967296) | 0);
    this.r = null;
    return ((out[1] as number) & 0x1fffff) * 4294967296 + ((out[0] as number) >>> 0);
  }

  /** The last renaming id hashIds found a slot for, and that slot (most states are keyed under one of a few renamings). */
  private lastPermKey = 0;
  private lastSlot = 0;

  /** hashIds' renaming and how it keys (set as it starts), and the renaming as an object once made. */
  private rPerm: readonly number[] = [];
  private rPermKey = 0;
  private rTrial = false;
  private r: Renaming | null = null;

  /** hashIds' renaming as an object. */
  private renamed(): Renaming {
    return (this.r ??= this.rTrial ? renaming([...this.rPerm], this.layout ?? undefined) : this.renamingOf(this.rPermKey, this.rPerm));
  }

  /** A part's number by its content's hash: a new number for new content, except in a trial (-1: none). */
  private number(dict: Dictionary, hash: number): number {
    return this.rTrial ? dict.find(hash) : dict.id(hash);
  }

  /** The pending items' hash (the state hash's two sums, mixed), as they are (`r` null) or renamed. */
  private itemsHash(r: Renaming | null): number {
    const descs = this.parts.items(this.items);
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < descs.length; k++) {
      const it = this.parts.item(descs[k] as number);
      const x = r ? renamedItemHash(it, r) : pendingHash(it);
      lo += x >>> 0;
      hi += Math.floor(x / 4294967296);
    }
    return mix(lo, hi);
  }

  /** What the observers of the state being keyed remember, under the renaming (Symmetry.observersUnder). */
  private observersHash(memo: boolean, slot: number): number {
    if (!memo) return this.eachUnder(this.parts.observers(this.set), this.now, this.renamed());
    const key = this.set * SLOTS + slot;
    let i = this.observersAt.get(key);
    if (i < 0) {
      i = this.observersByNow.length;
      this.observersByNow.push(new Map());
      this.observersAt.set(key, i);
    }
    const byNow = this.observersByNow[i] as Map<number, number>;
    let x = byNow.get(this.now);
    if (x === undefined) byNow.set(this.now, (x = this.eachUnder(this.parts.observers(this.set), this.now, this.renamed())));
    return x;
  }
}
