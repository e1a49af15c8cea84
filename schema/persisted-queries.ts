/**
 * Persisted query manifests (safelisting), in Apollo's format:
 *   node schema/persisted-queries.ts          write them (`npm run persisted`)
 *   node schema/persisted-queries.ts --check  fail when one is stale (`npm run persisted:check`, CI)
 *
 *   schema/persisted-queries.json       partners' operations (clients/partner/*.graphql): with
 *                                       PERSISTED_OPERATIONS=partners a PARTNER may run only these, by id
 *   schema/persisted-queries.apps.json  the apps' (clients/rider|driver|admin.graphql): by id when the
 *                                       apps ship Apollo Client's persisted-query-lists link, and the
 *                                       whole list with PERSISTED_OPERATIONS=all
 *
 * Format: { format: "apollo-persisted-query-manifest", version: 1, operations: [{ id, name, type, body }] },
 * id = SHA-256 of body (hex), operations sorted by name. The router reads both files
 * (router/edge/features/persisted-operations.ts).
 *
 * Why not @apollo/generate-persisted-query-manifest itself: it needs @apollo/client as a peer (the whole
 * client, React bindings and rxjs included, for a build step), plus graphql-tag-pluck (Babel),
 * cosmiconfig and its TypeScript loader, to read documents we keep as plain .graphql files. What it
 * produces is small and documented, so this does the same in a few lines: each operation with the
 * fragments it uses (transitively), through Apollo Client's default document transform — `__typename`
 * added to every selection set but the operation's root one, unless it already selects `__typename` or
 * an introspection field (addTypenameToDocument: an Apollo Client app's cache expects those fields in
 * the answer) — then definitions sorted (operations before fragments, each by name:
 * sortTopLevelDefinitions of @apollo/persisted-query-lists) and printed with graphql-js's `print`, which
 * Apollo Client's `print` wraps. So a body here is byte for byte what Apollo's generator writes for the
 * same operation, and its id what Apollo Client's link sends.
 *
 * Every operation is validated against the API schema of schema/supergraph.graphql (as the router
 * validates): an operation the supergraph no longer serves fails the build, not a partner at run time.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Supergraph } from '@apollo/federation-internals';
import {
  Kind,
  parse,
  print,
  specifiedRules,
  validate,
  visit,
  type DefinitionNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';

export interface ManifestOperation {
  readonly id: string;
  readonly name: string;
  readonly type: 'query' | 'mutation' | 'subscription';
  readonly body: string;
}

export interface PersistedQueryManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: 1;
  readonly operations: readonly ManifestOperation[];
}

/** A document file: its path (for error messages) and text. */
export interface DocumentSource {
  readonly path: string;
  readonly text: string;
}

/** The manifests this repository builds, by output file (relative to the repository). */
export const MANIFESTS: Readonly<Record<string, () => string[]>> = {
  'schema/persisted-queries.json': () => graphqlFiles('clients/partner'),
  'schema/persisted-queries.apps.json': () => ['clients/rider.graphql', 'clients/driver.graphql', 'clients/admin.graphql'],
};

function graphqlFiles(directory: string): string[] {
  return readdirSync(path.join(root, directory))
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => `${directory}/${name}`);
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The API schema (what clients see: @inaccessible hidden) of supergraph text. */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema();
}

/**
 * The manifest of these documents. Throws, naming every problem, when two operations or fragments share
 * a name, an operation has no name, uses an unknown fragment, or does not validate against `schema`.
 */
export function buildManifest(sources: readonly DocumentSource[], schema: GraphQLSchema): PersistedQueryManifest {
  const operations: Array<{ node: OperationDefinitionNode; path: string }> = [];
  const fragments = new Map<string, { node: FragmentDefinitionNode; path: string }>();
  const problems: string[] = [];
  for (const source of sources) {
    let document: DocumentNode;
    try {
      document = parse(source.text, { noLocation: true });
    } catch (error) {
      problems.push(`${source.path}: ${(error as Error).message}`);
      continue;
    }
    for (const definition of document.definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION) {
        if (!definition.name) problems.push(`${source.path}: an operation without a name (a manifest names each one)`);
        else operations.push({ node: definition, path: source.path });
      } else if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        const other = fragments.get(definition.name.value);
        if (other) problems.push(`${source.path}: fragment ${definition.name.value} is also defined in ${other.path}`);
        else fragments.set(definition.name.value, { node: definition, path: source.path });
      } else problems.push(`${source.path}: only operations and fragments belong in a client document`);
    }
  }
  const seen = new Map<string, string>();
  const entries: ManifestOperation[] = [];
  for (const { node, path: file } of operations) {
    const name = node.name!.value;
    const other = seen.get(name);
    if (other) {
      problems.push(`${file}: operation ${name} is also defined in ${other}`);
      continue;
    }
    seen.set(name, file);
    const used = fragmentsUsedBy(node, fragments, (missing) => problems.push(`${file}: ${name} uses unknown fragment ${missing}`));
    const document: DocumentNode = { kind: Kind.DOCUMENT, definitions: [node, ...used] };
    const errors = validate(schema, document, specifiedRules);
    if (errors.length > 0) {
      problems.push(...errors.map((error) => `${file}: ${name}: ${error.message}`));
      continue;
    }
    const body = print(sortTopLevelDefinitions(addTypenameToDocument(document)));
    entries.push({ id: sha256(body), name, type: node.operation, body });
  }
  if (problems.length > 0) throw new Error(`Persisted query manifest:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: MANIFEST_FORMAT, version: 1, operations: entries };
}

/** The fragments an operation spreads, directly or through other fragments. */
function fragmentsUsedBy(operation: OperationDefinitionNode, fragments: ReadonlyMap<string, { node: FragmentDefinitionNode }>, unknown: (name: string) => void): FragmentDefinitionNode[] {
  const used = new Map<string, FragmentDefinitionNode>();
  const pending: Array<OperationDefinitionNode | FragmentDefinitionNode> = [operation];
  while (pending.length > 0) {
    visit(pending.pop()!, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        if (used.has(name)) return;
        const fragment = fragments.get(name);
        if (!fragment) return unknown(name);
        used.set(name, fragment.node);
        pending.push(fragment.node);
      },
    });
  }
  return [...used.values()];
}

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/** Apollo Client's addTypenameToDocument: `__typename` last in every selection set but an operation's root one. */
export function addTypenameToDocument(document: DocumentNode): DocumentNode {
  return visit(document, {
    SelectionSet: {
      enter(node: SelectionSetNode, _key, parent) {
        if (parent && !Array.isArray(parent) && (parent as DefinitionNode).kind === Kind.OPERATION_DEFINITION) return undefined;
        const skip = node.selections.some((selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'));
        if (skip) return undefined;
        const field = parent as FieldNode | undefined;
        if (field && !Array.isArray(field) && field.kind === Kind.FIELD && field.directives?.some((directive) => directive.name.value === 'export')) return undefined;
        return { ...node, selections: [...node.selections, TYPENAME] };
      },
    },
  });
}

/** @apollo/persisted-query-lists' sortTopLevelDefinitions: operations before fragments, each kind by name. */
export function sortTopLevelDefinitions(document: DocumentNode): DocumentNode {
  const nameOf = (definition: DefinitionNode) =>
    definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION ? (definition.name?.value ?? '') : '';
  const definitions = [...document.definitions].sort((a, b) => {
    if (a.kind !== b.kind) return a.kind > b.kind ? -1 : 1;
    const [x, y] = [nameOf(a), nameOf(b)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return { ...document, definitions };
}

export function manifestText(manifest: PersistedQueryManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Every manifest's text, by output file, from the documents and supergraph on disk (or `supergraphSdl`). */
export function generateManifests(options: { supergraphSdl?: string; read?: (file: string) => string } = {}): Record<string, string> {
  const read = options.read ?? ((file: string) => readFileSync(path.join(root, file), 'utf8'));
  const schema = apiSchemaOf(options.supergraphSdl ?? read('schema/supergraph.graphql'));
  const out: Record<string, string> = {};
  for (const [file, documents] of Object.entries(MANIFESTS)) {
    out[file] = manifestText(buildManifest(documents().map((document) => ({ path: document, text: read(document) })), schema));
  }
  return out;
}

/** The output files whose content on disk differs from `generated`. */
export function staleManifests(generated: Readonly<Record<string, string>>): string[] {
  return Object.entries(generated)
    .filter(([file, text]) => {
      const full = path.join(root, file);
      return !existsSync(full) || readFileSync(full, 'utf8') !== text;
    })
    .map(([file]) => file);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const generated = generateManifests();
  if (process.argv.includes('--check')) {
    const stale = staleManifests(generated);
    if (stale.length > 0) {
      console.error(`Stale persisted query manifests (run \`npm run persisted\`): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('Persisted query manifests are up to date.');
  } else {
    for (const [file, text] of Object.entries(generated)) writeFileSync(path.join(root, file), text);
    console.log(`Wrote ${Object.keys(generated).join(', ')}.`);
  }
}
