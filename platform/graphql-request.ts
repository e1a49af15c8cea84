/**
 * Longest query text a fast path remembers a decision for. Both keep a bounded number of entries keyed
 * by the text itself; without a length limit, a client sending distinct megabyte-sized documents would
 * fill memory. Longer documents (none of our clients' operations come close) go to Apollo Server.
 */
export const MAX_REMEMBERED_QUERY_CHARS = 20_000;

/** A plain single GraphQL operation POSTed as JSON: what the fast paths (router and subgraph) take on. */
export interface GraphQLRequestBody {
  query: string;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
}

/** The request as a plain single operation; batches, persisted queries and anything odd are undefined (Apollo Server answers those). */
export function asGraphQLRequest(body: unknown): GraphQLRequestBody | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const { query, operationName, variables, extensions, ...rest } = body as Record<string, unknown>;
  if (typeof query !== 'string' || extensions !== undefined || Object.keys(rest).length > 0) return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
  return { query, operationName: operationName ?? undefined, variables: (variables ?? undefined) as Record<string, unknown> | undefined };
}
