import { DateTimeScalar } from '../../platform/graphql.ts';
import { toMoney } from '../../platform/money.ts';
import type { WalletContext } from './context.ts';
import { WALLET_CURRENCY, type Payment } from './entities.ts';

/** What `Wallet` fields resolve from: the owner and the balance, whether or not a row exists. */
export interface WalletView {
  userId: string;
  balanceMinor: bigint;
  currency: string;
}

export const resolvers = {
  DateTime: DateTimeScalar,
  User: {
    /** A user without a wallet row has an empty wallet; reading it creates nothing. */
    wallet: async (user: { id: string }, _: unknown, ctx: WalletContext): Promise<WalletView> => {
      const wallet = await ctx.walletByUser.load(user.id);
      return wallet
        ? { userId: wallet.userId, balanceMinor: wallet.balanceMinor, currency: wallet.currency }
        : { userId: user.id, balanceMinor: 0n, currency: WALLET_CURRENCY };
    },
  },
  Wallet: {
    balance: (wallet: WalletView) => toMoney(wallet.balanceMinor, wallet.currency),
  },
  Trip: {
    /** Wallet knows trips only by id: the reference is all it needs. */
    __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
    payment: (trip: { id: string }, _: unknown, ctx: WalletContext): Promise<Payment | null> => ctx.paymentByTrip.load(trip.id),
  },
  Payment: {
    amount: (payment: Payment) => toMoney(payment.amountMinor, payment.currency),
  },
};
