/**
 * Composes the subgraph SDL files into schema/supergraph.graphql with @apollo/composition.
 *   node schema/compose.ts          write the supergraph
 *   node schema/compose.ts --check  fail when the committed supergraph is stale
 * Routing URLs are the distributed-mode defaults; the router overrides them per environment.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { DEFAULT_PORTS, SUBGRAPH_NAMES } from '../platform/config.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SUPERGRAPH_FILE = path.join(root, 'schema', 'supergraph.graphql');

export function subgraphSdlPath(name: string): string {
  return path.join(root, 'subgraphs', name, 'schema.graphql');
}

/** Returns the composed supergraph SDL, or throws with every composition error. */
export function composeSupergraph(): string {
  const result = composeServices(
    SUBGRAPH_NAMES.map((name) => ({
      name,
      url: `http://${name}:${DEFAULT_PORTS[name]}/graphql`,
      typeDefs: parse(readFileSync(subgraphSdlPath(name), 'utf8')),
    })),
  );
  if (result.errors) throw new Error(`Composition failed:\n${result.errors.map((e) => `  ${e.message}`).join('\n')}`);
  return `${result.supergraphSdl.trim()}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const supergraph = composeSupergraph();
  if (process.argv.includes('--check')) {
    const committed = existsSync(SUPERGRAPH_FILE) ? readFileSync(SUPERGRAPH_FILE, 'utf8') : '';
    if (committed !== supergraph) {
      console.error('schema/supergraph.graphql is stale: run `npm run compose` and commit the result.');
      process.exit(1);
    }
    console.log('schema/supergraph.graphql is up to date.');
  } else {
    writeFileSync(SUPERGRAPH_FILE, supergraph);
    console.log(`wrote ${path.relative(process.cwd(), SUPERGRAPH_FILE)}`);
  }
}
