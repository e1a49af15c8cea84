import { HeaderMap, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { BREAK, GraphQLError, visit, type DocumentNode } from 'graphql';

/**
 * The shape of a GraphQL request, checked before anything reads it: what a client gets wrong here is a
 * 400 with a code (BAD_REQUEST for the envelope, BAD_USER_INPUT for variables), never a 500 from some
 * library deeper in that assumed a sane request. Used by subgraphs' HTTP edge (platform/subgraph.ts)
 * and meant for the router's edge too (a pure function of the parsed body).
 */

/** Nesting of the variables object: far deeper than any input type of ours (LocationInput in a list is 3). */
export const MAX_VARIABLES_DEPTH = 16;
/** Values in the variables object, all levels: updateLocations' 100 points of 7 fields is 800. */
export const MAX_VARIABLES_VALUES = 5_000;
/** An operationName is a GraphQL name: letters, digits, underscores. */
export const MAX_OPERATION_NAME_CHARS = 256;
const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
/** Automatic persisted queries hash a document with SHA-256: 64 hex digits. */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

export type RequestShapeCode = 'BAD_REQUEST' | 'BAD_USER_INPUT';

export interface RequestShapeRefusal {
  readonly status: 400;
  readonly code: RequestShapeCode;
  readonly message: string;
}

const refuse = (code: RequestShapeCode, message: string): RequestShapeRefusal => ({ status: 400, code, message });

/**
 * Why a parsed GraphQL POST body cannot be served, or undefined when its shape is fine (whether the
 * document parses and validates is Apollo Server's to say). Batches (arrays) are Apollo Server's too:
 * it refuses them with BAD_REQUEST while batching is off, and checks each operation when it is on.
 */
export function checkGraphQLRequestShape(body: unknown): RequestShapeRefusal | undefined {
  if (Array.isArray(body)) {
    for (const operation of body) {
      const refusal = checkOne(operation);
      if (refusal) return refusal;
    }
    return undefined;
  }
  return checkOne(body);
}

function checkOne(body: unknown): RequestShapeRefusal | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return refuse('BAD_REQUEST', 'The request body must be a JSON object with a `query`.');
  const { query, operationName, variables, extensions } = body as Record<string, unknown>;
  if (query !== undefined && query !== null && typeof query !== 'string') return refuse('BAD_REQUEST', '`query` must be a string.');
  if (operationName !== undefined && operationName !== null) {
    if (typeof operationName !== 'string') return refuse('BAD_REQUEST', '`operationName` must be a string.');
    if (operationName.length > MAX_OPERATION_NAME_CHARS || !NAME.test(operationName)) return refuse('BAD_REQUEST', '`operationName` must be the name of an operation in the document.');
  }
  if (extensions !== undefined && extensions !== null) {
    if (typeof extensions !== 'object' || Array.isArray(extensions)) return refuse('BAD_REQUEST', '`extensions` must be an object.');
    const persisted = (extensions as Record<string, unknown>).persistedQuery;
    if (persisted !== undefined) {
      if (persisted === null || typeof persisted !== 'object' || Array.isArray(persisted)) return refuse('BAD_REQUEST', '`extensions.persistedQuery` must be an object.');
      const { version, sha256Hash } = persisted as Record<string, unknown>;
      if (version !== 1) return refuse('BAD_REQUEST', 'Only persisted queries of version 1 are supported.');
      if (typeof sha256Hash !== 'string' || !SHA256_HEX.test(sha256Hash)) return refuse('BAD_REQUEST', '`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits.');
    }
    const nested = measure(extensions);
    if (nested) return refuse('BAD_REQUEST', `\`extensions\` ${nested}.`);
  }
  if (variables !== undefined && variables !== null) {
    if (typeof variables !== 'object' || Array.isArray(variables)) return refuse('BAD_REQUEST', '`variables` must be an object.');
    const nested = measure(variables);
    if (nested) return refuse('BAD_USER_INPUT', `\`variables\` ${nested}.`);
  }
  return undefined;
}

/**
 * Why a JSON value is too deep or too large, or undefined. Iterative: JSON.parse takes any depth a
 * megabyte allows, but anything that walks the result recursively (JSON.stringify, a logger) overflows.
 */
function measure(root: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  let values = 0;
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (++values > MAX_VARIABLES_VALUES) return `must hold at most ${MAX_VARIABLES_VALUES} values`;
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_VARIABLES_DEPTH) return `must be nested at most ${MAX_VARIABLES_DEPTH} levels deep`;
    for (const inner of Array.isArray(value) ? value : Object.values(value)) stack.push([inner, depth + 1]);
  }
  return undefined;
}

const badRequest = (code: string, message: string) => new GraphQLError(message, { extensions: { code, http: { status: 400, headers: new HeaderMap() } } });

/** Documents already checked for number literals no number can hold (documents are cached by Apollo Server). */
const nonFiniteLiterals = new WeakMap<DocumentNode, string | null>();

/** The first Int or Float literal of a document that is not a finite number (`1e400`), or null. */
export function nonFiniteLiteral(document: DocumentNode): string | null {
  let found = nonFiniteLiterals.get(document);
  if (found !== undefined) return found;
  found = null;
  const check = (node: { value: string }) => {
    if (Number.isFinite(Number(node.value))) return undefined;
    found = node.value;
    return BREAK;
  };
  // An Int literal of 310 digits given to a Float argument is Infinity as much as 1e400 is.
  visit(document, { FloatValue: check, IntValue: check });
  nonFiniteLiterals.set(document, found);
  return found;
}

/** Whether a document asks for the schema itself (`__schema` or `__type`). */
export function asksForIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

export interface RequestShapePluginOptions<TContext> {
  /**
   * Who may introspect: everyone (`true`), or only callers this accepts (a subgraph in production: the
   * SERVICE principal). Absent: the server's own `introspection` setting decides alone.
   */
  mayIntrospect?: (context: TContext) => boolean;
}

/**
 * The client mistakes Apollo Server would otherwise let through to a 500, answered 400 with a code once
 * the operation is resolved: an operationName the document does not define, or a document of several
 * operations without one (OPERATION_RESOLUTION_FAILURE: the gateway throws a bare error for both); an
 * Int or Float literal beyond any number (`1e400`: BAD_USER_INPUT, graphql-js lets it through as
 * Infinity and the query planner throws on it); variables too deep or too many (BAD_USER_INPUT); and
 * introspection by a caller `mayIntrospect` refuses (GRAPHQL_VALIDATION_FAILED, as Apollo Server's own).
 */
export function requestShapePlugin<TContext extends BaseContext>(options: RequestShapePluginOptions<TContext> = {}): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation, contextValue }) {
          if (!operation) {
            throw badRequest(
              'OPERATION_RESOLUTION_FAILURE',
              request.operationName ? `Unknown operation named "${request.operationName}".` : 'Must provide operation name if query contains multiple operations.',
            );
          }
          const literal = nonFiniteLiteral(document);
          if (literal !== null) throw badRequest('BAD_USER_INPUT', `The number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} is out of range.`);
          if (request.variables) {
            const nested = measure(request.variables);
            if (nested) throw badRequest('BAD_USER_INPUT', `\`variables\` ${nested}.`);
          }
          if (options.mayIntrospect && !options.mayIntrospect(contextValue) && asksForIntrospection(document)) {
            throw badRequest('GRAPHQL_VALIDATION_FAILED', 'GraphQL introspection is not allowed here.');
          }
        },
      };
    },
  };
}
