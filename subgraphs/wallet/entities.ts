import { defineEntity, p } from '@mikro-orm/core';

export const PAYMENT_METHODS = ['CASH', 'WALLET'] as const;
export const PAYMENT_STATUSES = ['PENDING', 'CAPTURED', 'FAILED', 'REFUNDED'] as const;

/** Every wallet holds Egyptian pounds for now. */
export const WALLET_CURRENCY = 'EGP';

/**
 * A user's stored balance, created on the first credit (never on read: a user without a row has 0).
 * The database refuses a negative balance, so a debit that races another cannot overdraw.
 */
const WalletSchema = defineEntity({
  name: 'Wallet',
  tableName: 'wallets',
  properties: {
    userId: p.uuid().primary(),
    balanceMinor: p.bigint(),
    currency: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Wallet extends WalletSchema.class {}
WalletSchema.setClass(Wallet);

/** The payment for one trip (at most one per trip): from the rider (payer) to the driver (payee). */
const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    id: p.uuid().primary(),
    tripId: p.uuid().unique(),
    payerUserId: p.uuid(),
    payeeUserId: p.uuid().nullable(),
    method: p.enum([...PAYMENT_METHODS]),
    status: p.enum([...PAYMENT_STATUSES]),
    amountMinor: p.bigint(),
    currency: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class Payment extends PaymentSchema.class {}
PaymentSchema.setClass(Payment);

export const entities = [Wallet, Payment];
