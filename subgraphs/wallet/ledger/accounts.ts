/**
 * Ledger accounts: what kinds exist, which balance rule each carries, and how a balance is read from the
 * four counters (TigerBeetle's `debits_pending`, `debits_posted`, `credits_pending`, `credits_posted`).
 */

/**
 * Accounts of an owner (a user or a partner organisation). A driver's receivable holds what the driver
 * owes beyond their wallet's debit limit (cash-trip commission the wallet could not take): the debt is
 * recorded, never refused, and the wallet itself never passes its limit.
 */
export const OWNED_ACCOUNT_KINDS = ['RIDER_WALLET', 'DRIVER_WALLET', 'DRIVER_RECEIVABLE', 'PARTNER'] as const;
/** The platform's own accounts, one per currency. */
export const SYSTEM_ACCOUNT_KINDS = ['PLATFORM_REVENUE', 'PROVIDER_CLEARING', 'PAYOUTS', 'TRIP_CLEARING'] as const;
export const ACCOUNT_KINDS = [...OWNED_ACCOUNT_KINDS, ...SYSTEM_ACCOUNT_KINDS] as const;

export type OwnedAccountKind = (typeof OWNED_ACCOUNT_KINDS)[number];
export type SystemAccountKind = (typeof SYSTEM_ACCOUNT_KINDS)[number];
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

/**
 * `DEBITS_MUST_NOT_EXCEED_CREDITS`: posted and pending debits together stay within posted credits plus
 * the account's debit limit (0 for a rider wallet: never below zero; a driver wallet's commission debt
 * may reach its limit; a partner's account is its credit limit: what the partner may owe). Enforced in memory by the batch and by a CHECK constraint on the row.
 */
export type BalanceRule = 'NONE' | 'DEBITS_MUST_NOT_EXCEED_CREDITS';

/**
 * Which side a balance is read from. Wallets, revenue, clearing and payouts are what the platform owes
 * (credit-normal: credits raise them). The payment provider's clearing account, partners' accounts and
 * drivers' receivables are what is owed to the platform (debit-normal: a deposit debits the provider's
 * clearing account, a commission a driver could not pay debits their receivable).
 */
export type NormalSide = 'CREDIT' | 'DEBIT';

export const NORMAL_SIDE: Record<AccountKind, NormalSide> = {
  RIDER_WALLET: 'CREDIT',
  DRIVER_WALLET: 'CREDIT',
  DRIVER_RECEIVABLE: 'DEBIT',
  PARTNER: 'DEBIT',
  PLATFORM_REVENUE: 'CREDIT',
  PROVIDER_CLEARING: 'DEBIT',
  PAYOUTS: 'CREDIT',
  TRIP_CLEARING: 'CREDIT',
};

export interface Counters {
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export interface Account extends Counters {
  id: string;
  kind: AccountKind;
  /** The user or organisation it belongs to; null for a system account. */
  ownerId: string | null;
  currency: string;
  balanceRule: BalanceRule;
  /** How far below zero the rule lets debits go (minor units); 0 for rider wallets; a partner's credit limit. */
  debitLimit: bigint;
  createdAt: Date;
}

/** The rule and debit limit an account of `kind` is opened with. */
export function balanceRuleOf(kind: AccountKind, driverDebtLimit: bigint): { balanceRule: BalanceRule; debitLimit: bigint } {
  if (kind === 'RIDER_WALLET') return { balanceRule: 'DEBITS_MUST_NOT_EXCEED_CREDITS', debitLimit: 0n };
  if (kind === 'DRIVER_WALLET') return { balanceRule: 'DEBITS_MUST_NOT_EXCEED_CREDITS', debitLimit: driverDebtLimit };
  // A partner is billed afterwards: what it owes (posted and held debits, less what it paid in) stays within
  // its credit limit, the debit limit an admin sets (setPartnerCreditLimit); no credit until then.
  if (kind === 'PARTNER') return { balanceRule: 'DEBITS_MUST_NOT_EXCEED_CREDITS', debitLimit: 0n };
  return { balanceRule: 'NONE', debitLimit: 0n };
}

export const isSystemKind = (kind: AccountKind): kind is SystemAccountKind => (SYSTEM_ACCOUNT_KINDS as readonly string[]).includes(kind);

/** Whether debits of `amount` more (posted or pending) stay within the account's rule. */
export function debitAllowed(account: Pick<Account, 'balanceRule' | 'debitLimit'> & Counters, amount: bigint): boolean {
  if (account.balanceRule === 'NONE') return true;
  return account.debitsPending + account.debitsPosted + amount <= account.creditsPosted + account.debitLimit;
}

export interface Balance extends Counters {
  accountId: string;
  currency: string;
  normal: NormalSide;
  /** Posted, read from the normal side: credits − debits for a wallet. */
  posted: bigint;
  /** Pending, net and from the normal side: a wallet with a 50.00 hold has −50.00 pending. */
  pending: bigint;
  /**
   * What can be spent: posted minus what is held against the account. For a credit-normal wallet
   * `credits_posted − debits_posted − debits_pending` (pending credits do not count until posted).
   */
  available: bigint;
}

export function balanceOf(account: Account): Balance {
  const { debitsPending, debitsPosted, creditsPending, creditsPosted } = account;
  const normal = NORMAL_SIDE[account.kind];
  const counters = { debitsPending, debitsPosted, creditsPending, creditsPosted };
  if (normal === 'CREDIT') {
    return { accountId: account.id, currency: account.currency, normal, ...counters, posted: creditsPosted - debitsPosted, pending: creditsPending - debitsPending, available: creditsPosted - debitsPosted - debitsPending };
  }
  return { accountId: account.id, currency: account.currency, normal, ...counters, posted: debitsPosted - creditsPosted, pending: debitsPending - creditsPending, available: debitsPosted - creditsPosted - creditsPending };
}
