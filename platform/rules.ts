import { allow, and, deny, or, rule, shield } from 'graphql-shield';
import type { IRules } from 'graphql-shield';
import { isObjectType, type GraphQLSchema } from 'graphql';
import { middleware, type IMiddlewareTypeMap } from 'graphql-middleware';

import type { Role } from './auth.ts';
import type { RequestContext } from './context.ts';
import { forbidden, unauthenticated } from './errors.ts';

export { allow, and, deny, or, rule };
export type { IRules };

/** The caller presented a valid access token. */
export const isAuthenticated = rule('isAuthenticated', { cache: 'contextual' })((_parent, _args, ctx: RequestContext) =>
  ctx.principal ? true : unauthenticated(),
);

type Rule = ReturnType<ReturnType<typeof rule>>;
const roleRules = new Map<string, Rule>();

/** The caller is signed in with one of these roles. */
export function hasRole(...roles: Role[]) {
  const name = `hasRole:${[...roles].sort().join(',')}`;
  let found = roleRules.get(name);
  if (!found) {
    found = rule(name, { cache: 'contextual' })((_parent, _args, ctx: RequestContext) => {
      if (!ctx.principal) return unauthenticated();
      return roles.includes(ctx.principal.role) ? true : forbidden();
    });
    roleRules.set(name, found);
  }
  return found;
}

export const isAdmin = hasRole('ADMIN');

/**
 * Another subgraph calling with a valid service token (platform/service-auth.ts). Fields behind it
 * are also `@inaccessible` in the SDL, so the router's API never shows them.
 */
export const isService = hasRole('SERVICE');

/**
 * An ownership rule: `ownerOf(parent)` names the user who owns the object; the owner and admins pass.
 * Cached per parent object (strict), since two parents of one type may have different owners.
 */
export function ownedBy<TParent>(name: string, ownerOf: (parent: TParent) => string | null | undefined) {
  return rule(`ownedBy:${name}`, { cache: 'strict' })((parent: TParent, _args, ctx: RequestContext) => {
    if (!ctx.principal) return unauthenticated();
    if (ctx.principal.role === 'ADMIN' || ownerOf(parent) === ctx.principal.userId) return true;
    return forbidden();
  });
}

/** Federation's own fields, which the router must always reach. */
export const FEDERATION_RULES = { _service: allow, _entities: allow } as const;
export const FEDERATION_TYPE_RULES = { _Service: allow } as const;

/**
 * Deny by default: a field without a rule is FORBIDDEN. Errors returned by rules (and by resolvers)
 * reach the client as they are, with their codes. A field whose rule is `allow` checks nothing, so it
 * keeps its own resolver, unwrapped: a type reached only through a guarded field and read in bulk
 * (drivers' dispatch candidates: 20 rows of 9 fields per call) costs no rule call per field.
 */
export function createShield(rules: IRules) {
  const guarded = shield(rules, {
    fallbackRule: deny,
    allowExternalErrors: true,
    fallbackError: () => forbidden(),
    debug: false,
  });
  return middleware((schema: GraphQLSchema) => {
    const generated = guarded.generate(schema) as Record<string, Record<string, unknown>>;
    for (const [typeName, fieldName] of allowedFields(schema, rules)) delete generated[typeName]?.[fieldName];
    return generated as IMiddlewareTypeMap;
  });
}

/** The (type, field) pairs whose rule is `allow`: a whole type's, a field's, or a type's `*` default. */
function allowedFields(schema: GraphQLSchema, rules: IRules): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [typeName, typeRules] of Object.entries(rules as Record<string, unknown>)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) continue;
    for (const fieldName of Object.keys(type.getFields())) {
      const rule = typeRules === allow ? allow : typeof typeRules === 'object' && typeRules !== null ? ((typeRules as Record<string, unknown>)[fieldName] ?? (typeRules as Record<string, unknown>)['*']) : undefined;
      if (rule === allow) pairs.push([typeName, fieldName]);
    }
  }
  return pairs;
}
