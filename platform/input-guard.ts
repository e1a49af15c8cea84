import { isObjectType, type GraphQLSchema } from 'graphql';
import { middleware, type IMiddlewareFunction, type IMiddlewareTypeMap } from 'graphql-middleware';
import { badUserInput } from './errors.ts';

/**
 * The longest string any argument may carry, whatever its field: each subgraph's zod schemas bound
 * their fields more tightly (names, plates, reasons); this is the floor under the fields that have none.
 * Tokens, cursors and idempotency keys are far shorter.
 */
export const MAX_ARGUMENT_STRING_CHARS = 4_096;

/**
 * Characters no argument may contain: C0 controls other than tab, line feed and carriage return (NUL
 * among them, which Postgres cannot store: text with it failed the whole statement), DEL, C1 controls,
 * and lone UTF-16 surrogates (not a character at all: they would be stored as U+FFFD).
 */
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Federation's own fields: the router fills them with data subgraphs wrote, never with a client's input. */
const UNGUARDED_FIELDS = new Set(['_entities', '_service']);

/** Why a value (an argument, or part of one) is refused, or undefined when it is fine. */
export function inputProblem(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.length > MAX_ARGUMENT_STRING_CHARS) return `must be at most ${MAX_ARGUMENT_STRING_CHARS} characters`;
    if (FORBIDDEN.test(value)) return 'must not contain control characters';
    return undefined;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'must be a finite number';
  return undefined;
}

/**
 * Walks an argument (input objects and lists, as coerced by graphql-js: their depth is bounded by the
 * schema's input types) and returns the path and problem of the first bad value.
 */
function findProblem(value: unknown, path: string): { path: string; problem: string } | undefined {
  const problem = inputProblem(value);
  if (problem) return { path, problem };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findProblem(value[i], `${path}.${i}`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, inner] of Object.entries(value)) {
      const found = findProblem(inner, `${path}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

/** Refuses a field's arguments when one holds a control character, an overlong string or a non-finite number. */
export function assertArgumentsClean(args: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(args)) {
    const found = findProblem(value, name);
    if (found) throw badUserInput(`Invalid input: ${found.path} ${found.problem}.`, { [found.path]: found.problem });
  }
}

const guard: IMiddlewareFunction = (resolve, parent, args, context, info) => {
  assertArgumentsClean(args as Record<string, unknown>);
  return resolve(parent, args, context, info);
};

/**
 * The one check every argument of a subgraph passes before any resolver or permission rule sees it:
 * strings without control characters and at most MAX_ARGUMENT_STRING_CHARS long, numbers finite
 * (a Float literal such as 1e400 reaches resolvers as Infinity). A failure is BAD_USER_INPUT naming the
 * argument, the same for every field, so no client mistake reaches Postgres as a 500. Only fields that
 * take arguments are wrapped: the others cost nothing.
 */
export function createInputGuard() {
  return middleware((schema: GraphQLSchema) => {
    const map: Record<string, Record<string, IMiddlewareFunction>> = {};
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (field.args.length === 0 || UNGUARDED_FIELDS.has(field.name)) continue;
        (map[type.name] ??= {})[field.name] = guard;
      }
    }
    return map as IMiddlewareTypeMap;
  });
}
