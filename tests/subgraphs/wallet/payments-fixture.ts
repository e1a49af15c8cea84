import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { executeStatement } from '../../../platform/db.ts';
import type { ConsumerTuning } from '../../../platform/events/index.ts';
import { signWebhook } from '../../../platform/webhook-signature.ts';
import { SANDBOX_SIGNATURE_HEADER, SandboxPaymentProvider, type SandboxProviderOptions } from '../../../subgraphs/wallet/payments/sandbox-provider.ts';
import { PAYMENT_WEBHOOK_PATH } from '../../../subgraphs/wallet/payments/webhook-route.ts';
import { dataOf, type GraphQLResult } from '../../support/client.ts';
import type { TestUser } from '../../support/stack.ts';
import { WalletStack } from './wallet-stack.ts';

export const WEBHOOK_SECRET = randomBytes(32).toString('hex');

export const START_DEPOSIT = `mutation($amount: MoneyInput!, $key: String!) { startDeposit(amount: $amount, idempotencyKey: $key) { id status amount { amount currency } checkoutUrl failureReason } }`;
export const REQUEST_WITHDRAWAL = `mutation($amount: MoneyInput!, $key: String!) { requestWithdrawal(amount: $amount, idempotencyKey: $key) { id status amount { amount } reason user { id } } }`;
export const APPROVE = `mutation($id: ID!) { approveWithdrawal(id: $id) { id status } }`;
export const REJECT = `mutation($id: ID!, $reason: String!) { rejectWithdrawal(id: $id, reason: $reason) { id status reason } }`;
export const MY_WALLET = `{ me { id wallet { balance { amount } available { amount } pending { amount }
  deposits(first: 10) { edges { node { id status amount { amount } failureReason } } }
  withdrawals(first: 10) { edges { node { id status amount { amount } reason } } } } } }`;

export const egp = (amount: string) => ({ amount, currency: 'EGP' });
export const newKey = () => `key-${randomUUID()}`;

/**
 * A wallet test stack whose payment provider is a sandbox the test owns: its webhooks go to the wallet's
 * own /webhooks/payments and the test waits for them with `sandbox.idle()` (never a sleep). By default
 * every event is sent at once and twice (the duplicate a real gateway sometimes sends).
 */
export class PaymentsWorld {
  readonly world: WalletStack;
  readonly sandbox: SandboxPaymentProvider;

  private constructor(world: WalletStack, sandbox: SandboxPaymentProvider) {
    this.world = world;
    this.sandbox = sandbox;
  }

  static async start(options: { env?: Record<string, string>; sandbox?: Partial<SandboxProviderOptions>; now?: () => Date; events?: ConsumerTuning } = {}): Promise<PaymentsWorld> {
    let sandbox: SandboxPaymentProvider | undefined;
    const world = await WalletStack.start({
      env: options.env,
      events: options.events,
      wallet: {
        now: options.now,
        paymentProvider: (runtime) =>
          (sandbox = new SandboxPaymentProvider({
            secret: WEBHOOK_SECRET,
            publicUrl: 'http://public.smartline.test',
            webhookUrl: () => new URL(PAYMENT_WEBHOOK_PATH, runtime.config.subgraphUrls.wallet).toString(),
            logger: runtime.logger,
            duplicateRate: 1,
            maxDelayMs: 0,
            retryDelaysMs: [5, 10, 20],
            ...options.sandbox,
          })),
      },
    });
    return new PaymentsWorld(world, sandbox!);
  }

  get stack() {
    return this.world.stack;
  }

  as(user: TestUser, query: string, variables?: Record<string, unknown>): Promise<GraphQLResult<any>> {
    return this.stack.query(query, variables, { token: user.accessToken });
  }

  async startDeposit(user: TestUser, amount: string, key = newKey()) {
    return dataOf<any>(await this.as(user, START_DEPOSIT, { amount: egp(amount), key })).startDeposit as { id: string; status: string; checkoutUrl: string };
  }

  /** Opens the deposit's checkout page through the router, as the payer's browser would (its public host replaced by the router's). */
  throughRouter(checkoutUrl: string): string {
    const url = new URL(checkoutUrl);
    return new URL(url.pathname + url.search, this.stack.routerUrl).toString();
  }

  /** Completes (or declines) the hosted checkout through the router, then waits for the provider's webhooks. */
  async checkout(checkoutUrl: string, outcome: 'succeed' | 'fail'): Promise<Response> {
    const page = await fetch(this.throughRouter(checkoutUrl));
    assert.equal(page.status, 200, 'the checkout page opens');
    const session = new URL(checkoutUrl).searchParams.get('session')!;
    const response = await fetch(this.throughRouter(checkoutUrl), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ session, outcome }).toString() });
    await this.sandbox.idle();
    return response;
  }

  /** A deposit paid in full: started, checked out and credited. */
  async deposit(user: TestUser, amount: string) {
    const deposit = await this.startDeposit(user, amount);
    assert.equal((await this.checkout(deposit.checkoutUrl, 'succeed')).status, 200);
    return deposit;
  }

  /** A provider event, as the sandbox writes them, about one of our deposits or payouts. */
  event(type: string, object: { reference: string; walletId?: string; amountMinor: number; currency?: string }, id = `evt_test_${randomUUID()}`) {
    return JSON.stringify({
      id,
      type,
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: object.reference, amount: object.amountMinor, currency: (object.currency ?? 'EGP').toLowerCase(), failure_message: null, metadata: object.walletId ? { smartline_id: object.walletId } : {} } },
    });
  }

  /** POSTs a webhook body to `base` (the router's or the wallet's address), signed unless told otherwise. */
  async deliver(body: string, options: { base?: string; secret?: string; signedAt?: Date; signature?: string } = {}): Promise<{ status: number; body: any }> {
    const signature = options.signature ?? signWebhook(options.secret ?? WEBHOOK_SECRET, body, options.signedAt ?? new Date());
    const response = await fetch(new URL(PAYMENT_WEBHOOK_PATH, options.base ?? this.stack.routerUrl), { method: 'POST', headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: signature }, body });
    return { status: response.status, body: await response.json() };
  }

  /** The provider's reference of a deposit (as the sandbox made it). */
  async intentRow(id: string): Promise<{ status: string; provider_reference: string; deposit_transfer_id: string | null }> {
    const [row] = await executeStatement<any>(this.stack.subgraph('wallet').db.fork(), `select "status", "provider_reference", "deposit_transfer_id" from "wallet"."payment_intents" where "id" = ?`, [id]);
    return row;
  }

  async count(table: 'payment_intents' | 'withdrawals' | 'payment_provider_events' | 'fraud_flags', where = 'true', params: unknown[] = []): Promise<number> {
    const [row] = await executeStatement<any>(this.stack.subgraph('wallet').db.fork(), `select count(*)::int as "n" from "wallet"."${table}" where ${where}`, params);
    return Number(row.n);
  }

  async wallet(user: TestUser) {
    return dataOf<any>(await this.as(user, MY_WALLET)).me.wallet;
  }

  async stop() {
    await this.world.stop();
  }
}
