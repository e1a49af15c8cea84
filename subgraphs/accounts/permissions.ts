import { partnersPermissions } from './partners/permissions.ts';
import { guestRiderPermissions } from './guest-riders.ts';
import { allow, FEDERATION_RULES, FEDERATION_TYPE_RULES, isAuthenticated, ownedBy, type IRules } from '../../platform/rules.ts';

const isSelfOrAdmin = ownedBy<{ id: string }>('User', (user) => user.id);

export const permissions: IRules = {
  Query: { ...FEDERATION_RULES, me: isAuthenticated, ...partnersPermissions.Query },
  Mutation: { signUp: allow, logIn: allow, refreshSession: allow, logOut: allow, ...partnersPermissions.Mutation, ...guestRiderPermissions.Mutation },
  User: { id: isAuthenticated, name: isAuthenticated, role: isAuthenticated, phone: isSelfOrAdmin, createdAt: isSelfOrAdmin },
  AuthPayload: allow,
  ...partnersPermissions.types,
  ...guestRiderPermissions.types,
  ...FEDERATION_TYPE_RULES,
};
