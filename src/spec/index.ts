import { NoCpuLeftInVmxRoot } from './no-cpu-left-in-vmx-root.js';
import { NoKernelBug } from './no-kernel-bug.js';
import { NoKernelWarn } from './no-kernel-warn.js';
import { RebootCompletes } from './reboot-completes.js';
import { ShootdownAcked } from './shootdown-acked.js';
import { VsockCreditNeverNegative, VsockNoPacketWithoutBackend, VsockPacketsBalance, VsockRepliesThrottleTx } from './vsock.js';
import type { Observer } from './observer.js';

export type { Observer, Violation } from './observer.js';

export const PROPERTY_NAMES = [
  'no-kernel-bug',
  'no-kernel-warn',
  'no-cpu-left-in-vmx-root',
  'shootdown-acked',
  'reboot-completes',
  'vsock-no-packet-without-backend',
  'vsock-replies-throttle-tx',
  'vsock-packets-balance',
  'vsock-credit-never-negative',
] as const;

/** A fresh set of every property observer. */
export function allObservers(): Observer[] {
  return [
    new NoKernelBug(),
    new NoKernelWarn(),
    new NoCpuLeftInVmxRoot(),
    new ShootdownAcked(),
    new RebootCompletes(),
    new VsockNoPacketWithoutBackend(),
    new VsockRepliesThrottleTx(),
    new VsockPacketsBalance(),
    new VsockCreditNeverNegative(),
  ];
}
