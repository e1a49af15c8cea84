/**
 * Operation limits: what a single operation may ask of the platform, checked before planning.
 *
 * - Structure (validation rules, with graphql-js's own, once per document): depth, aliases and
 *   directives (graphql-armor's rules) and root fields (ours). They do not depend on the caller.
 * - Tokens: the parser stops counting at `maxTokens` (`parse`, below), so a huge document is never built.
 * - Cost (the operation stage, per request: it depends on the variables and the caller's role): see
 *   router/edge/cost.ts. Each role has a budget; outside production the cost is reported in the
 *   answer's `extensions.cost`.
 *
 * Every refusal is BAD_USER_INPUT with `extensions.reason` (MAX_DEPTH, MAX_ALIASES, MAX_ROOT_FIELDS,
 * MAX_DIRECTIVES, MAX_TOKENS, MAX_COST, RESPONSE_TOO_LARGE) and `limit`; outside production also
 * `found`, what the operation has.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, Kind, parse, type ASTVisitor, type DocumentNode, type GraphQLSchema, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';
import type { Role } from '../../../platform/auth.ts';
import { compileCost, evaluateCost, fieldOwnersFromSupergraph, type CompiledCost, type CostOptions, type FieldOwners } from '../cost.ts';
import { EdgeRefusal, type EdgeFeature, type EdgeRequest } from '../types.ts';

export type LimitReason = 'MAX_DEPTH' | 'MAX_ALIASES' | 'MAX_ROOT_FIELDS' | 'MAX_DIRECTIVES' | 'MAX_TOKENS' | 'MAX_COST' | 'RESPONSE_TOO_LARGE';

/** A caller without a token is ANONYMOUS. */
export type CostRole = Role | 'ANONYMOUS';

export interface OperationLimits {
  /** Deepest field nesting (fragments do not add a level). */
  readonly maxDepth: number;
  /** Aliased fields in an operation, fragments included. */
  readonly maxAliases: number;
  /** Fields at the root of an operation, fragments included (`__typename` not counted). */
  readonly maxRootFields: number;
  /** Directives in an operation, fragments included. */
  readonly maxDirectives: number;
  /** Tokens in the whole document (the parser stops at the limit). */
  readonly maxTokens: number;
  /** Cost budget per role; a role absent here gets the ANONYMOUS budget. */
  readonly costBudgets: Readonly<Partial<Record<CostRole, number>>> & { readonly ANONYMOUS: number };
}

export interface OperationLimitsOptions extends OperationLimits {
  /** Production hides what an operation has (`found`, the cost) and reports no `extensions.cost`. */
  readonly production: boolean;
  /** Outside production, whether answers carry `extensions.cost` (default: they do). */
  readonly costInExtensions?: boolean;
  /** Field weights and list sizes (router/edge/cost.ts). */
  readonly cost?: CostOptions;
  /**
   * The supergraph the request's API schema belongs to, for the cost of entity fetches (fields another
   * subgraph resolves); without it, no entity hop is counted.
   */
  readonly supergraph?: () => { readonly schema: GraphQLSchema; readonly supergraphSchema: GraphQLSchema } | undefined;
}

export interface OperationLimitsFeature extends EdgeFeature {
  readonly name: 'operation-limits';
  readonly validationRules: readonly ValidationRule[];
  /** The token limit, for `parse(query, { maxTokens })`. */
  readonly maxTokens: number;
  /** `parse(query, { maxTokens })`, a token-limit refusal (MAX_TOKENS) instead of graphql-js's syntax error; other syntax errors are rethrown. */
  parse(query: string): DocumentNode;
  /** The operation's cost for the request's caller and variables (what the operation stage checks). */
  costOf(request: EdgeRequest): { requested: number; budget: number };
}

const COST_CACHE_SIZE = 2_000;

export function operationLimitsFeature(options: OperationLimitsOptions): OperationLimitsFeature {
  const { production } = options;
  const costInExtensions = !production && options.costInExtensions !== false;
  const refusal = (reason: LimitReason, limit: number, found: number | undefined) => limitRefusal(reason, limit, found, production);

  /** graphql-armor reports "Syntax Error: ... limit of N exceeded, found M."; this reports our refusal instead. */
  const armor = (reason: LimitReason, limit: number) => ({
    n: limit,
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        const found = /found (\d+)/.exec(error.message);
        context?.reportError(refusal(reason, limit, found ? Number(found[1]) : undefined));
      },
    ],
  });

  const validationRules: ValidationRule[] = [
    maxDepthRule({ ...armor('MAX_DEPTH', options.maxDepth), flattenFragments: true, ignoreIntrospection: true }) as unknown as ValidationRule,
    maxAliasesRule(armor('MAX_ALIASES', options.maxAliases)) as unknown as ValidationRule,
    maxDirectivesRule(armor('MAX_DIRECTIVES', options.maxDirectives)) as unknown as ValidationRule,
    maxRootFieldsRule(options.maxRootFields, (found) => refusal('MAX_ROOT_FIELDS', options.maxRootFields, found)),
  ];

  const compiled = new WeakMap<GraphQLSchema, Map<string, CompiledCost>>();
  const owners = new WeakMap<GraphQLSchema, FieldOwners | null>();
  const ownersFor = (schema: GraphQLSchema): FieldOwners | undefined => {
    let found = owners.get(schema);
    if (found === undefined) {
      const supergraph = options.supergraph?.();
      found = supergraph && supergraph.schema === schema ? fieldOwnersFromSupergraph(supergraph.supergraphSchema) : null;
      owners.set(schema, found);
    }
    return found ?? undefined;
  };

  const costOf = (request: EdgeRequest): { requested: number; budget: number } => {
    const { schema, document, operation } = request;
    if (!schema || !document || !operation) throw new Error('operation-limits: the operation stage needs the parsed operation and its schema.');
    let bySchema = compiled.get(schema);
    if (!bySchema) compiled.set(schema, (bySchema = new Map()));
    const key = `${operation.name?.value ?? ''}\0${request.query}`;
    let cost = bySchema.get(key);
    if (!cost) {
      cost = compileCost(schema, document, operation, options.cost, ownersFor(schema));
      if (bySchema.size >= COST_CACHE_SIZE) bySchema.clear();
      bySchema.set(key, cost);
    }
    const role: CostRole = request.connection.principal?.role ?? 'ANONYMOUS';
    return { requested: evaluateCost(cost, request.variables), budget: options.costBudgets[role] ?? options.costBudgets.ANONYMOUS };
  };

  return {
    name: 'operation-limits',
    validationRules,
    maxTokens: options.maxTokens,
    parse(query) {
      try {
        return parse(query, { maxTokens: options.maxTokens });
      } catch (error) {
        // graphql-js 16 words it "more that N tokens": both spellings.
        if (error instanceof GraphQLError && /contains more (?:than|that) \d+ tokens/.test(error.message)) throw refusal('MAX_TOKENS', options.maxTokens, undefined);
        throw error;
      }
    },
    costOf,
    operation(request) {
      const { requested, budget } = costOf(request);
      if (costInExtensions) request.extensions.cost = { requested, budget };
      if (requested > budget) throw refusal('MAX_COST', budget, requested);
    },
  };
}

const LIMIT_NAMES: Record<LimitReason, string> = {
  MAX_DEPTH: 'depth',
  MAX_ALIASES: 'aliases',
  MAX_ROOT_FIELDS: 'root fields',
  MAX_DIRECTIVES: 'directives',
  MAX_TOKENS: 'tokens',
  MAX_COST: 'cost',
  RESPONSE_TOO_LARGE: 'response bytes',
};

/**
 * A limit's refusal: BAD_USER_INPUT (HTTP 400) with `reason` and `limit`, and outside production what
 * the operation has (`found`).
 */
export function limitRefusal(reason: LimitReason, limit: number, found: number | undefined, production: boolean): EdgeRefusal {
  const what = LIMIT_NAMES[reason];
  const shown = !production && found !== undefined;
  const message =
    reason === 'RESPONSE_TOO_LARGE'
      ? `The answer is larger than the limit of ${limit} bytes; ask for less (fewer fields, a smaller page).`
      : `The operation exceeds the limit of ${limit} ${what}${shown ? ` (it has ${found})` : ''}; ask for less (fewer fields, a smaller page).`;
  return new EdgeRefusal('BAD_USER_INPUT', message, { extensions: { reason, limit, ...(shown ? { found } : {}) } });
}

/** Whether an answer of this many bytes is over the cap. */
export function responseTooLarge(bytes: number, limit: number): boolean {
  return bytes > limit;
}

/** A validation rule: at most `limit` fields at the root of each operation, fragments included. */
export function maxRootFieldsRule(limit: number, refuse: (found: number) => GraphQLError): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const seen = new Set<string>();
      const count = (selectionSet: SelectionSetNode): number => {
        let fields = 0;
        for (const selection of selectionSet.selections) {
          if (selection.kind === Kind.FIELD) {
            if (selection.name.value !== '__typename') fields += 1;
          } else if (selection.kind === Kind.INLINE_FRAGMENT) fields += count(selection.selectionSet);
          else if (!seen.has(selection.name.value)) {
            seen.add(selection.name.value); // a fragment spread twice selects the same fields (and a cycle is invalid anyway)
            const fragment = context.getFragment(selection.name.value);
            if (fragment) fields += count(fragment.selectionSet);
          }
        }
        return fields;
      };
      const found = count(operation.selectionSet);
      if (found > limit) context.reportError(refuse(found));
      return false; // nothing below the root matters here
    },
  });
}
