import type { EntityManager } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ServiceClient, ServiceRequestOptions } from '../../platform/service-client.ts';
import { activeTripBetween, upsertDriverTrip, type DriverTripRecord } from './records.ts';

/** A driver's assignment to a rider's trip, as trips (the authority on who is matched) reports it. */
export interface TripAssignment {
  tripId: string;
  driverId: string;
  driverUserId: string;
  riderId: string;
  assignedAt: string;
}

/** What drivers asks trips about a rider and a driver: trips' service-only `riderTripWithDriver` (`@inaccessible`, SERVICE role). */
export interface TripAssignments {
  of(riderId: string, driverId: string, options?: ServiceRequestOptions): Promise<TripAssignment | null>;
}

const ASSIGNMENT = `query RiderTripWithDriver($riderId: ID!, $driverId: ID!) {
  riderTripWithDriver(riderId: $riderId, driverId: $driverId) { tripId driverId driverUserId riderId assignedAt }
}`;

export function httpTripAssignments(trips: Pick<ServiceClient, 'request'>): TripAssignments {
  return {
    async of(riderId, driverId, options) {
      return (await trips.request<{ riderTripWithDriver: TripAssignment | null }>(ASSIGNMENT, { riderId, driverId }, options)).riderTripWithDriver;
    },
  };
}

/**
 * The trip on which `riderId` may follow `driverId` now. Drivers' own record comes from TripMatched,
 * which reaches drivers a few tens of milliseconds after the trip says DRIVER_ASSIGNED (outbox, stream,
 * consumer): a rider whose app subscribes at once would be refused. So on a miss drivers asks trips,
 * and records what trips confirms (the event's later upsert changes nothing: a time once set stays).
 * Trips unreachable: refused, as before (the rider's app retries; a position is never shown unasked).
 */
export async function riderTripWithDriver(em: EntityManager, trips: TripAssignments, riderId: string, driverId: string, logger: Logger, options?: ServiceRequestOptions): Promise<DriverTripRecord | null> {
  const known = await activeTripBetween(em, riderId, driverId);
  if (known) return known;
  let assignment: TripAssignment | null;
  try {
    assignment = await trips.of(riderId, driverId, options);
  } catch (error) {
    logger.warn({ err: error, riderId, driverId }, 'could not ask trips whether a rider may follow a driver; refused');
    return null;
  }
  if (!assignment || assignment.riderId !== riderId || assignment.driverId !== driverId) return null;
  const record = await upsertDriverTrip(em, { tripId: assignment.tripId, driverId, driverUserId: assignment.driverUserId, riderId, matchedAt: new Date(assignment.assignedAt) });
  return record.endedAt === null ? record : null;
}
