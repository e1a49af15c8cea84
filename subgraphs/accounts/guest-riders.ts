import { randomBytes, randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '../../platform/db.ts';
import { conflict } from '../../platform/errors.ts';
import { parseInput, z } from '../../platform/validation.ts';
import { User } from './entities.ts';
import { isService } from '../../platform/rules.ts';
import { PasswordHasher } from './passwords.ts';
import { nameSchema, phoneSchema } from './validation.ts';

const guestRiderSchema = z.object({ phone: phoneSchema, name: nameSchema });

export interface GuestRider {
  userId: string;
  /** True when this call created the rider; false when the phone was already a rider's. */
  created: boolean;
}

/**
 * The rider a partner books for (trips, at bookRideForGuest; service-only): the RIDER user with this
 * phone, or a new one. A new guest gets the argon2id hash of 32 random bytes nobody keeps: no password
 * logs them in, and a log-in attempt costs the same work as for anyone else. An existing rider keeps
 * their name. A phone registered to a driver, an admin or a partner is CONFLICT (reason
 * PHONE_NOT_A_RIDER); a phone or name accounts refuses at sign-up is BAD_USER_INPUT.
 */
export async function guestRider(em: EntityManager, hasher: PasswordHasher, args: unknown): Promise<GuestRider> {
  const { phone, name } = parseInput(guestRiderSchema, args);
  const existing = await em.findOne(User, { phone });
  if (existing) return linked(existing);
  const passwordHash = await hasher.hash(randomBytes(32).toString('base64url'));
  const user = em.create(User, { id: randomUUID(), phone, name, role: 'RIDER', passwordHash });
  try {
    await em.flush();
    return { userId: user.id, created: true };
  } catch (error) {
    if (!(error instanceof UniqueConstraintViolationException)) throw error;
    // Another booking for the same guest created them first.
    em.clear();
    return linked(await em.findOneOrFail(User, { phone }));
  }
}

function linked(user: User): GuestRider {
  if (user.role !== 'RIDER') throw conflict('This phone number belongs to an account that is not a rider.', { reason: 'PHONE_NOT_A_RIDER', field: 'phone' });
  return { userId: user.id, created: false };
}

/** One hasher for guests' throwaway passwords (the service's parameters: the default argon2id). */
const guestHasher = new PasswordHasher();

/** The service-only `guestRider` field, spread into accounts' resolvers and permissions. */
export const guestRiderResolvers = {
  Mutation: {
    guestRider: (_: unknown, args: unknown, ctx: { em: EntityManager }) => guestRider(ctx.em, guestHasher, args),
  },
};

export const guestRiderPermissions = {
  Mutation: { guestRider: isService },
  types: { GuestRider: isService },
};
