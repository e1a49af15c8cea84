import type http from 'node:http';
import { getOperationAST, GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { principalFromAuthorization, type Principal, type TokenVerifier } from './auth.ts';
import { randomUUID } from 'node:crypto';
import { AppError } from './errors.ts';
import type { TraceContext } from './context.ts';
import { traceContextFrom } from './context.ts';
import type { Logger } from './logger.ts';
import { withoutSuggestions } from './graphql.ts';
import { checkGraphQLRequestShape, nonFiniteLiteral } from './request-shape.ts';

/** WebSocket close codes this platform uses (graphql-ws reserves 4400–4499 for protocol errors). */
export const CloseCodes = {
  /** Shutting down: reconnect elsewhere. */
  GOING_AWAY: 1001,
  /** Restarting (e.g. a deploy): reconnect shortly. */
  SERVICE_RESTART: 1012,
  /** Missing or invalid token in connection_init. */
  UNAUTHORIZED: 4401,
} as const;

/** Where a subscription's caller comes from: the router forwards each subscriber's token per operation. */
export interface SubscriptionMeta {
  requestId: string;
  trace: TraceContext;
  authorization: string | undefined;
}

export interface SubscriptionServerOptions {
  server: http.Server;
  path?: string;
  schema: GraphQLSchema;
  logger: Logger;
  verify: TokenVerifier;
  production: boolean;
  createContext(principal: Principal | undefined, meta: SubscriptionMeta): object;
  keepAliveMs?: number;
}

export interface SubscriptionServer {
  readonly sockets: () => number;
  /** Closes every socket with the code (1001 on shutdown) and stops accepting. */
  close(code?: number, reason?: string): Promise<void>;
}

type ConnectionParams = { authorization?: string; Authorization?: string } | undefined;

/**
 * graphql-ws on a subgraph's HTTP server (same port, same path). Subscriptions only: it exists for the
 * router's subscriptions, and queries and mutations have their HTTP path (with its checks) to go through.
 * In production, introspection is refused here too and errors carry no "Did you mean …?" hints. The token travels per operation in
 * `extensions.authorization` (the router multiplexes many callers over one socket) or, for a client
 * talking to the subgraph directly, in `connection_init`. Every operation is verified here again.
 */
export function attachSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const rules = options.production ? [...specifiedRules, NoSchemaIntrospectionCustomRule] : specifiedRules;
  const refusal = (message: string, code = 'BAD_REQUEST') => [new GraphQLError(options.production ? withoutSuggestions(message) : message, { extensions: { code } })];
  const wss = new WebSocketServer({ server: options.server, path: options.path ?? '/graphql' });
  const disposable = useServer<NonNullable<ConnectionParams>>(
    {
      schema: options.schema,
      isProd: options.production,
      async onConnect(ctx) {
        const authorization = connectionAuthorization(ctx.connectionParams);
        if (!authorization) return true;
        try {
          await principalFromAuthorization(authorization, options.verify);
          return true;
        } catch {
          ctx.extra.socket.close(CloseCodes.UNAUTHORIZED, 'Unauthorized');
          return false;
        }
      },
      async onSubscribe(ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> {
        const extensions = (payload.extensions ?? {}) as Record<string, unknown>;
        const authorization = typeof extensions.authorization === 'string' ? extensions.authorization : connectionAuthorization(ctx.connectionParams);
        let principal: Principal | undefined;
        try {
          principal = await principalFromAuthorization(authorization, options.verify);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new AppError('UNAUTHENTICATED')];
        }
        const shape = checkGraphQLRequestShape({ query: payload.query, operationName: payload.operationName, variables: payload.variables });
        if (shape) return refusal(shape.message, shape.code);
        let document;
        try {
          document = parse(payload.query, { maxTokens: 10_000 });
        } catch (error) {
          return refusal(error instanceof GraphQLError ? error.message : 'The query does not parse.', 'GRAPHQL_PARSE_FAILED');
        }
        const errors = validate(options.schema, document, rules);
        if (errors.length > 0) return errors.map((error) => refusal(error.message, 'GRAPHQL_VALIDATION_FAILED')[0]!);
        const operation = getOperationAST(document, payload.operationName ?? undefined);
        if (!operation) return refusal('The document names no operation to run (give operationName when it has several).', 'OPERATION_RESOLUTION_FAILURE');
        if (operation.operation !== 'subscription') return refusal(`Only subscriptions are served over WebSocket here, not a ${operation.operation}.`);
        const literal = nonFiniteLiteral(document);
        if (literal !== null) return refusal(`The number ${literal.slice(0, 40)} is out of range.`, 'BAD_USER_INPUT');
        const meta: SubscriptionMeta = {
          requestId: typeof extensions.requestId === 'string' ? extensions.requestId : randomUUID(),
          trace: traceContextFrom({ traceparent: typeof extensions.traceparent === 'string' ? extensions.traceparent : undefined }),
          authorization,
        };
        return {
          schema: options.schema,
          document,
          variableValues: payload.variables ?? undefined,
          operationName: payload.operationName ?? undefined,
          contextValue: options.createContext(principal, meta),
        };
      },
      onError(_ctx, _id, _payload, errors) {
        options.logger.debug({ errors: errors.map((error) => error.message) }, 'subscription error');
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  return {
    sockets: () => wss.clients.size,
    async close(code: number = CloseCodes.GOING_AWAY, reason = 'Server shutting down') {
      for (const socket of wss.clients) socket.close(code, reason);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function connectionAuthorization(params: ConnectionParams): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}
