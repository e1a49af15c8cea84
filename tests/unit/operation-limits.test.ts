import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Supergraph } from '@apollo/federation-internals';
import { getOperationAST, Kind, parse, print, specifiedRules, validate, visit, type DocumentNode, type GraphQLError } from 'graphql';
import type { Principal } from '../../platform/auth.ts';
import { loadConfig, type CostBudgetRole } from '../../platform/config.ts';
import { compileCost, evaluateCost } from '../../router/edge/cost.ts';
import { executionBoundsFeature, executionBoundsOf } from '../../router/edge/features/execution-bounds.ts';
import { limitRefusal, operationLimitsFeature, responseTooLarge, type OperationLimitsOptions } from '../../router/edge/features/operation-limits.ts';
import { EdgeRefusal, type EdgeRequest } from '../../router/edge/types.ts';

const supergraph = Supergraph.build(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8'));
const schema = supergraph.apiSchema().toGraphQLJSSchema();
const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
const limits = loadConfig('router', {}).operationLimits;

const limitsFeature = (overrides: Partial<OperationLimitsOptions> = {}) => operationLimitsFeature({ ...limits, production: false, supergraph: () => ({ schema, supergraphSchema }), ...overrides });

/** The feature's own rules, as the pipeline runs them (before graphql-js's). */
function structuralErrors(feature: ReturnType<typeof limitsFeature>, document: DocumentNode): readonly GraphQLError[] {
  return validate(schema, document, feature.validationRules);
}

function request(query: string, options: { role?: Principal['role']; variables?: Record<string, unknown>; operationName?: string } = {}): EdgeRequest {
  const document = parse(query);
  const operation = getOperationAST(document, options.operationName);
  assert.ok(operation, 'one operation');
  return {
    connection: { transport: 'http', ip: '127.0.0.1', headers: {}, authorization: undefined, principal: options.role ? { userId: 'u1', role: options.role } : undefined, state: new Map() },
    requestId: 'r1',
    path: 'gateway',
    query,
    operationName: options.operationName,
    variables: options.variables ?? {},
    document,
    operation,
    schema,
    responseHeaders: {},
    extensions: {},
    state: new Map(),
    startedAt: performance.now(),
  };
}

function refusalOf(run: () => unknown): EdgeRefusal {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof EdgeRefusal, `an EdgeRefusal, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a refusal');
}

const nested = (levels: number) => `query Nested { myTrips { edges { node { ${'rider { trips { edges { node { '.repeat(levels)}id${' } } } }'.repeat(levels)} } } } }`;

test('each structural limit refuses its attack with BAD_USER_INPUT, its reason, the limit and (outside production) what was found', () => {
  const cases: Array<[string, string, number, number]> = [
    ['MAX_DEPTH', nested(5), limits.maxDepth, 4 + 5 * 4],
    ['MAX_ALIASES', `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, limits.maxAliases, 1000],
    ['MAX_ROOT_FIELDS', `{ ${Array.from({ length: 21 }, (_, i) => `me${i}: me { id }`).join(' ')} }`, limits.maxRootFields, 21],
    ['MAX_DIRECTIVES', `{ me { id ${'@include(if: true) '.repeat(60)} } }`, limits.maxDirectives, 60],
  ];
  for (const [reason, query, limit, found] of cases) {
    const errors = structuralErrors(limitsFeature({ maxAliases: reason === 'MAX_ROOT_FIELDS' ? 100 : limits.maxAliases }), parse(query));
    const error = errors.find((candidate) => candidate.extensions.reason === reason);
    assert.ok(error, `${reason}: refused (got ${errors.map((e) => e.message).join('; ')})`);
    assert.ok(error instanceof EdgeRefusal, `${reason}: an EdgeRefusal the pipeline can throw as it is`);
    assert.equal(error.extensions.code, 'BAD_USER_INPUT');
    assert.equal(error.extensions.limit, limit);
    assert.equal(error.extensions.found, found, `${reason}: found`);
    assert.equal(error.httpStatus, 400);
  }
});

test('production refusals name the limit, never what the operation has', () => {
  const [error] = structuralErrors(limitsFeature({ production: true }), parse(nested(5)));
  assert.equal(error?.extensions.reason, 'MAX_DEPTH');
  assert.equal(error?.extensions.limit, limits.maxDepth);
  assert.equal('found' in (error?.extensions ?? {}), false);
  assert.doesNotMatch(error!.message, /24/);
  const cost = refusalOf(() => limitsFeature({ production: true }).operation!(request('{ myTrips(first: 100000) { edges { node { id } } } }', { role: 'RIDER' })));
  assert.deepEqual(cost.extensions, { code: 'BAD_USER_INPUT', reason: 'MAX_COST', limit: limits.costBudgets.RIDER });
});

test('fragments: depth does not count a spread as a level, aliases and root fields inside fragments count', () => {
  const feature = limitsFeature({ maxDepth: 3, maxAliases: 2, maxRootFields: 2 });
  assert.deepEqual(structuralErrors(feature, parse('query { ...F } fragment F on Query { me { ...G } } fragment G on User { id name }')), []);
  const errors = structuralErrors(feature, parse('query { ...F } fragment F on Query { a: me { id } b: me { id } c: me { id } }'));
  assert.deepEqual(errors.map((error) => error.extensions.reason).sort(), ['MAX_ALIASES', 'MAX_ROOT_FIELDS']);
  // __typename is free at the root (clients add it); introspection is not counted for depth.
  assert.deepEqual(structuralErrors(feature, parse('{ __typename me { id } }')), []);
});

test('the token limit: a longer document is refused while parsing (MAX_TOKENS), other syntax errors stay syntax errors', () => {
  const feature = limitsFeature({ maxTokens: 200 });
  assert.equal(feature.maxTokens, 200);
  const refusal = refusalOf(() => feature.parse(`{ ${'me { id } '.repeat(100)} }`));
  assert.equal(refusal.extensions.reason, 'MAX_TOKENS');
  assert.equal(refusal.extensions.limit, 200);
  assert.throws(() => feature.parse('{ me { id }'), (error: Error) => !(error instanceof EdgeRefusal) && /Syntax Error/.test(error.message));
  assert.ok(feature.parse('{ me { id } }'));
});

test('cost arithmetic: a sized list multiplies its subtree, a connection hands its size to edges, pageInfo counts once', () => {
  const owners = undefined; // no entity hops: plain arithmetic
  const cost = (query: string, variables: Record<string, unknown> = {}) => {
    const document = parse(query);
    return evaluateCost(compileCost(schema, document, getOperationAST(document)!, {}, owners), variables);
  };
  // nearbyDrivers is a list: first × (1 for the driver + 1 for its location)
  assert.equal(cost('{ nearbyDrivers(near: { lat: 30, lng: 31 }, first: 50) { driverId location { lat lng } } }'), 50 * 2);
  // myTrips: 1 + 50 × (edges 1 + node 1 + pickup 1) + pageInfo 1
  assert.equal(cost('{ myTrips(first: 50) { edges { node { id pickup { lat } } } pageInfo { hasNextPage } } }'), 1 + 50 * 3 + 1);
  // the argument's default (20) when absent, the variable's value when given, the default when the variable is absent
  assert.equal(cost('{ myTrips { edges { node { id } } } }'), 1 + 20 * 2);
  assert.equal(cost('query ($n: Int) { myTrips(first: $n) { edges { node { id } } } }', { n: 7 }), 1 + 7 * 2);
  assert.equal(cost('query ($n: Int) { myTrips(first: $n) { edges { node { id } } } }', {}), 1 + 20 * 2);
  // nesting multiplies: 1 + 10 × (2 + (1 + 10 × 2))
  assert.equal(cost('{ myTrips(first: 10) { edges { node { rider { trips(first: 10) { edges { node { id } } } } } } } }'), 1 + 10 * (2 + 1 + 1 + 10 * 2));
  // scalars are free; configured weights count
  assert.equal(cost('{ me { id name phone } }'), 1);
  const document = parse('{ me { id } }');
  assert.equal(evaluateCost(compileCost(schema, document, getOperationAST(document)!, { weights: { 'Query.me': 7 } }), {}), 7);
});

test('cost: an entity fetch from another subgraph carries the hop weight', () => {
  const document = parse('{ myTrips(first: 1) { edges { node { id rider { id name phone } } } } }');
  const operation = getOperationAST(document)!;
  const plain = evaluateCost(compileCost(schema, document, operation, {}), {});
  const owners = (limitsFeature() as unknown as { costOf(request: EdgeRequest): { requested: number } }).costOf(request(print(document), { role: 'RIDER' })).requested;
  assert.equal(owners, plain + 2, "the rider's name and phone (accounts' fields, under a trip from trips) add one hop of the default weight 2");
  const keyOnly = parse('{ myTrips(first: 1) { edges { node { id rider { id } } } } }');
  assert.equal(limitsFeature().costOf(request(print(keyOnly), { role: 'RIDER' })).requested, evaluateCost(compileCost(schema, keyOnly, getOperationAST(keyOnly)!, {}), {}), 'the key alone needs no fetch');
});

test('cost: fragments spreading each other twice, level after level, are costed in linear time', () => {
  const levels = 40;
  const fragments = Array.from({ length: levels }, (_, i) => `fragment F${i} on User { id ${i + 1 < levels ? `...F${i + 1} ...F${i + 1}` : 'name'} }`).join('\n');
  const query = `{ me { ...F0 } }\n${fragments}`;
  const document = parse(query);
  const started = performance.now();
  const value = evaluateCost(compileCost(schema, document, getOperationAST(document)!), {});
  assert.ok(performance.now() - started < 50, 'no exponential walk');
  assert.equal(value, 1, 'me is the only object field');
});

test('per-role budgets: the same operation passes for an admin and is refused for a rider; a stranger gets the ANONYMOUS budget', () => {
  const feature = limitsFeature({ costBudgets: { ANONYMOUS: 10, RIDER: 100, ADMIN: 1_000 } });
  const query = 'query ($n: Int) { myTrips(first: $n) { edges { node { id } } } }';
  assert.doesNotThrow(() => feature.operation!(request(query, { role: 'ADMIN', variables: { n: 200 } })));
  const refused = refusalOf(() => feature.operation!(request(query, { role: 'RIDER', variables: { n: 200 } })));
  assert.equal(refused.extensions.reason, 'MAX_COST');
  assert.equal(refused.extensions.limit, 100);
  assert.equal(refused.extensions.found, 401);
  assert.doesNotThrow(() => feature.operation!(request(query, { role: 'RIDER', variables: { n: 40 } })));
  assert.equal(refusalOf(() => feature.operation!(request(query, { role: 'PARTNER', variables: { n: 40 } }))).extensions.limit, 10);
  assert.equal(refusalOf(() => feature.operation!(request(query, { variables: { n: 40 } }))).extensions.limit, 10);
});

test('development reports the cost in extensions; production does not', () => {
  const query = '{ myTrips(first: 5) { edges { node { id } } } }';
  const development = request(query, { role: 'RIDER' });
  limitsFeature().operation!(development);
  assert.deepEqual(development.extensions.cost, { requested: 11, budget: limits.costBudgets.RIDER });
  const production = request(query, { role: 'RIDER' });
  limitsFeature({ production: true }).operation!(production);
  assert.equal('cost' in production.extensions, false);
});

test("every operation of the apps (clients/*.graphql) is well within every limit for its role", () => {
  const files: Array<[string, CostBudgetRole]> = [
    ['rider', 'RIDER'],
    ['driver', 'DRIVER'],
    ['admin', 'ADMIN'],
  ];
  const anonymous = new Set(['SignUp', 'LogIn', 'RefreshSession', 'LogOut']);
  let checked = 0;
  for (const [file, role] of files) {
    const document = parse(readFileSync(new URL(`../../clients/${file}.graphql`, import.meta.url), 'utf8'));
    const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [])));
    for (const operation of document.definitions) {
      if (operation.kind !== Kind.OPERATION_DEFINITION) continue;
      const name = operation.name!.value;
      // What the app sends: the operation and the fragments it uses.
      const used = new Set<string>();
      const collect = (node: Parameters<typeof visit>[0]) =>
        visit(node, {
          FragmentSpread(spread) {
            if (used.has(spread.name.value)) return;
            used.add(spread.name.value);
            collect(fragments.get(spread.name.value)!);
          },
        });
      collect(operation);
      const query = [operation, ...[...used].map((fragment) => fragments.get(fragment)!)].map(print).join('\n');
      // Half of every structural limit: each operation passes with margin.
      const halved = limitsFeature({
        maxDepth: Math.floor(limits.maxDepth / 2),
        maxAliases: Math.floor(limits.maxAliases / 2),
        maxRootFields: Math.floor(limits.maxRootFields / 2),
        maxDirectives: Math.floor(limits.maxDirectives / 2),
        maxTokens: Math.floor(limits.maxTokens / 2),
      });
      const parsed = halved.parse(query);
      assert.deepEqual(validate(schema, parsed, specifiedRules), [], `${name} is valid`);
      assert.deepEqual(structuralErrors(halved, parsed).map((error) => error.message), [], `${name}: within half of every structural limit`);
      // Cost at the largest page a resolver accepts (100), against a third of the role's budget.
      const callerRole = anonymous.has(name) ? 'ANONYMOUS' : role;
      const variables = Object.fromEntries((operation.variableDefinitions ?? []).filter((definition) => definition.variable.name.value === 'first').map(() => ['first', 100]));
      const edge = request(query, { role: callerRole === 'ANONYMOUS' ? undefined : callerRole, variables });
      const { requested, budget } = limitsFeature().costOf(edge);
      assert.equal(budget, limits.costBudgets[callerRole]);
      assert.ok(requested * 3 <= budget, `${name} costs ${requested}, over a third of the ${callerRole} budget ${budget}`);
      checked += 1;
    }
  }
  assert.ok(checked >= 20, `checked ${checked} operations`);
});

test('response size and execution bounds', () => {
  assert.equal(responseTooLarge(limits.maxResponseBytes, limits.maxResponseBytes), false);
  assert.equal(responseTooLarge(limits.maxResponseBytes + 1, limits.maxResponseBytes), true);
  const refusal = limitRefusal('RESPONSE_TOO_LARGE', 1024, undefined, true);
  assert.deepEqual(refusal.extensions, { code: 'BAD_USER_INPUT', reason: 'RESPONSE_TOO_LARGE', limit: 1024 });

  const bounds = executionBoundsFeature({ requestTimeoutMs: 10_000, requestTimeoutMsByRole: { ADMIN: 30_000 }, maxResponseBytes: 2048 });
  assert.equal(bounds.needsPathSupport, true);
  const rider = request('{ me { id } }', { role: 'RIDER' });
  const before = Date.now();
  bounds.request!(rider);
  const set = executionBoundsOf(rider)!;
  assert.ok(set.deadline >= before + 10_000 - 50 && set.deadline <= Date.now() + 10_000 + 5, 'arrival + 10 s');
  assert.equal(set.maxResponseBytes, 2048);
  const admin = request('{ me { id } }', { role: 'ADMIN' });
  bounds.request!(admin);
  assert.ok(executionBoundsOf(admin)!.deadline >= before + 30_000 - 50);
});

test('configuration: limits and budgets from the environment', () => {
  const config = loadConfig('router', { ROUTER_MAX_DEPTH: '8', ROUTER_COST_BUDGETS: 'RIDER=5000, ANONYMOUS=50', ROUTER_REQUEST_TIMEOUT_MS: '3000', DATABASE_STATEMENT_TIMEOUT_MS: '0' });
  assert.equal(config.operationLimits.maxDepth, 8);
  assert.equal(config.operationLimits.costBudgets.RIDER, 5000);
  assert.equal(config.operationLimits.costBudgets.ANONYMOUS, 50);
  assert.equal(config.operationLimits.costBudgets.ADMIN, limits.costBudgets.ADMIN);
  assert.equal(config.operationLimits.requestTimeoutMs, 3000);
  assert.equal(config.databaseStatementTimeoutMs, 0);
  assert.throws(() => loadConfig('router', { ROUTER_COST_BUDGETS: 'ROOT=1' }), /ROUTER_COST_BUDGETS/);
  assert.throws(() => loadConfig('router', { ROUTER_COST_BUDGETS: 'RIDER=lots' }), /ROUTER_COST_BUDGETS/);
});
