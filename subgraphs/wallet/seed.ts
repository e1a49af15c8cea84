import type { EntityManager } from '../../platform/db.ts';
import { DEMO_CURRENCY, demoId, type DemoCity } from '../../platform/demo-city.ts';
import { Payment, Wallet } from './entities.ts';

/** Every demo rider starts with 250.00 EGP. */
export const DEMO_RIDER_BALANCE_MINOR = 25_000n;

/**
 * A wallet per demo rider, and a CAPTURED payment (rider to driver, the quoted fare) per COMPLETED demo
 * trip, settled when it completed. Demo cancellations were free, so they moved no money. Existing rows
 * are left alone; a trip an earlier version left active and that is now completed gains its payment.
 */
export async function seedDemoWallet(em: EntityManager, city: DemoCity) {
  const driverUserIds = new Map(city.drivers.map((driver) => [driver.id, driver.userId]));
  const completed = city.trips.filter((trip) => trip.status === 'COMPLETED');
  const [wallets, payments] = await Promise.all([
    em.find(Wallet, { userId: { $in: city.riders.map((r) => r.id) } }, { fields: ['userId'] }),
    em.find(Payment, { tripId: { $in: completed.map((t) => t.id) } }, { fields: ['tripId'] }),
  ]);
  const haveWallet = new Set(wallets.map((w) => w.userId));
  const havePayment = new Set(payments.map((p) => p.tripId));

  for (const rider of city.riders.filter((r) => !haveWallet.has(r.id))) {
    em.create(Wallet, { userId: rider.id, balanceMinor: DEMO_RIDER_BALANCE_MINOR, currency: DEMO_CURRENCY });
  }
  for (const trip of completed.filter((t) => !havePayment.has(t.id))) {
    const settledAt = trip.completedAt!;
    em.create(Payment, {
      id: demoId(`payment:${trip.id}`),
      tripId: trip.id,
      payerUserId: trip.riderId,
      payeeUserId: trip.driverId ? (driverUserIds.get(trip.driverId) ?? null) : null,
      method: trip.paymentMethod,
      status: 'CAPTURED',
      amountMinor: trip.fareMinor,
      currency: DEMO_CURRENCY,
      createdAt: settledAt,
      updatedAt: settledAt,
    });
  }
  await em.flush();
}
