import { NoCpuLeftInVmxRoot } from './no-cpu-left-in-vmx-root.js';
import { NoKernelBug } from './no-kernel-bug.js';
import { NoKernelWarn } from './no-kernel-warn.js';
import { RebootCompletes } from './reboot-completes.js';
import { ShootdownAcked } from './shootdown-acked.js';
import { VsockCreditNeverNegative, VsockNoPacketWithoutBackend, VsockPacketsBalance, VsockRepliesThrottleTx } from './vsock.js';
import type { Applicability, Observer } from './observer.js';
import type { Scenario } from '../scenarios/types.js';

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

/** A property's definition: its observer's class, with a static `inapplicable` when it needs something of the scenario. */
type Definition = { new (): Observer; inapplicable?: Applicability };

/** Each property's definition, by name. */
const DEFINITIONS: Record<(typeof PROPERTY_NAMES)[number], Definition> = {
  'no-kernel-bug': NoKernelBug,
  'no-kernel-warn': NoKernelWarn,
  'no-cpu-left-in-vmx-root': NoCpuLeftInVmxRoot,
  'shootdown-acked': ShootdownAcked,
  'reboot-completes': RebootCompletes,
  'vsock-no-packet-without-backend': VsockNoPacketWithoutBackend,
  'vsock-replies-throttle-tx': VsockRepliesThrottleTx,
  'vsock-packets-balance': VsockPacketsBalance,
  'vsock-credit-never-negative': VsockCreditNeverNegative,
};

/**
 * Why property `name` cannot apply to `scenario` (no run of it could violate the property), or null when
 * it can (or the name is not a property's).
 */
export function whyInapplicable(name: string, scenario: Scenario): string | null {
  const definition = (DEFINITIONS as Record<string, Definition | undefined>)[name];
  return definition?.inapplicable?.(scenario) ?? null;
}
