import { DEMO_CURRENCY, type DemoCity, type DemoTrip } from '../../platform/demo-city.ts';
import type { Ledger, LedgerCall } from './ledger/index.ts';
import { isSettled, type Settlement, type TripOutcome } from './settlement.ts';
import { CODES, holdKey, tripLedgerOf } from './trip-ledger.ts';

/** Every demo rider has 250.00 EGP left after the demo city's history. */
export const DEMO_RIDER_BALANCE_MINOR = 25_000n;
/** The demo trips' quoted commission (15 %), as trips' seed quotes them. */
const DEMO_COMMISSION_BPS = 1_500n;
/** Half-up to the minor unit, as trips computes TripCompleted.commissionMinor. */
const commissionOf = (fareMinor: bigint) => (fareMinor * DEMO_COMMISSION_BPS + 5_000n) / 10_000n;

const depositReference = (riderId: string) => `demo-deposit:${riderId}`;

/**
 * The demo city's money as ledger history, each transfer stamped with when it happened: a deposit into
 * every demo rider's wallet (250.00 EGP plus what their WALLET rides cost, a day before their first
 * ride), then, trip by trip in the order they happened, what the platform does live — the fare of a
 * WALLET trip held at booking, and each finished trip settled by the settlement itself (a WALLET fare
 * posted and split between driver and revenue, a CASH trip's commission charged to the driver's wallet,
 * a cancellation's hold released; demo cancellations are free). In one transaction; what the ledger
 * already shows is never moved again, so every start may run it, and a trip an older description left
 * active (its fare held) is settled once it is described finished.
 */
export async function seedDemoWallet(ledger: Ledger, settlement: Settlement, city: DemoCity) {
  const driverUserIds = new Map(city.drivers.map((driver) => [driver.id, driver.userId]));
  const outcomes = new Map(city.trips.map((trip) => [trip.id, outcomeOf(trip, driverUserIds)]));
  const firstRide = new Map<string, Date>();
  const walletFares = new Map<string, bigint>();
  for (const trip of city.trips) {
    if (!firstRide.has(trip.riderId) || trip.requestedAt < firstRide.get(trip.riderId)!) firstRide.set(trip.riderId, trip.requestedAt);
    if (trip.paymentMethod === 'WALLET' && trip.status !== 'CANCELLED') walletFares.set(trip.riderId, (walletFares.get(trip.riderId) ?? 0n) + trip.fareMinor);
  }

  await ledger.transaction(async (tx) => {
    const existing = await tx.transfersByReferences([...city.trips.map((trip) => trip.id), ...city.riders.map((rider) => depositReference(rider.id))]);
    const about = (reference: string) => existing.filter((transfer) => transfer.reference === reference);
    const wallets = await tx.openAccounts(city.riders.map((rider) => ({ kind: 'RIDER_WALLET' as const, ownerId: rider.id, currency: DEMO_CURRENCY })));
    const walletOf = new Map(city.riders.map((rider, i) => [rider.id, wallets[i]!.id]));
    const [provider, clearing] = [await tx.systemAccountId('PROVIDER_CLEARING', DEMO_CURRENCY), await tx.systemAccountId('TRIP_CLEARING', DEMO_CURRENCY)];

    const deposits: LedgerCall[] = city.riders
      .filter((rider) => about(depositReference(rider.id)).length === 0)
      .map((rider) => ({
        op: 'transfer',
        input: {
          idempotencyKey: `demo:deposit:${rider.id}`,
          debitAccountId: provider,
          creditAccountId: walletOf.get(rider.id)!,
          amount: DEMO_RIDER_BALANCE_MINOR + (walletFares.get(rider.id) ?? 0n),
          currency: DEMO_CURRENCY,
          code: CODES.DEPOSIT,
          reference: depositReference(rider.id),
          importedAt: new Date((firstRide.get(rider.id) ?? new Date()).getTime() - 86_400_000),
        },
      }));
    await applyAll(tx.apply(deposits));

    // A WALLET trip's history starts with its hold at booking.
    const unheld = (trip: DemoTrip) => trip.paymentMethod === 'WALLET' && about(trip.id).length === 0;
    const unsettled = [...city.trips]
      .sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime())
      .filter((trip) => unheld(trip) || !finished(trip) || !isSettled(outcomes.get(trip.id)!, tripLedgerOf(about(trip.id))));
    for (const trip of unsettled) {
      if (unheld(trip)) {
        const hold: LedgerCall = {
          op: 'hold',
          input: { idempotencyKey: holdKey(trip.id), debitAccountId: walletOf.get(trip.riderId)!, creditAccountId: clearing, amount: trip.fareMinor, currency: DEMO_CURRENCY, code: CODES.TRIP_FARE, reference: trip.id, importedAt: trip.requestedAt },
        };
        await applyAll(tx.apply([hold]));
      }
      if (finished(trip)) await settlement.settle(tx, [outcomes.get(trip.id)!], { imported: true });
    }
  });
}

/** Demo trips are finished; an older description may still call some active. */
const finished = (trip: DemoTrip) => trip.status === 'COMPLETED' || trip.status === 'CANCELLED';

function outcomeOf(trip: DemoTrip, driverUserIds: ReadonlyMap<string, string>): TripOutcome {
  const driverUserId = trip.driverId ? (driverUserIds.get(trip.driverId) ?? null) : null;
  if (trip.status === 'COMPLETED') {
    return { type: 'COMPLETED', tripId: trip.id, riderId: trip.riderId, driverUserId: driverUserId!, fare: trip.fareMinor, commission: commissionOf(trip.fareMinor), currency: DEMO_CURRENCY, method: trip.paymentMethod, at: trip.completedAt! };
  }
  return { type: 'CANCELLED', tripId: trip.id, riderId: trip.riderId, driverUserId, fee: 0n, currency: DEMO_CURRENCY, at: trip.cancelledAt! };
}

async function applyAll(outcomes: Promise<Array<{ transfer: unknown } | { error: Error }>>) {
  for (const outcome of await outcomes) if ('error' in outcome) throw outcome.error;
}
