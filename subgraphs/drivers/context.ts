import type DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { keyedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { Driver } from './entities.ts';
import { isUuid } from './validation.ts';

export interface DriversExtras {
  /** Driver by its id: entity references and `driver(id)`. */
  readonly driversById: DataLoader<string, Driver | null>;
  /** Driver by accounts User id: `User.driverProfile`. */
  readonly driversByUserId: DataLoader<string, Driver | null>;
}

export type DriversContext = SubgraphContext<DriversExtras>;

export function createDriversExtras(em: EntityManager): DriversExtras {
  return {
    driversById: keyedLoader((ids) => em.find(Driver, { id: { $in: ids.filter(isUuid) } }), (driver) => driver.id),
    driversByUserId: keyedLoader((userIds) => em.find(Driver, { userId: { $in: userIds.filter(isUuid) } }), (driver) => driver.userId),
  };
}
