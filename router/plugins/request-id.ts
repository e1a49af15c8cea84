import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestContext } from '../../platform/context.ts';

/** Echoes the request id (the caller's, or the one we made) back in `x-request-id`. */
export function requestIdPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart({ contextValue }) {
      return {
        async willSendResponse({ response }) {
          response.http.headers.set('x-request-id', contextValue.requestId);
        },
      };
    },
  };
}
