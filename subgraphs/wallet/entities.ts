/**
 * The wallet has no MikroORM entities: its data is the ledger's (ledger/ledger-repository.ts owns every
 * statement). The seeded `wallets` and `payments` tables were dropped by migration 0005.
 */
export const entities: never[] = [];
