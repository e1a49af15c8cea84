import type DataLoader from 'dataloader';
import type { EntityManager } from '../../platform/db.ts';
import { keyedLoader } from '../../platform/loaders.ts';
import type { SubgraphContext } from '../../platform/subgraph.ts';
import { User } from './entities.ts';
import type { AccountsService } from './service.ts';
import { createPartnersExtras, type PartnersExtras } from './partners/context.ts';
import type { PartnersService } from './partners/service.ts';

export interface AccountsExtras extends PartnersExtras {
  readonly accounts: AccountsService;
  readonly users: DataLoader<string, User | null>;
}

export type AccountsContext = SubgraphContext<AccountsExtras>;

export function createAccountsExtras(em: EntityManager, accounts: AccountsService, partners: PartnersService): AccountsExtras {
  return {
    ...createPartnersExtras(em, partners),
    accounts,
    users: keyedLoader((ids) => em.find(User, { id: { $in: [...ids] } }), (user) => user.id),
  };
}
