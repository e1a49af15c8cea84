import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, validate } from 'graphql';
import { apiSchemaOf, buildManifest, generateManifests, MANIFESTS, staleManifests, type PersistedQueryManifest } from '../../schema/persisted-queries.ts';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const schema = apiSchemaOf(read('schema/supergraph.graphql'));

describe('persisted query manifests (npm run persisted)', () => {
  const generated = generateManifests();

  it('are generated the same way twice (deterministic)', () => {
    assert.deepEqual(generateManifests(), generated);
  });

  it('are up to date on disk (npm run persisted:check)', () => {
    assert.deepEqual(staleManifests(generated), [], 'run `npm run persisted`');
  });

  it("are Apollo's format: ids are the SHA-256 of the bodies, names unique, every operation valid against the supergraph", () => {
    for (const file of Object.keys(MANIFESTS)) {
      const manifest = JSON.parse(generated[file]) as PersistedQueryManifest;
      assert.equal(manifest.format, 'apollo-persisted-query-manifest');
      assert.equal(manifest.version, 1);
      assert.ok(manifest.operations.length > 0, `${file} has operations`);
      assert.equal(new Set(manifest.operations.map((operation) => operation.name)).size, manifest.operations.length);
      for (const operation of manifest.operations) {
        assert.deepEqual(Object.keys(operation), ['id', 'name', 'type', 'body']);
        assert.equal(operation.id, createHash('sha256').update(operation.body).digest('hex'));
        assert.deepEqual(validate(schema, parse(operation.body)), [], `${operation.name} validates`);
      }
    }
  });

  it("puts partners' operations in schema/persisted-queries.json and the apps' in schema/persisted-queries.apps.json", () => {
    const names = (file: string) => (JSON.parse(generated[file]) as PersistedQueryManifest).operations.map((operation) => operation.name);
    // Every operation of clients/partner/*.graphql, by name, and nothing else.
    const partnerOperations = readdirSync(new URL('../../clients/partner/', import.meta.url))
      .filter((file) => file.endsWith('.graphql'))
      .flatMap((file) => [...readFileSync(new URL(`../../clients/partner/${file}`, import.meta.url), 'utf8').matchAll(/^(?:query|mutation|subscription) (\w+)/gm)].map((match) => match[1]!));
    assert.deepEqual(names('schema/persisted-queries.json'), [...partnerOperations].sort());
    assert.ok(names('schema/persisted-queries.json').includes('PartnerBookRide'));
    assert.ok(names('schema/persisted-queries.apps.json').includes('TripUpdates'));
  });

  it("normalises bodies as Apollo Client does: __typename below the root, operations then used fragments by name, graphql-js's print", () => {
    const manifest = buildManifest(
      [
        {
          path: 'a.graphql',
          text: `fragment Z on Trip { id fare { amount } }
                 fragment Unused on Trip { id }
                 query T($id: ID!) { trip(id: $id) { ...Z status } }`,
        },
      ],
      schema,
    );
    assert.equal(
      manifest.operations[0].body,
      'query T($id: ID!) {\n  trip(id: $id) {\n    ...Z\n    status\n    __typename\n  }\n}\n\nfragment Z on Trip {\n  id\n  fare {\n    amount\n    __typename\n  }\n  __typename\n}',
    );
  });

  it('fails when an operation no longer validates, or names clash', () => {
    assert.throws(() => buildManifest([{ path: 'x.graphql', text: 'query X { noSuchField }' }], schema), /x\.graphql: X: Cannot query field "noSuchField"/);
    assert.throws(() => buildManifest([{ path: 'x.graphql', text: 'query X { me { id } }' }, { path: 'y.graphql', text: 'query X { me { name } }' }], schema), /operation X is also defined in x\.graphql/);
    assert.throws(() => buildManifest([{ path: 'x.graphql', text: '{ me { id } }' }], schema), /without a name/);
  });

  it('is stale when an operation changes (the check fails)', () => {
    const changed = generateManifests({ read: (file) => (file === 'clients/partner/trips.graphql' ? read(file).replace('  updatedAt\n', '') : read(file)) });
    assert.notEqual(changed['schema/persisted-queries.json'], generated['schema/persisted-queries.json']);
    assert.deepEqual(staleManifests(changed), ['schema/persisted-queries.json']);
  });
});
