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
