/**
 * The bus's routing operator: each delivery request goes to its target's handler, found by one Map
 * lookup, so a message costs O(1) whatever the CPU count (one filter per CPU would be O(N):
 * docs/architecture.md §4). A request for a CPU that has no handler is dropped with that reason.
 */
// RxJS's own modules, not its index: the index loads all 200-odd operators at start (a tenth of a cold `run`).
import { map } from 'rxjs/internal/operators/map';
import type { OperatorFunction } from 'rxjs/internal/types';
import type { Disposition } from '../kernel/port.js';
import type { DeliveryOutcome, DeliveryRequest } from './messages.js';

export type DeliveryHandler = (request: DeliveryRequest) => Disposition;

export function routeByTarget(handlers: ReadonlyMap<number, DeliveryHandler>): OperatorFunction<DeliveryRequest, DeliveryOutcome> {
  return map((request) => {
    const handler = handlers.get(request.to);
    const disposition: Disposition = handler
      ? handler(request)
      : { status: 'dropped', reason: `no CPU ${request.to} on the interconnect` };
    return { request, disposition };
  });
}
