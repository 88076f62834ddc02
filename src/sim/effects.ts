/**
 * What a chart step asks of the rest of the machine, as values: the effects every actor's chart
 * actions put in an outbox, which the scheduler applies in the order they were asked for.
 */
import type { WatchedVar } from '../kernel/memory.js';
import type { CpuEffect, Disposition } from '../kernel/port.js';
import type { VmmEffect } from '../../machines/vmm.machine.js';
import type { VcpuGuestEffect } from '../../machines/vcpu.machine.js';

/**
 * An effect of a chart step that leaves the actor, as a value: what a CPU chart action put in its
 * outbox (CpuEffect, src/kernel/port.ts), a write to shared memory, a guest effect.
 * Memory writes are applied to the shared memory at once (a later action of the same step reads
 * them); what a write does outside the actor (its trace record, waking the CPUs that watch the
 * variable) is an effect like the others. The guest actors' effects (a VMM thread's ioctl, the
 * return KVM hands back, a vCPU thread dying, the guest's vsock driver, an injected interrupt) go
 * to the guest side (src/sim/guests.ts), which routes them.
 */
export type Effect = CpuEffect | { kind: 'mem'; name: WatchedVar; cpu: number; op: string; value: unknown } | GuestEffect;

/**
 * The effects of the vCPU and VMM thread charts the guest side routes, first in, first out (`vcpu`:
 * the vCPU, or the VMM thread's vCPU): a VMM thread's ioctl (machines/vmm.machine.ts), a return, a
 * thread's death, the guest's vsock driver, an injected interrupt (machines/vcpu/types.ts). A
 * thread's step puts them, and the vCPU's trace records (`VcpuRecordEffect`), in an outbox of its
 * own through its port's `out` (src/sim/guests.ts); the records are written when the step ends or
 * runs a host instruction, these go on to the outbox of the guest-side work.
 */
export type GuestEffect = VmmEffect | VcpuGuestEffect;

/**
 * What one chart step hands back to the scheduler: its effects, in the order its actions asked for
 * them, and, once the outbox is closed, how the delivery it took ended at the CPU (its first
 * 'account' effect) and the result of the VMX/SVM instruction a vCPU thread ran on it (its
 * 'host insn done'). `slot` is the actor stepping (see slot.ts).
 *
 * When the effects are applied is the outbox's `order`: 'after step' — once the step is over, each
 * in turn (a physical CPU's step); 'queued' — the outbox stays open while the actor's step and what
 * it sets off run, and the scheduler applies its effects first in, first out at the points the
 * guest side drains it (an effect applied may append more: a VMM thread's ioctl makes the vCPU
 * return, whose return is then applied after the effects queued before it).
 */
export interface Outbox {
  readonly slot: number;
  readonly order: 'after step' | 'queued';
  readonly effects: Effect[];
  disposition: Disposition | null;
  hostResult: string | null;
}
