/**
 * The edge inside Apollo Server: the last guard of the gateway path. An operation router/edge/http.ts
 * admitted passes through (its response headers and error codes are noted); anything else that reached
 * Apollo Server — a GET, an automatic persisted query, a body that is not a plain operation — is admitted
 * here, after Apollo Server parsed and validated it and before it is planned, by the same pipeline. So no
 * operation is executed without having passed every feature.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { requestIdFrom } from '../../platform/context.ts';
import type { RouterContext } from '../subgraph-data-source.ts';
import { executionBoundsOf } from './features/execution-bounds.ts';
import { ERROR_CODES } from './http.ts';
import type { EdgePipeline } from './pipeline.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeRequest, type PersistedReference } from './types.ts';

/** What the router's context carries for the edge: the connection, and the operation if admitted before Apollo Server. */
export interface EdgeContext {
  readonly edgeConnection: EdgeConnection;
  edgeRequest?: EdgeRequest;
}

export function edgeApolloPlugin(pipeline: EdgePipeline): ApolloServerPlugin<RouterContext & EdgeContext> {
  return {
    async requestDidStart() {
      let admittedHere = false;
      return {
        async didResolveOperation({ contextValue, document, operation, schema, request: http }) {
          // Admitted before Apollo Server; or no operation to run (Apollo Server refuses it itself).
          if (contextValue.edgeRequest || !operation) return;
          const edgeRequest = pipeline.newRequest(
            contextValue.edgeConnection,
            { query: http.query ?? '', operationName: http.operationName, variables: http.variables, persisted: persistedReferenceOf(http.extensions) },
            contextValue.requestId ?? requestIdFrom(contextValue.edgeConnection.headers),
            'gateway',
          );
          contextValue.edgeRequest = edgeRequest;
          admittedHere = true;
          try {
            await pipeline.connect(contextValue.edgeConnection);
            await pipeline.admitParsed(edgeRequest, document, operation, schema);
            // The execution bounds the edge set, for the data sources (as router.ts does for operations admitted before).
            const bounds = executionBoundsOf(edgeRequest);
            if (bounds) Object.assign(contextValue, { deadline: bounds.deadline, maxResponseBytes: bounds.maxResponseBytes });
          } catch (error) {
            if (!(error instanceof EdgeRefusal)) throw error;
            pipeline.finish(edgeRequest, { kind: 'refused', refusal: error, errorCodes: [error.code] });
            admittedHere = false;
            throw asApolloError(error, edgeRequest);
          }
        },
        async willSendResponse({ contextValue, response }) {
          const edgeRequest = contextValue.edgeRequest;
          if (!edgeRequest) return;
          for (const [name, value] of Object.entries(edgeRequest.responseHeaders)) response.http.headers.set(name.toLowerCase(), value);
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          const errorCodes = errors.map((error) => String(error.extensions?.code ?? ''));
          if (response.body.kind === 'single' && Object.keys(edgeRequest.extensions).length > 0) {
            response.body.singleResult.extensions = { ...response.body.singleResult.extensions, ...edgeRequest.extensions };
          }
          edgeRequest.state.set(ERROR_CODES, errorCodes);
          if (admittedHere) pipeline.finish(edgeRequest, { kind: 'answered', errorCodes });
        },
      };
    },
  };
}

/** The automatic persisted query's hash Apollo Server resolved the text from (or registered it under), if any. */
function persistedReferenceOf(extensions: Record<string, unknown> | undefined): PersistedReference | undefined {
  const persisted = extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
  return typeof persisted?.sha256Hash === 'string' ? { id: persisted.sha256Hash.toLowerCase(), protocol: 'persistedQuery' } : undefined;
}

/** A refusal as Apollo Server renders errors thrown before execution: its HTTP status and headers ride along. */
function asApolloError(refusal: EdgeRefusal, request: EdgeRequest): GraphQLError {
  const headers = new Map(Object.entries({ ...request.responseHeaders, ...refusal.headers }).map(([name, value]) => [name.toLowerCase(), value]));
  return new GraphQLError(refusal.message, { extensions: { ...refusal.extensions, http: { status: refusal.httpStatus, headers } } });
}
