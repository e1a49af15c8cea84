import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse, type GraphQLObjectType } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow, createShield, rule } from '../../platform/rules.ts';

const typeDefs = `
  type Query { rows: [Row!]! secret: String hidden: String }
  type Row { id: ID! label: String! }
`;

describe('createShield', () => {
  const rowLabel = (row: { label: string }) => row.label;
  let guardCalls = 0;
  const guard = rule('test-guard', { cache: 'no_cache' })(() => {
    guardCalls += 1;
    return true;
  });
  const schema = applyMiddleware(
    buildSubgraphSchema({
      typeDefs: parse(typeDefs),
      resolvers: {
        Query: { rows: () => Array.from({ length: 3 }, (_, i) => ({ id: String(i), label: `row ${i}` })), secret: () => 'guarded', hidden: () => 'never' },
        Row: { label: rowLabel },
      } as never,
    }),
    createShield({ Query: { rows: guard, secret: guard }, Row: allow }),
  );

  it("leaves the resolvers of an `allow` type unwrapped: no rule runs per field of its rows", async () => {
    const row = schema.getType('Row') as GraphQLObjectType;
    assert.equal(row.getFields().label!.resolve, rowLabel);
    guardCalls = 0;
    const result = await graphql({ schema, source: '{ rows { id label } }', contextValue: {} });
    assert.deepEqual(JSON.parse(JSON.stringify(result)), { data: { rows: [{ id: '0', label: 'row 0' }, { id: '1', label: 'row 1' }, { id: '2', label: 'row 2' }] } });
    assert.equal(guardCalls, 1, 'the guarded field only');
  });

  it('still runs the rules of guarded fields and denies a field without a rule', async () => {
    const result = await graphql({ schema, source: '{ secret hidden }', contextValue: {} });
    assert.equal(result.data?.secret, 'guarded');
    assert.equal(result.data?.hidden, null);
    assert.equal(result.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  });
});
