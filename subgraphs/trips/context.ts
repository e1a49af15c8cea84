import type DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { keyedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { ASSIGNED_TRIP_STATUSES, Trip } from './entities.ts';
import type { TripLifecycle } from './lifecycle.ts';
import type { PartnerBookings } from './partner-booking.ts';
import type { PartnerWebhookService } from './partner-webhooks/service.ts';
import type { TripsService } from './service.ts';
import { isUuid } from '../../platform/validation.ts';

export interface TripsExtras {
  readonly trips: TripsService;
  readonly lifecycle: TripLifecycle;
  /** Partner organisations' bookings for their guests. */
  readonly partnerBookings: PartnerBookings;
  /** Partners' webhook endpoints and their deliveries (partner-webhooks/). */
  readonly partnerWebhooks: PartnerWebhookService;
  /** Trips by id, one statement per request; ids that are not uuids are simply not found. */
  readonly tripById: DataLoader<string, Trip | null>;
  /** Each driver's trip in progress (assigned, arrived or started) by drivers' Driver id, one statement per request. */
  readonly currentTripByDriver: DataLoader<string, Trip | null>;
}

export type TripsContext = SubgraphContext<TripsExtras>;

export function createTripsExtras(em: EntityManager, trips: TripsService, lifecycle: TripLifecycle, partnerBookings: PartnerBookings, partnerWebhooks: PartnerWebhookService): TripsExtras {
  return {
    trips,
    lifecycle,
    partnerBookings,
    partnerWebhooks,
    tripById: keyedLoader(async (ids) => {
      const valid = ids.filter(isUuid);
      return valid.length > 0 ? em.find(Trip, { id: { $in: valid } }) : [];
    }, (trip) => trip.id),
    // At most one per driver: the partial unique index trips_one_active_trip_per_driver.
    currentTripByDriver: keyedLoader(async (driverIds) => {
      const valid = driverIds.filter(isUuid);
      return valid.length > 0 ? em.find(Trip, { driverId: { $in: valid }, status: { $in: [...ASSIGNED_TRIP_STATUSES] } }) : [];
    }, (trip) => trip.driverId!),
  };
}
