import { defineEntity, p } from '@mikro-orm/core';
import { ROLES } from '../../platform/auth.ts';

const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    /** E.164, unique. */
    phone: p.string().unique(),
    name: p.string(),
    role: p.enum([...ROLES]),
    /** argon2id in PHC string format. */
    passwordHash: p.string().hidden(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export class User extends UserSchema.class {}
UserSchema.setClass(User);

/**
 * One refresh token. Tokens of one log-in form a family; each refresh rotates the current token
 * (rotatedAt set) and issues the next in the same family. Only the SHA-256 of a token is stored.
 */
const RefreshTokenSchema = defineEntity({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid().index(),
    familyId: p.uuid().index(),
    tokenHash: p.string().unique(),
    expiresAt: p.datetime(),
    rotatedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export class RefreshToken extends RefreshTokenSchema.class {}
RefreshTokenSchema.setClass(RefreshToken);

export const entities = [User, RefreshToken];
