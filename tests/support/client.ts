import assert from 'node:assert/strict';

export interface GraphQLClientOptions {
  token?: string;
  headers?: Record<string, string>;
}

export interface GraphQLResult<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, any> }> };
}

/** One GraphQL POST over real HTTP. */
export async function graphql<T = any>(url: string, query: string, variables?: Record<string, unknown>, options: GraphQLClientOptions = {}): Promise<GraphQLResult<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body: GraphQLResult<T>['body'];
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`non-JSON response ${response.status}: ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

/** The error codes of a result, in order. */
export function errorCodes(result: GraphQLResult): string[] {
  return (result.body.errors ?? []).map((error) => error.extensions?.code);
}

/** Asserts the result failed with exactly this code (on every error it carries). */
export function assertErrorCode(result: GraphQLResult, code: string) {
  const codes = errorCodes(result);
  assert.ok(codes.length > 0, `expected a ${code} error, got data ${JSON.stringify(result.body.data)}`);
  assert.deepEqual([...new Set(codes)], [code], `expected only ${code}, got ${JSON.stringify(result.body.errors)}`);
}

/** Asserts there were no errors and returns the data. */
export function dataOf<T>(result: GraphQLResult<T>): T {
  assert.equal(result.body.errors, undefined, `unexpected errors: ${JSON.stringify(result.body.errors)}`);
  assert.ok(result.body.data, 'expected data');
  return result.body.data as T;
}
