/**
 * The outboxes of the vCPU and VMM thread steps running now (see guests.ts): the effects a step's
 * actions put out wait in its outbox, in order, and are applied when the step is over, or before a
 * host instruction the step runs (the one synchronous call, `VcpuPort.hostInsn`). A host
 * instruction may set off nested steps, so the outboxes stack up.
 */
import type { VcpuEffect } from '../../machines/vcpu.machine.js';
import type { VmmEffect } from '../../machines/vmm.machine.js';

/**
 * The outbox of one vCPU or VMM thread step: the effects its actions put out (`VcpuPort.out`,
 * `VmmPort.out`), in order, those before `applied` applied already (see `ThreadOutboxes.out`), and how many
 * host instructions the step ran (`VcpuPort.hostInsn`, the one synchronous call).
 */
export interface ThreadOutbox {
  readonly effects: (VcpuEffect | VmmEffect)[];
  applied: number;
  hostInsns: number;
}

export class ThreadOutboxes {
  /** The outboxes of the thread steps running now, innermost at `depth - 1` (kept for reuse: a host instruction nests steps). */
  private readonly outboxes: ThreadOutbox[] = [];
  private depth = 0;

  /**
   * `lean`: the run writes no KVM tracepoint but the one an observer reads; `apply`: what a thread
   * step's effect does (Guests.applyThread).
   */
  constructor(
    private readonly lean: boolean,
    private readonly apply: (effect: VcpuEffect | VmmEffect) => void,
  ) {}

  /** Open the outbox of a vCPU or VMM thread step. */
  open(): ThreadOutbox {
    let outbox = this.outboxes[this.depth];
    if (outbox === undefined) {
      outbox = { effects: [], applied: 0, hostInsns: 0 };
      this.outboxes.push(outbox);
    } else {
      outbox.effects.length = 0;
      outbox.applied = 0;
      outbox.hostInsns = 0;
    }
    this.depth += 1;
    return outbox;
  }

  /** The step is over: apply what is left of its outbox; whether the step asked anything of the world (an effect, a host instruction). */
  close(outbox: ThreadOutbox): boolean {
    try {
      this.flush(outbox);
    } finally {
      this.depth -= 1;
    }
    return outbox.effects.length > 0 || outbox.hostInsns > 0;
  }

  /**
   * A thread step's effect, into its outbox. A lean run writes no KVM tracepoint but the one an
   * observer reads (kvm_nested_vmexit_inject): the others are no effect there.
   */
  out(effect: VcpuEffect | VmmEffect): void {
    if (effect.kind === 'kvm event' && this.lean && effect.what !== 'kvm_nested_vmexit_inject') return;
    const outbox = this.outboxes[this.depth - 1];
    if (outbox) outbox.effects.push(effect);
    else this.apply(effect);
  }

  /** A host instruction runs within the step now: the effects it put out before are applied first, and it is counted. */
  hostInsn(): void {
    const outbox = this.outboxes[this.depth - 1];
    if (outbox) {
      this.flush(outbox);
      outbox.hostInsns += 1;
    }
  }

  /** Apply the effects of `outbox` not applied yet, in order. */
  private flush(outbox: ThreadOutbox): void {
    while (outbox.applied < outbox.effects.length) this.apply(outbox.effects[outbox.applied++] as VcpuEffect | VmmEffect);
  }
}
