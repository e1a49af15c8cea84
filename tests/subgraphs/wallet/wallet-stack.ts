import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { SubgraphName } from '../../../platform/config.ts';
import { executeStatement } from '../../../platform/db.ts';
import { TripCancelled, TripCompleted, type TripCancelledData, type TripCompletedData } from '../../../platform/events/contracts/index.ts';
import type { AnyEventContract, EventData, EventOf } from '../../../platform/events/index.ts';
import { createLogger } from '../../../platform/logger.ts';
import { loadServiceTokenSecret, mintServiceToken, SERVICE_TOKEN_HEADER } from '../../../platform/service-auth.ts';
import type { ConsumerTuning } from '../../../platform/events/index.ts';
import { createWalletSubgraph, type WalletSetupOptions } from '../../../subgraphs/wallet/index.ts';
import { describeCheck, Ledger, type Account, type TransferWithParties } from '../../../subgraphs/wallet/ledger/index.ts';
import { SETTLEMENT_CONSUMER } from '../../../subgraphs/wallet/trip-events.ts';
import { graphql, type GraphQLResult } from '../../support/client.ts';
import { waitFor } from '../../support/rides.ts';
import { startStack, type Stack } from '../../support/stack.ts';

/** The driver debt limit of every wallet test stack: 50.00 EGP, small enough to reach in a test. */
export const TEST_DEBT_LIMIT_MINOR = 5_000n;

/**
 * A stack with the wallet (and trips, whose stream the wallet settles from), plus a Ledger of the test's
 * own on the wallet's database: deposits (there is no deposit API yet), reads, and the balance check
 * every test ends with.
 */
export class WalletStack {
  readonly stack: Stack;
  readonly ledger: Ledger;

  private constructor(stack: Stack) {
    this.stack = stack;
    this.ledger = new Ledger(stack.subgraph('wallet').db, { driverDebtLimitMinor: TEST_DEBT_LIMIT_MINOR });
  }

  static async start(options: { subgraphs?: SubgraphName[]; env?: Record<string, string>; events?: ConsumerTuning; wallet?: WalletSetupOptions } = {}): Promise<WalletStack> {
    const stack = await startStack({
      subgraphs: options.subgraphs ?? ['trips', 'wallet'],
      env: { WALLET_DRIVER_DEBT_LIMIT_MINOR: String(TEST_DEBT_LIMIT_MINOR), ...options.env },
      events: { retryAfterMs: 300, ...options.events },
      setups: { wallet: createWalletSubgraph(options.wallet) },
    });
    return new WalletStack(stack);
  }

  /** Money paid into a user's wallet (of the kind given), from the payment provider's clearing account. */
  async deposit(userId: string, amountMinor: bigint, kind: 'RIDER_WALLET' | 'DRIVER_WALLET' = 'RIDER_WALLET'): Promise<Account> {
    const wallet = await this.ledger.openAccount({ kind, ownerId: userId });
    await this.ledger.transfer({ idempotencyKey: `test-deposit:${randomUUID()}`, debitAccountId: await this.ledger.systemAccountId('PROVIDER_CLEARING'), creditAccountId: wallet.id, amount: amountMinor, code: 'DEPOSIT' });
    return wallet;
  }

  /** A call straight to the wallet subgraph with a service token, as trips and drivers call it. */
  asService<T = any>(query: string, variables?: Record<string, unknown>, caller: 'trips' | 'drivers' = 'trips'): Promise<GraphQLResult<T>> {
    const config = this.stack.config('wallet');
    const token = mintServiceToken({ caller, target: 'wallet', secret: loadServiceTokenSecret(config, createLogger(config)) });
    return graphql<T>(this.stack.subgraph('wallet').url, query, variables, { headers: { [SERVICE_TOKEN_HEADER]: token } });
  }

  /** Publishes a trip event on trips' stream, as trips' relay would (a fresh event id). */
  publish<C extends AnyEventContract>(contract: C, data: EventData<C> & { tripId: string }): Promise<EventOf<C>> {
    return this.stack.subgraph('trips').runtime.events.publish({ contract, key: data.tripId, data });
  }

  /**
   * Writes a trip event into trips' outbox and has the relay publish it; `republish` puts the same row
   * (same event id) on the stream again, as a relay that died between publishing and marking would.
   */
  async recordTripEvent<C extends AnyEventContract>(contract: C, data: EventData<C> & { tripId: string }): Promise<{ id: string; republish(): Promise<void> }> {
    const trips = this.stack.subgraph('trips');
    const insert = trips.runtime.events.outboxInsert({ contract, key: data.tripId, data });
    await executeStatement(trips.db.fork(), insert.sql, insert.params);
    await trips.runtime.events.flush();
    const id = insert.event.id;
    return {
      id,
      republish: async () => {
        await executeStatement(trips.db.fork(), `update "trips"."outbox" set "published_at" = null where "id" = ?`, [id]);
        await trips.runtime.events.flush();
      },
    };
  }

  /** Every transfer about a trip, oldest first. */
  tripTransfers(tripId: string): Promise<TransferWithParties[]> {
    return this.ledger.transfersByReferences([tripId]);
  }

  /** Waits until the trip's transfers satisfy `done` (the consumer settles asynchronously). */
  settled(tripId: string, done: (transfers: TransferWithParties[]) => boolean, what = `trip ${tripId} to be settled`): Promise<TransferWithParties[]> {
    return waitFor(async () => {
      const transfers = await this.tripTransfers(tripId);
      return done(transfers) ? transfers : undefined;
    }, { what, timeoutMs: 15_000 });
  }

  /** The events the settlement consumer parked, as dead_events holds them. */
  parked(): Promise<Array<{ event_id: string; attempts: number; last_error: string }>> {
    return executeStatement(this.stack.subgraph('wallet').db.fork(), `select "event_id", "attempts", "last_error" from "wallet"."dead_events" where "consumer" = ?`, [SETTLEMENT_CONSUMER]);
  }

  async assertBalanced() {
    const check = await this.ledger.checkBalanced();
    assert.ok(check.balanced, describeCheck(check));
  }

  async stop() {
    await this.ledger.close();
    await this.stack.stop();
  }
}

/** A TripCompleted payload: 87.50 EGP with 13.13 commission (15 %, half-up) unless told otherwise. */
export function completedTrip(parties: { tripId?: string; riderId: string; driverUserId: string }, overrides: Partial<TripCompletedData> = {}): TripCompletedData {
  return {
    tripId: parties.tripId ?? randomUUID(),
    riderId: parties.riderId,
    driverId: randomUUID(),
    driverUserId: parties.driverUserId,
    fareMinor: '8750',
    commissionMinor: '1313',
    currency: 'EGP',
    paymentMethod: 'WALLET',
    completedAt: new Date().toISOString(),
    ...overrides,
  };
}

export function cancelledTrip(parties: { tripId: string; riderId: string; driverUserId: string | null }, overrides: Partial<TripCancelledData> = {}): TripCancelledData {
  return {
    tripId: parties.tripId,
    riderId: parties.riderId,
    driverId: parties.driverUserId ? randomUUID() : null,
    driverUserId: parties.driverUserId,
    cancelledBy: 'RIDER',
    reason: 'Changed my plans',
    feeMinor: '0',
    currency: 'EGP',
    cancelledAt: new Date().toISOString(),
    ...overrides,
  };
}

export { TripCancelled, TripCompleted };
