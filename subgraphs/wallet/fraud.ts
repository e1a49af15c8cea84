/**
 * Fraud signals on money in and out. Each rule, when it trips, opens a flag on the owner (one open flag
 * per rule: a second trip while one is open adds nothing) that admins see and clear. With
 * `blockWithdrawals`, an owner with an open flag cannot withdraw until an admin clears it: a withdrawal is
 * where stolen money leaves, so that is where the platform stops and looks.
 *
 *   VELOCITY               more than `velocityPerHour` money movements (deposits started, withdrawals
 *                          requested) in the last hour
 *   DEPOSIT_THEN_WITHDRAW  a withdrawal of at least `depositThenWithdrawPercent` % of what was deposited
 *                          in the last 24 h (card money laundered into a bank account)
 *   FAILED_DEPOSITS        at least `failedDepositsPerDay` declined deposits in 24 h (card testing)
 */
import { randomUUID } from 'node:crypto';
import { conflict, forbidden, notFound } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { toMoney } from '../../platform/money.ts';
import { decodeCursor, toConnection, type Connection } from '../../platform/pagination.ts';
import type { FraudFlagRecord, FraudRule, PaymentsRepository } from './payments/payments-repository.ts';

export interface FraudRules {
  velocityPerHour: number;
  depositThenWithdrawPercent: number;
  failedDepositsPerDay: number;
  blockWithdrawals: boolean;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export class FraudWatch {
  readonly #repository: PaymentsRepository;
  readonly #rules: FraudRules;
  readonly #logger: Logger;
  readonly #now: () => Date;

  constructor(options: { repository: PaymentsRepository; rules: FraudRules; logger: Logger; now?: () => Date }) {
    this.#repository = options.repository;
    this.#rules = options.rules;
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
  }

  get rules(): Readonly<FraudRules> {
    return this.#rules;
  }

  /** After a deposit was started (the intent is already counted). */
  async afterDepositStarted(ownerId: string): Promise<void> {
    await this.#checkVelocity(ownerId, 0);
  }

  /** After the provider declined a deposit. */
  async afterDepositFailed(ownerId: string): Promise<void> {
    const failed = await this.#repository.failedDepositsSince(ownerId, new Date(this.#now().getTime() - DAY_MS));
    if (failed >= this.#rules.failedDepositsPerDay) await this.#flag(ownerId, 'FAILED_DEPOSITS', `${failed} declined deposits in 24 h (the limit is ${this.#rules.failedDepositsPerDay})`);
  }

  /**
   * Before a withdrawal of `amount` is held: opens the flags it trips, then refuses it (FORBIDDEN,
   * ACCOUNT_UNDER_REVIEW) when withdrawals are blocked and the owner has an open flag, this one's included.
   */
  async beforeWithdrawal(ownerId: string, amount: bigint, currency: string): Promise<void> {
    await this.#checkVelocity(ownerId, 1);
    const deposited = await this.#repository.depositedSince(ownerId, new Date(this.#now().getTime() - DAY_MS));
    if (deposited > 0n && amount * 100n >= deposited * BigInt(this.#rules.depositThenWithdrawPercent)) {
      await this.#flag(ownerId, 'DEPOSIT_THEN_WITHDRAW', `a withdrawal of ${toMoney(amount, currency).amount} ${currency} after ${toMoney(deposited, currency).amount} ${currency} deposited in 24 h`);
    }
    await this.assertMayWithdraw(ownerId);
  }

  /** FORBIDDEN (ACCOUNT_UNDER_REVIEW) while the owner has an open flag and the rule blocks withdrawals. */
  async assertMayWithdraw(ownerId: string): Promise<void> {
    if (!this.#rules.blockWithdrawals) return;
    const open = await this.#repository.openFlagsOf(ownerId);
    if (open.length > 0) {
      const error = forbidden('Withdrawals from this wallet are on hold while our team reviews recent activity.');
      error.extensions.reason = 'ACCOUNT_UNDER_REVIEW';
      throw error;
    }
  }

  flags(filter: { open: boolean | null; ownerId: string | null }, page: { first: number; after?: string | null }): Promise<Connection<FraudFlagRecord>> {
    const after = decodeCursor(page.after);
    return this.#repository.flags(filter, after, page.first + 1).then((rows) => toConnection(rows, page.first, (flag) => ({ at: flag.createdAt, id: flag.id })));
  }

  async clear(admin: { userId: string }, id: string, note: string): Promise<FraudFlagRecord> {
    const cleared = await this.#repository.clearFlag(id, admin.userId, note);
    if (cleared) {
      this.#logger.info({ adminId: admin.userId, flagId: id, ownerId: cleared.ownerId, rule: cleared.rule }, 'fraud flag cleared');
      return cleared;
    }
    const flag = await this.#repository.flagById(id);
    if (!flag) throw notFound('The fraud flag');
    throw conflict('This flag was already cleared.', { reason: 'ALREADY_CLEARED' });
  }

  async #checkVelocity(ownerId: string, pending: number): Promise<void> {
    const movements = (await this.#repository.movementsSince(ownerId, new Date(this.#now().getTime() - HOUR_MS))) + pending;
    if (movements > this.#rules.velocityPerHour) await this.#flag(ownerId, 'VELOCITY', `${movements} money movements in an hour (the limit is ${this.#rules.velocityPerHour})`);
  }

  async #flag(ownerId: string, rule: FraudRule, detail: string): Promise<void> {
    const opened = await this.#repository.openFlag({ id: randomUUID(), ownerId, rule, detail });
    if (opened) this.#logger.warn({ ownerId, rule, detail, flagId: opened.id }, 'fraud flag opened');
  }
}
