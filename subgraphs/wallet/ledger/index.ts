export { ACCOUNT_KINDS, OWNED_ACCOUNT_KINDS, SYSTEM_ACCOUNT_KINDS, balanceOf, type Account, type AccountKind, type Balance, type BalanceRule, type Counters, type NormalSide, type OwnedAccountKind, type SystemAccountKind } from './accounts.ts';
export { describeCheck, type Discrepancy, type LedgerCheck } from './check.ts';
export { MIN_KEY_RETENTION_MS } from './idempotency.ts';
export { Ledger, type LedgerOptions } from './ledger.ts';
export { TRANSFER_KINDS, type Transfer, type TransferKind } from './transfers.ts';
export { LEDGER_CURRENCY, MAX_AMOUNT_MINOR, type HoldInput, type OwnedAccountInput, type PageInput, type PostInput, type ReverseInput, type TransferInput, type VoidInput } from './validation.ts';
