import { demoTripEndedAt, type DemoCity } from '../../platform/demo-city.ts';
import type { EntityManager } from '../../platform/db.ts';
import { Driver } from './entities.ts';
import { upsertDriverTrips } from './records.ts';

const DAY_MS = 86_400_000;

/**
 * The demo city's drivers, approved by the demo admin and parked at their positions, with what drivers
 * would have learnt from the demo trips' events: a finished `driver_trips` record per matched trip and
 * `driver_stats` counts (so dispatch scores demo drivers on their history). Existing rows are left
 * alone (a trip record only gains the times it lacks), so seeding twice changes nothing and a data
 * directory seeded by an earlier version gains the records it never had.
 */
export async function seedDemoDrivers(em: EntityManager, city: DemoCity) {
  const existing = new Set((await em.find(Driver, { id: { $in: city.drivers.map((d) => d.id) } }, { fields: ['id'] })).map((d) => d.id));
  const seededAt = new Date();
  for (const driver of city.drivers.filter((d) => !existing.has(d.id))) {
    em.create(Driver, {
      id: driver.id,
      userId: driver.userId,
      vehicleType: driver.vehicle.type,
      vehicleMake: driver.vehicle.make,
      vehicleModel: driver.vehicle.model,
      vehicleColor: driver.vehicle.color,
      vehiclePlate: driver.vehicle.plate,
      vehicleYear: driver.vehicle.year,
      approvalStatus: 'APPROVED',
      approvedAt: driver.approvedAt,
      approvedBy: city.admin.id,
      lastLat: driver.position.lat,
      lastLng: driver.position.lng,
      positionAt: seededAt,
      createdAt: new Date(driver.approvedAt.getTime() - DAY_MS),
      updatedAt: seededAt,
    });
  }
  await em.flush();
  await em.transactional(async (tx) => {
    await upsertDriverTrips(tx, demoTripRecords(city));
    await insertMissingStats(tx, demoDriverStats(city));
  });
}

function demoTripRecords(city: DemoCity) {
  const userIds = new Map(city.drivers.map((driver) => [driver.id, driver.userId]));
  return city.trips.flatMap((trip) =>
    trip.driverId && trip.assignedAt
      ? [
          {
            tripId: trip.id,
            driverId: trip.driverId,
            driverUserId: userIds.get(trip.driverId)!,
            riderId: trip.riderId,
            matchedAt: trip.assignedAt,
            startedAt: trip.startedAt ?? undefined,
            endedAt: demoTripEndedAt(trip),
            outcome: trip.status,
          },
        ]
      : [],
  );
}

interface DemoDriverStats {
  driverId: string;
  offersReceived: number;
  offersAccepted: number;
  tripsCompleted: number;
  tripsCancelledByDriver: number;
}

/**
 * Every demo driver's counts: an accepted offer per matched trip, plus a few offers they let pass (0 to
 * 3, by their place in the city) so acceptance rates differ as real ones do.
 */
function demoDriverStats(city: DemoCity): DemoDriverStats[] {
  return city.drivers.map((driver, i) => {
    const theirs = city.trips.filter((trip) => trip.driverId === driver.id);
    const offersAccepted = theirs.length;
    return {
      driverId: driver.id,
      offersReceived: offersAccepted + (i % 4),
      offersAccepted,
      tripsCompleted: theirs.filter((trip) => trip.status === 'COMPLETED').length,
      tripsCancelledByDriver: theirs.filter((trip) => trip.cancellation?.by === 'DRIVER').length,
    };
  });
}

/** A driver with counts already (from real offers since) keeps them. */
async function insertMissingStats(em: EntityManager, stats: readonly DemoDriverStats[]) {
  await em.getConnection().execute(
    `insert into "drivers"."driver_stats" ("driver_id", "offers_received", "offers_accepted", "trips_completed", "trips_cancelled_by_driver", "updated_at")
     values ${stats.map(() => '(?, ?, ?, ?, ?, now())').join(', ')}
     on conflict ("driver_id") do nothing`,
    stats.flatMap((s) => [s.driverId, s.offersReceived, s.offersAccepted, s.tripsCompleted, s.tripsCancelledByDriver]),
    'run',
    em.getTransactionContext(),
  );
}
