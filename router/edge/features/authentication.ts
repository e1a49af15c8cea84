/**
 * Who is calling, on every way in: the Authorization header of an HTTP request, or a WebSocket's
 * connectionParams.authorization at connection_init. No credential is an anonymous caller on every path
 * (the subgraphs' rules decide what anonymous may see); a credential that is present but malformed,
 * forged or expired is refused (UNAUTHENTICATED: HTTP 401, WebSocket close 4401), never taken as anonymous.
 */
import { principalFromAuthorization, type TokenVerifier } from '../../../platform/auth.ts';
import { AppError } from '../../../platform/errors.ts';
import { EdgeRefusal, type EdgeFeature } from '../types.ts';

export function authenticationFeature(verify: TokenVerifier): EdgeFeature {
  return {
    name: 'authentication',
    async connect(connection) {
      try {
        connection.principal = await principalFromAuthorization(connection.authorization, verify);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        const { code: _code, ...extensions } = error.extensions;
        throw new EdgeRefusal('UNAUTHENTICATED', error.message, { extensions });
      }
    },
  };
}
