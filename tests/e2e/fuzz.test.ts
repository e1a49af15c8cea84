import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Supergraph } from '@apollo/federation-internals';
import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { SUBGRAPH_NAMES } from '../../platform/config.ts';
import { startStack, type Stack, type TestUser } from '../support/stack.ts';

/**
 * A GraphQL-aware fuzzer against the running router on loopback, every subgraph behind it. It walks the
 * API schema (schema/supergraph.graphql) and sends, for FUZZ_MS (default 20 s), operations on random
 * root fields with random argument values (odd numbers, control characters, huge strings, wrong types,
 * dates far off) as variables or inline literals, plus random JSON bodies and envelope fields. Asserts:
 * no 5xx, no INTERNAL_SERVER_ERROR anywhere in any answer, every service still live, nothing written.
 *
 * "Nothing written", explicitly: queries are sent as generated. Every MUTATION carries at least one value
 * the API must refuse (one argument corrupted on purpose), or takes no arguments and is sent with a token
 * that cannot perform it (anonymous, a fresh rider, a fresh driver without a profile). So no table of
 * any subgraph may change: row counts of every table of every subgraph schema are compared before and
 * after, with no exception. The three users are made before the first count.
 *
 * The seed is printed; FUZZ_SEED=<seed> replays the same requests (their order of sending included).
 */
const FUZZ_MS = Number(process.env.FUZZ_MS ?? 20_000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;

const apiSchema: GraphQLSchema = Supergraph.build(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8')).apiSchema().toGraphQLJSSchema();

const CONTROL = ['\u0000', '\u0001', '\u0007', '\u001b', '\u007f', '\u0085', '\ud800', '\u2028'];
const oddNumber = fc.constantFrom(0, -0, 1e308, -1e308, 5e-324, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1e21, 0.1, -1, 90.0000001, 180.5, 1e6);
const oddString = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...CONTROL), fc.string({ maxLength: 10 })).map(([a, c, b]) => a + c + b),
  fc.integer({ min: 4_000, max: 300_000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('', ' ', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-02-30T00:00:00Z', '1900-01-01T00:00:00Z', 'NaN', '-1', '{}', "'; drop table users; --", '+201000000001', '00000000-0000-0000-0000-000000000000'),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
const wrongType = fc.oneof(fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }), oddNumber, oddString);

/** A plausible value for an input type (often valid, sometimes odd). */
function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return valueFor(type.ofType, depth);
  if (isListType(type)) return fc.array(valueFor(type.ofType, depth + 1), { maxLength: depth > 2 ? 1 : 4 });
  if (isEnumType(type)) return fc.oneof(fc.constantFrom(...type.getValues().map((value) => value.name)), fc.constant('NOT_A_VALUE'));
  if (isInputObjectType(type)) {
    if (depth > 4) return fc.constant({});
    const fields = Object.values(type.getFields());
    return fc.record(Object.fromEntries(fields.map((field) => [field.name, valueFor(field.type, depth + 1)])), { requiredKeys: fields.filter((field) => isNonNullType(field.type)).map((field) => field.name) });
  }
  switch (getNamedType(type).name) {
    case 'Int':
      return fc.oneof(fc.integer({ min: -5, max: 200 }), oddNumber);
    case 'Float':
      return fc.oneof(fc.double({ min: -200, max: 200, noNaN: true }), fc.double({ min: 29.9, max: 30.2, noNaN: true }), oddNumber);
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(fc.integer({ min: -3_600_000, max: 60_000 }).map((ms) => new Date(Date.now() + ms).toISOString()), oddString);
    case 'ID':
      return fc.oneof(fc.uuid(), oddString);
    default:
      return oddString;
  }
}

/** The same value with one leaf replaced by something the API must refuse. */
function corrupt(value: unknown, type: GraphQLInputType): fc.Arbitrary<unknown> {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isInputObjectType(inner) && value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    const keys = Object.keys(value);
    return fc.constantFrom(...keys).chain((key) => corrupt((value as Record<string, unknown>)[key], inner.getFields()[key]!.type).map((bad) => ({ ...value, [key]: bad })));
  }
  if (isListType(inner) && Array.isArray(value) && value.length > 0) return corrupt(value[0], inner.ofType).map((bad) => [bad, ...value.slice(1)]);
  const named = getNamedType(inner);
  if (named.name === 'String' || named.name === 'ID') return fc.oneof(fc.constantFrom(...CONTROL).map((c) => `bad${c}value`), fc.constant('x'.repeat(5_000)), fc.constant(7), fc.constant({}));
  if (named.name === 'DateTime') return fc.constantFrom('0000-01-01T00:00:00Z', '1900-01-01T00:00:00Z', '2200-01-01T00:00:00Z', 'yesterday', 5);
  if (named.name === 'Int') return fc.constantFrom(2 ** 31, 1.5, 'one', true);
  if (named.name === 'Float') return fc.constantFrom('1.5', true, [], {});
  if (isEnumType(named)) return fc.constantFrom('NOT_A_VALUE', 3);
  return fc.constant({ not: 'valid' });
}

/** GraphQL literal syntax for a JSON value (for arguments written inline). */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value && typeof value === 'object') return `{ ${Object.entries(value).map(([key, inner]) => `${key}: ${literal(inner)}`).join(', ')} }`;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '1e400';
  return JSON.stringify(value);
}

/** A small selection of a field's output type: its scalar leaves, else __typename. */
function selectionOf(field: GraphQLField<unknown, unknown>): string {
  const named = getNamedType(field.type);
  if (isLeafType(named)) return '';
  if (!isObjectType(named)) return '{ __typename }';
  const leaves = Object.values(named.getFields()).filter((inner) => inner.args.every((arg) => !isNonNullType(arg.type)) && isScalarType(getNamedType(inner.type))).slice(0, 4);
  return `{ __typename ${leaves.map((inner) => inner.name).join(' ')} }`;
}

const TYPE_NAME = (type: GraphQLInputType): string => type.toString();

interface FuzzRequest {
  body: unknown;
  token: 'none' | 'rider' | 'driver' | 'garbage';
  what: string;
}

function operationArbitrary(kind: 'query' | 'mutation'): fc.Arbitrary<FuzzRequest> {
  const root = kind === 'query' ? apiSchema.getQueryType()! : apiSchema.getMutationType()!;
  const fields = Object.values(root.getFields());
  return fc.constantFrom(...fields).chain((field) => {
    const args: GraphQLArgument[] = field.args.filter(() => true);
    const values = fc.record(Object.fromEntries(args.map((arg) => [arg.name, valueFor(arg.type)])));
    const corrupted =
      kind === 'mutation' && args.length > 0
        ? values.chain((generated) => fc.constantFrom(...args).chain((arg) => corrupt(generated[arg.name], arg.type).map((bad) => ({ ...generated, [arg.name]: bad }))))
        : values;
    return fc.record({ values: corrupted, inline: fc.boolean(), token: fc.constantFrom<FuzzRequest['token']>('none', 'rider', 'driver', 'garbage'), operationName: fc.option(fc.constantFrom('Fuzz', 'Other', 'bad name'), { nil: undefined }) }).map(({ values: generated, inline, token, operationName }) => {
      const selection = selectionOf(field);
      let query: string;
      let variables: Record<string, unknown> | undefined;
      if (inline || args.length === 0) {
        const written = args.filter((arg) => generated[arg.name] !== undefined).map((arg) => `${arg.name}: ${literal(generated[arg.name])}`);
        query = `${kind} Fuzz { ${field.name}${written.length ? `(${written.join(', ')})` : ''} ${selection} }`;
      } else {
        query = `${kind} Fuzz(${args.map((arg) => `$${arg.name}: ${TYPE_NAME(arg.type)}`).join(', ')}) { ${field.name}(${args.map((arg) => `${arg.name}: $${arg.name}`).join(', ')}) ${selection} }`;
        variables = generated;
      }
      return { body: { query, variables, operationName }, token, what: `${kind} ${field.name}` };
    });
  });
}

const shapeArbitrary: fc.Arbitrary<FuzzRequest> = fc
  .oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({ query: fc.oneof(fc.string(), fc.constant('{ me { id } }'), fc.constant('query A { me { id } } query B { me { id } }')), operationName: fc.oneof(fc.string(), fc.integer(), fc.constant('B')), variables: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] }),
    fc.record({ extensions: fc.record({ persistedQuery: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ version: fc.constantFrom(1, 2, '1'), sha256Hash: fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 })) })) }), query: fc.option(fc.constant('{ me { id } }'), { nil: undefined }) }),
    fc.integer({ min: 20, max: 3_000 }).map((depth) => ({ query: '{ me { id } }', variables: { v: JSON.parse('['.repeat(depth) + ']'.repeat(depth)) } })),
    fc.array(fc.record({ query: fc.constant('{ me { id } }') }), { maxLength: 3 }),
  )
  .map((body) => ({ body, token: 'none' as const, what: 'body shape' }));

const requestArbitrary = fc.oneof({ weight: 5, arbitrary: operationArbitrary('query') }, { weight: 5, arbitrary: operationArbitrary('mutation') }, { weight: 2, arbitrary: shapeArbitrary });

describe(`fuzzing the router (FUZZ_SEED=${SEED}, ${FUZZ_MS} ms)`, () => {
  let stack: Stack;
  let users: Record<'rider' | 'driver', TestUser>;
  before(async () => {
    stack = await startStack();
    users = { rider: await stack.signUp('RIDER'), driver: await stack.signUp('DRIVER') };
  });
  after(() => stack?.stop());

  /** Rows of every table of every subgraph's schema. */
  async function rowCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const name of SUBGRAPH_NAMES) {
      const connection = stack.subgraph(name).db.orm.em.getConnection();
      const tables: Array<{ table_name: string }> = await connection.execute(`select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' order by table_name`, [name]);
      for (const { table_name } of tables) counts[`${name}.${table_name}`] = Number((await connection.execute(`select count(*) as "n" from "${name}"."${table_name}"`))[0].n);
    }
    return counts;
  }

  it('answers every request without a 5xx or INTERNAL_SERVER_ERROR, stays up and writes nothing', async () => {
    console.log(`fuzz seed: FUZZ_SEED=${SEED}`);
    const before = await rowCounts();
    const failures: string[] = [];
    const deadline = Date.now() + FUZZ_MS;
    let sent = 0;
    const tokenOf = (token: FuzzRequest['token']) => (token === 'none' ? undefined : token === 'garbage' ? 'garbage.token.value' : users[token].accessToken);
    const worker = async (lane: number) => {
      for (let i = lane; Date.now() < deadline; i += 4) {
        const [request] = fc.sample(requestArbitrary, { seed: SEED + i, numRuns: 1 });
        const token = tokenOf(request!.token);
        const body = JSON.stringify(request!.body);
        const response = await fetch(stack.routerUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
        const text = await response.text();
        sent += 1;
        if (response.status >= 500 || text.includes('INTERNAL_SERVER_ERROR')) {
          failures.push(`#${i} ${request!.what} → ${response.status} ${text.slice(0, 300)}\n  body: ${body.slice(0, 400)}`);
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    // One line per kind of failure (its message without quoted names), with how often it was seen.
    const kinds = new Map<string, number>();
    for (const failure of failures) {
      const kind = (/"message":"((?:[^"\\]|\\.)*)"/.exec(failure)?.[1] ?? failure.slice(0, 80)).replace(/\\"[^"\\]*\\"/g, '"…"');
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    console.log(`fuzz: ${sent} requests, ${failures.length} failures${[...kinds].map(([kind, count]) => `\n  ${count} × ${kind}`).join('')}`);
    assert.deepEqual(failures, [], `failures (FUZZ_SEED=${SEED}):\n${failures.slice(0, 20).join('\n')}`);

    for (const url of [stack.routerUrl, ...SUBGRAPH_NAMES.map((name) => stack.subgraph(name).url)]) {
      assert.equal((await fetch(url.replace('/graphql', '/health/live'))).status, 200, `${url} is live`);
    }
    // A valid fareEstimates the fuzzer happens to send issues quotes, as it should: without Redis (embedded)
    // pricing keeps them in pricing.quotes. That is a query's effect, not a write a mistake caused.
    const withoutQuotes = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).filter(([table]) => table !== 'pricing.quotes'));
    assert.deepEqual(withoutQuotes(await rowCounts()), withoutQuotes(before), 'no table of any subgraph changed');
  });
});
