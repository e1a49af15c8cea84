import { sendJson } from '../../platform/server.ts';
import { createTokenVerifier } from '../../platform/auth.ts';
import { readSchema } from '../../platform/graphql.ts';
import type { SubgraphSetup } from '../../platform/subgraph.ts';
import { createAccountsExtras } from './context.ts';
import { seedDemoUsers } from './seed.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { PasswordHasher } from './passwords.ts';
import { permissions } from './permissions.ts';
import { resolvers } from './resolvers.ts';
import { AccountsService } from './service.ts';
import { loadSigningKey } from './signing-key.ts';
import { PartnersService } from './partners/service.ts';

export const JWKS_PATH = '/.well-known/jwks.json';

export const accountsSubgraph: SubgraphSetup = {
  name: 'accounts',
  entities,
  migrations,
  async define({ config, logger }) {
    const signingKey = await loadSigningKey(config, logger);
    const { issuer, audience, accessTokenTtlSeconds, refreshTokenTtlSeconds } = config.jwt;
    // The demo password (platform/demo-city.ts) is published: production never accepts it.
    const accounts = new AccountsService({ hasher: new PasswordHasher(), signingKey, issuer, audience, accessTokenTtlSeconds, refreshTokenTtlSeconds, acceptDemoPassword: !config.production });
    const partners = new PartnersService({ signingKey, issuer, audience });
    return {
      typeDefs: readSchema(new URL('./schema.graphql', import.meta.url)),
      resolvers,
      permissions,
      contextExtras: (em) => createAccountsExtras(em, accounts, partners),
      verifyToken: createTokenVerifier({ jwks: signingKey.jwks, issuer, audience }),
      routes: {
        [JWKS_PATH]: (_req, res) => {
          res.setHeader('cache-control', 'public, max-age=300');
          sendJson(res, 200, signingKey.jwks);
        },
      },
    };
  },
  seedDemo: async ({ db, config }, city) => {
    // bin/start.ts seeds only when config.demo.data, which production refuses; this is the last guard.
    if (config.production) throw new Error('accounts: refusing to seed demo users (shared, published password) in production');
    await seedDemoUsers(db.fork(), city);
  },
};
