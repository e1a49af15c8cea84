import type { EntityManager } from '../../platform/db.ts';
import { TripCancelled, TripCompleted } from '../../platform/events/contracts/index.ts';
import type { EventOf } from '../../platform/events/index.ts';
import type { SubgraphRuntime } from '../../platform/subgraph.ts';
import type { Ledger } from './ledger/index.ts';
import type { Settlement, TripOutcome } from './settlement.ts';

/** The consumer group wallet reads trips' stream with. */
export const SETTLEMENT_CONSUMER = 'trip-settlement';
/** The trip events that move money, by their shared contracts (platform/events/contracts/trips.ts). */
export const SETTLEMENT_CONTRACTS = [TripCompleted, TripCancelled] as const;
export type SettlementEvent = EventOf<(typeof SETTLEMENT_CONTRACTS)[number]>;

/** A finished trip as settlement reads it: amounts as bigints, times as dates. */
export function outcomeOf(event: SettlementEvent): TripOutcome {
  if (event.type === 'TripCompleted') {
    const { tripId, riderId, driverUserId, fareMinor, commissionMinor, currency, paymentMethod, completedAt, partnerId } = event.data;
    return { type: 'COMPLETED', tripId, riderId, driverUserId, fare: BigInt(fareMinor), commission: BigInt(commissionMinor), currency, method: paymentMethod, at: new Date(completedAt), partnerId: partnerId ?? null };
  }
  const { tripId, riderId, driverUserId, feeMinor, currency, cancelledAt, partnerId } = event.data;
  return { type: 'CANCELLED', tripId, riderId, driverUserId, fee: BigInt(feeMinor), currency, at: new Date(cancelledAt), partnerId: partnerId ?? null };
}

/**
 * Settles finished trips: every TripCompleted and TripCancelled of one read in one transaction, the
 * consumer's own, with the record that the events were processed. A redelivered event finds that record
 * and is skipped; a duplicate under another id finds its legs in the ledger (and their keys) and moves
 * nothing; a consumer killed mid-way rolled back everything of the read and settles it whole again.
 */
export function consumeTripEvents(runtime: Pick<SubgraphRuntime, 'events'>, ledger: Ledger, settlement: Settlement) {
  const settle = (events: SettlementEvent[], em: EntityManager) => settlement.settle(ledger.within(em), events.map(outcomeOf));
  runtime.events.consume({
    name: SETTLEMENT_CONSUMER,
    source: 'trips',
    contracts: SETTLEMENT_CONTRACTS,
    handle: (event, em) => settle([event], em),
    handleMany: settle,
  });
}
