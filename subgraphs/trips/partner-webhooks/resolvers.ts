/** Thin resolvers of outgoing webhooks: parse (in the service), call, shape. Spread into trips' resolvers.ts. */
import type { TripsContext } from '../context.ts';
import type { DeliveryRow } from './repository.ts';

export const partnerWebhookResolvers = {
  Query: {
    partnerWebhook: (_: unknown, __: unknown, ctx: TripsContext) => ctx.partnerWebhooks.webhookOf(ctx.em, ctx.principal!),
    partnerWebhookDeliveries: (_: unknown, args: unknown, ctx: TripsContext) => ctx.partnerWebhooks.listDeliveries(ctx.em, args),
  },
  Mutation: {
    setPartnerWebhook: (_: unknown, args: unknown, ctx: TripsContext) => ctx.partnerWebhooks.setWebhook(ctx.em, ctx.principal!, args),
    retryPartnerWebhookDelivery: (_: unknown, args: unknown, ctx: TripsContext) => ctx.partnerWebhooks.retryDelivery(ctx.em, args),
  },
  PartnerWebhookDelivery: {
    /** The trip the body is about (the body is the service's own JSON). */
    tripId: (delivery: DeliveryRow) => (JSON.parse(delivery.body) as { data: { tripId: string } }).data.tripId,
  },
};
