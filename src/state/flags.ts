/**
 * The small rest of the machine state, described once: which script steps fired, the platform
 * reset and kexec, and how the run ended.
 */
import type { RunEnd } from '../trace/records.js';
import { array, bool, cpuId, members, nullable } from './codec.js';
import { struct } from './struct.js';

export interface FlagValues {
  /** By script step index: whether its `when … enters` trigger fired (or its time came). */
  fired: boolean[];
  /** The first platform reset asked for, and whether it was delivered as INIT only. */
  resetAttempt: { initOnly: boolean } | null;
  /** A full platform reset happened: the run is over. */
  fullReset: boolean;
  /** The CPU that jumped to the crash kernel. */
  kexecCpu: number | null;
  ended: RunEnd | null;
}

export const FLAGS = struct<FlagValues>('flags', {
  fired: array(bool()),
  resetAttempt: nullable(struct<{ initOnly: boolean }>('reset attempt', { initOnly: bool() })),
  fullReset: bool(),
  kexecCpu: nullable(cpuId()),
  ended: nullable(members<RunEnd>({ reset: true, kexec: true, hang: true, idle: true, running: true })),
});

/** The flags of a run that has just begun. */
export function initialFlags(scriptSteps: number): FlagValues {
  return { fired: new Array<boolean>(scriptSteps).fill(false), resetAttempt: null, fullReset: false, kexecCpu: null, ended: null };
}

const FLAGS_SEED = 0x666c61;

export function flagsHash(f: FlagValues): number {
  return FLAGS.hash(FLAGS_SEED, f);
}
