import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { conflict, asHttpError, unauthenticated } from '../../platform/errors.ts';
import { createFastExecution } from '../../platform/fast-execution.ts';
import { MAX_REMEMBERED_QUERY_CHARS } from '../../platform/graphql-request.ts';
import { createFormatError } from '../../platform/graphql.ts';
import { createLogger } from '../../platform/logger.ts';
import { allow, createShield, hasRole } from '../../platform/rules.ts';
import { startHttpService, type HttpService } from '../../platform/server.ts';

const typeDefs = parse(`
  type Query {
    hello(name: String!): String!
    numbers(count: Int!): [Int!]!
    secret: String
    broken: String
    refused: String
    nothing: [String]
  }
  type Mutation {
    bump(by: Int!): Int!
    clash: Int!
  }
`);

interface TestContext {
  principal: { userId: string; role: string } | undefined;
}

/** One Apollo Server, reached twice: through the fast path, and through Apollo Server's own pipeline. */
async function serve(production: boolean) {
  let counter = 0;
  const resolvers = {
    Query: {
      hello: (_: unknown, { name }: { name: string }) => `hello ${name}`,
      numbers: (_: unknown, { count }: { count: number }) => Array.from({ length: count }, (_, i) => i),
      secret: () => 'for admins',
      broken: () => {
        throw new Error('database exploded at 10.0.0.7');
      },
      refused: () => {
        throw new GraphQLError('teapot', { extensions: { code: 'I_AM_A_TEAPOT', http: { status: 418 } } });
      },
      nothing: () => [null, 'x'],
    },
    Mutation: {
      bump: (_: unknown, { by }: { by: number }) => (counter += by),
      clash: () => {
        counter += 1;
        throw conflict('Already bumped.', { reason: 'CLASH' });
      },
    },
  };
  const schema = applyMiddleware(
    buildSubgraphSchema({ typeDefs, resolvers: resolvers as any }),
    createShield({ Query: { '*': allow, secret: hasRole('ADMIN') }, Mutation: { '*': allow } }),
  );
  const logger = createLogger({ service: 'drivers', logLevel: 'silent', production, env: 'test' });
  const formatError = createFormatError({ production, logger });
  const context = async (req: IncomingMessage): Promise<TestContext> => {
    const header = req.headers.authorization;
    if (header === undefined) return { principal: undefined };
    if (header === 'Bearer admin') return { principal: { userId: 'a', role: 'ADMIN' } };
    if (header === 'Bearer rider') return { principal: { userId: 'r', role: 'RIDER' } };
    return asHttpError(unauthenticated());
  };
  const apollo = () =>
    new ApolloServer<TestContext>({
      schema,
      introspection: !production,
      includeStacktraceInErrorResponses: !production,
      formatError,
      plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled()],
      logger,
    });
  const outcomes = { executed: 0, declined: 0 };
  const fastExecution = createFastExecution({ schema, introspection: !production, includeStacktrace: !production, formatError, context, onOutcome: (outcome) => (outcomes[outcome] += 1) });
  const common = { host: '127.0.0.1', port: 0, logger, context, readiness: {}, shutdownTimeoutMs: 1000 };
  const fast = await startHttpService({ ...common, name: 'fast', apollo: apollo(), beforeGraphQL: fastExecution });
  const plain = await startHttpService({ ...common, name: 'plain', apollo: apollo() });
  return { fast, plain, outcomes, counter: () => counter };
}

function withoutStackLines(answer: RawAnswer) {
  const body = JSON.parse(answer.body);
  for (const error of body.errors ?? []) if (error.extensions?.stacktrace) error.extensions.stacktrace = 'present';
  return { status: answer.status, headers: answer.headers.filter(([name]) => name !== 'content-length'), body };
}

interface RawAnswer {
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

async function send(service: HttpService, init: { method?: string; body?: string; headers?: Record<string, string>; search?: string }): Promise<RawAnswer> {
  const response = await fetch(`${service.url}${init.search ?? ''}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body,
  });
  const headers = [...response.headers].filter(([name]) => name !== 'date' && name !== 'keep-alive' && name !== 'connection');
  return { status: response.status, headers, body: await response.text() };
}

for (const production of [false, true]) {
  describe(`the subgraph fast path (${production ? 'production' : 'development'})`, () => {
    let services: Awaited<ReturnType<typeof serve>>;
    before(async () => {
      services = await serve(production);
    });
    after(async () => {
      await services.fast.stop();
      await services.plain.stop();
    });

    /**
     * The same request to both; the answers must be identical, and the fast path must have taken it (or
     * not). Outside production a stack trace names the path its error took, so those are compared present,
     * not line by line (and so is the length they change).
     */
    async function same(init: Parameters<typeof send>[1], expected: 'executed' | 'declined'): Promise<RawAnswer> {
      const before = { ...services.outcomes };
      const viaFastPath = await send(services.fast, init);
      const viaApollo = await send(services.plain, init);
      if (production) assert.deepEqual(viaFastPath, viaApollo);
      else assert.deepEqual(withoutStackLines(viaFastPath), withoutStackLines(viaApollo));
      assert.equal(services.outcomes[expected] - before[expected], 1, `the fast path ${expected} it`);
      return viaFastPath;
    }
    const post = (query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) => ({ body: JSON.stringify({ query, variables }), headers });

    it('answers a query with the very bytes Apollo Server produces', async () => {
      const answer = await same(post('query($name: String!) { hello(name: $name) numbers(count: 3) nothing }', { name: 'Cairo' }), 'executed');
      assert.equal(answer.status, 200);
      assert.equal(answer.body, '{"data":{"hello":"hello Cairo","numbers":[0,1,2],"nothing":[null,"x"]}}\n');
    });

    it('answers with the same errors: shield, a client error, an unexpected one, a status an error asks for', async () => {
      const forbidden = await same(post('{ secret }', undefined, { authorization: 'Bearer rider' }), 'executed');
      assert.equal(JSON.parse(forbidden.body).errors[0].extensions.code, 'FORBIDDEN');
      const unexpected = await same(post('{ hello(name: "x") broken }'), 'executed');
      const body = JSON.parse(unexpected.body);
      assert.deepEqual(body.errors.map((error: any) => error.extensions.code), ['INTERNAL_SERVER_ERROR']);
      assert.deepEqual(body.data, { hello: 'hello x', broken: null });
      assert.equal(body.errors[0].message.includes('10.0.0.7'), !production, 'internal details only outside production');
      assert.equal(body.errors[0].extensions.stacktrace !== undefined, !production, 'stack traces only outside production');
      const teapot = await same(post('{ refused }'), 'executed');
      assert.equal(teapot.status, 418);
      await same(post('{ secret }', undefined, { authorization: 'Bearer admin' }), 'executed');
    });

    it('runs a mutation once, whether it succeeds or fails', async () => {
      const start = services.counter();
      const bumped = await same(post('mutation { bump(by: 0) }'), 'executed');
      assert.deepEqual(JSON.parse(bumped.body), { data: { bump: start } });
      const clash = await same(post('mutation { clash }'), 'executed');
      assert.deepEqual(JSON.parse(clash.body).errors[0].extensions, { code: 'CONFLICT', reason: 'CLASH', ...(production ? {} : { stacktrace: JSON.parse(clash.body).errors[0].extensions.stacktrace }) });
      assert.equal(services.counter(), start + 2, 'clash ran once on each server');
    });

    it('leaves to Apollo Server what it does not take on, with the same answers', async () => {
      await same(post('query($count: Int!) { numbers(count: $count) }', { count: 'three' }), 'declined'); // variables that cannot be coerced: 400
      await same(post('{ nope }'), 'declined'); // invalid: 400
      await same(post('{ hello(name: '), 'declined'); // does not parse: 400
      await same(post('{ hello(name: "x") }', undefined, { authorization: 'Bearer forged' }), 'declined'); // the context refuses: 401
      await same(post('{ hello(name: "x") }', undefined, { accept: 'application/graphql-response+json' }), 'declined');
      await same({ body: JSON.stringify([{ query: '{ hello(name: "x") }' }]) }, 'declined'); // a batch
      // A "simple" request a browser could send cross-site: Apollo Server's CSRF prevention judges it.
      const simple = await send(services.fast, { body: '{"query":"{ hello(name: \\"x\\") }"}', headers: { 'content-type': 'text/plain; x=application/json' } });
      assert.equal(simple.status, 400);
      await same({ body: JSON.stringify({ query: '{ hello(name: "x") }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } }) }, 'declined');
      // A document longer than any of ours is not remembered (each text is a cache key): Apollo Server runs it.
      await same(post(`{ hello(name: "${'x'.repeat(MAX_REMEMBERED_QUERY_CHARS)}") }`), 'declined');
      const introspection = await same(post('{ __schema { queryType { name } } }'), production ? 'declined' : 'executed');
      assert.equal(introspection.status, production ? 400 : 200);
    });

    it('takes a request with `accept: */*` (fetch) and without an accept header (our HTTP client)', async () => {
      await same(post('{ hello(name: "x") }', undefined, { accept: '*/*' }), 'executed');
    });
  });
}
