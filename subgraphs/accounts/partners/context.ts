import type DataLoader from 'dataloader';
import type { EntityManager } from '../../../platform/db.ts';
import { groupedLoader } from '../../../platform/loaders.ts';
import { isUuid } from '../../../platform/validation.ts';
import type { ApiKeyRecord } from './repository.ts';
import type { PartnersService } from './service.ts';

export interface PartnersExtras {
  readonly partners: PartnersService;
  /** A partner's keys, newest first: one statement for a whole list of partners. */
  readonly partnerKeys: DataLoader<string, ApiKeyRecord[]>;
}

export function createPartnersExtras(em: EntityManager, partners: PartnersService): PartnersExtras {
  return {
    partners,
    partnerKeys: groupedLoader((ids) => partners.repository.keysOfPartners(em, ids.filter(isUuid)), (key) => key.partnerId),
  };
}
