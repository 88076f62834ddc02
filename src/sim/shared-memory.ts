/**
 * The shared kernel memory as the state sees it: its parts of the state key and hash, remembered
 * until the next write; its capture, shared with the capture it was restored from until then; and,
 * for exploration's transition cache, which fields a decision read and assigned.
 */
import type { KernelMemory, KernelMemoryState } from '../kernel/memory.js';
import { copyMemoryState, MEMORY, memoryHash, memoryText, MEMORY_FIELDS } from '../state/memory.js';

/** One bit per memory field, in MEMORY_FIELDS order. */
const FIELD_BITS = new Map<string | symbol, number>(MEMORY_FIELDS.map((f, i) => [f, 1 << i]));

export class SharedMemory {
  /** The memory's part of the state key (null: not known) and of the hash (0: not known). */
  cachedKey: string | null = null;
  cachedHash = 0;
  /** The capture whose memory the shared kernel memory equals, until the next write. */
  private sameAs: KernelMemoryState | null = null;
  /** Fields read and assigned while tracking (bits in MEMORY_FIELDS order), and the memory itself. */
  private fieldsRead = 0;
  private fieldsWritten = 0;
  private raw: KernelMemoryState | null = null;
  private tracker: KernelMemoryState | null = null;

  constructor(readonly k: KernelMemory) {}

  /** A shared variable was written: the remembered parts are stale. */
  written(): void {
    this.cachedKey = null;
    this.cachedHash = 0;
    this.sameAs = null;
  }

  key(): string {
    this.cachedKey ??= memoryText(this.k.state) + '|';
    return this.cachedKey;
  }

  /** The memory's part of the state hash, remembered until the next write. */
  hash(): number {
    if (this.cachedHash === 0) this.cachedHash = memoryHash(this.k.state);
    return this.cachedHash;
  }

  /**
   * The shared kernel memory as a capture (never changed afterwards): memory untouched since the
   * last restore or capture is that capture's memory.
   */
  capture(): KernelMemoryState {
    this.sameAs ??= copyMemoryState(this.k.state);
    return this.sameAs;
  }

  /** Back to a capture, with its key and hash parts if known. */
  restore(m: KernelMemoryState, key: string | null, hash: number): void {
    this.cachedKey = key;
    this.cachedHash = hash;
    if (this.sameAs !== m) {
      this.k.state = copyMemoryState(m);
      this.sameAs = m;
    }
  }

  /**
   * Start noting which fields are read and assigned. Every read of shared memory goes through
   * `k.state` (guards, actions, KernelMemory's own read-modify-writes): an object of accessors in its
   * place sees which fields.
   */
  track(): void {
    this.fieldsRead = 0;
    this.fieldsWritten = 0;
    this.raw = this.k.state;
    this.k.state = this.accessors();
  }

  endTracking(): { fieldsRead: number; fieldsWritten: number } {
    if (this.raw) this.k.state = this.raw;
    this.raw = null;
    return { fieldsRead: this.fieldsRead, fieldsWritten: this.fieldsWritten };
  }

  /** Accessors for every memory field that note the read and go to the real memory. */
  private accessors(): KernelMemoryState {
    if (this.tracker) return this.tracker;
    const tracker = {} as Record<string, unknown>;
    for (const { name: field } of MEMORY.fields) {
      const bit = FIELD_BITS.get(field) ?? 0;
      Object.defineProperty(tracker, field, {
        enumerable: true,
        get: () => {
          this.fieldsRead |= bit;
          return (this.raw as unknown as Record<string, unknown>)[field];
        },
        // An assignment is a write even when the value does not change (the same assignment on
        // another path may change it); a write into an array goes through the getter, so the
        // field counts as read, and the exploration compares its value before and after.
        set: (value: unknown) => {
          this.fieldsWritten |= bit;
          (this.raw as unknown as Record<string, unknown>)[field] = value;
        },
      });
    }
    this.tracker = tracker as unknown as KernelMemoryState;
    return this.tracker;
  }
}
