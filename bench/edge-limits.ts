/**
 * Operation limits at the router's edge: router CPU to refuse a depth, alias, directive, token or cost
 * attack, next to accepting the rider app's MyTrips. Each document is distinct per iteration (a
 * changing comment), as an attacker defeating the pipeline's document cache would send it: what is
 * timed is the work of a new document, the way router/edge/pipeline.ts does it: parse with the token
 * limit, the limits' validation rules first (a refusal stops there), then graphql-js's own rules, then
 * the operation stage (cost).
 *
 *   npm run bench:edge-limits -- [--iterations 2000]
 *
 * In-process and single-threaded; no servers needed.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Supergraph } from '@apollo/federation-internals';
import { getOperationAST, specifiedRules, validate } from 'graphql';
import { loadConfig } from '../platform/config.ts';
import { operationLimitsFeature } from '../router/edge/features/operation-limits.ts';
import { EdgeRefusal, type EdgeRequest } from '../router/edge/types.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000' } } });
const iterations = Number(values.iterations);

const supergraph = Supergraph.build(readFileSync(new URL('../schema/supergraph.graphql', import.meta.url), 'utf8'));
const schema = supergraph.apiSchema().toGraphQLJSSchema();
const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
const limits = loadConfig('router', {}).operationLimits;
const feature = operationLimitsFeature({ ...limits, production: true, supergraph: () => ({ schema, supergraphSchema }) });

const rider = readFileSync(new URL('../clients/rider.graphql', import.meta.url), 'utf8');
const myTrips = `${rider.slice(rider.indexOf('query MyTrips'), rider.indexOf('query MyWallet'))}`;
const tripDetails = myTrips.slice(myTrips.indexOf('fragment TripDetails'));
const myTripsQuery = `${myTrips.slice(0, myTrips.indexOf('fragment TripDetails'))}\n${tripDetails}`;

const nest = (levels: number) => `query Nested { myTrips { edges { node { ${'rider { trips { edges { node { '.repeat(levels)}id${' } } } }'.repeat(levels)} } } } }`;
const attacks: Record<string, string> = {
  'depth (myTrips → rider → trips × 60, 2.3 kB)': nest(60),
  // As many as fit under the token limit (an alias costs 6 tokens, a directive 7): the largest attack the parser lets through.
  [`aliases (${Math.floor((limits.maxTokens - 4) / 6)} × me, just under the token limit)`]: `{ ${Array.from({ length: Math.floor((limits.maxTokens - 4) / 6) }, (_, i) => `a${i}: me { id }`).join(' ')} }`,
  [`directives (${Math.floor((limits.maxTokens - 8) / 7)} × @include, just under the token limit)`]: `{ me { id ${'@include(if: true) '.repeat(Math.floor((limits.maxTokens - 8) / 7))} } }`,
  'tokens (200 kB of fields)': `{ me { ${'id '.repeat(60_000)} } }`,
  'cost (myTrips(first: 100) → rider → trips(first: 100) × 2)': '{ myTrips(first: 100) { edges { node { rider { trips(first: 100) { edges { node { rider { trips(first: 100) { edges { node { id } } } } } } } } } } } }',
};

function admit(query: string): 'accepted' | string {
  try {
    const document = feature.parse(query);
    const limited = validate(schema, document, feature.validationRules, { maxErrors: 1 });
    if (limited.length > 0) return String(limited[0]!.extensions.reason);
    if (validate(schema, document, specifiedRules).length > 0) return 'invalid';
    const operation = getOperationAST(document)!;
    const request = { connection: { principal: { userId: 'u', role: 'RIDER' } }, query, variables: { first: 20 }, document, operation, schema, extensions: {} } as unknown as EdgeRequest;
    feature.operation!(request);
    return 'accepted';
  } catch (error) {
    if (error instanceof EdgeRefusal) return String(error.extensions.reason);
    throw error;
  }
}

function measure(label: string, query: string) {
  let outcome = '';
  for (let i = 0; i < Math.min(200, iterations); i++) outcome = admit(`${query}\n# ${i}`);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) outcome = admit(`${query}\n# warm ${i}`);
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const perCall = (n: number) => `${((n / iterations) * 1000).toFixed(1).padStart(8)} µs`;
  console.log(`${label.padEnd(62)} ${outcome.padEnd(15)} wall ${perCall(elapsed)}   cpu ${perCall((cpu.user + cpu.system) / 1000)}   (${query.length} chars)`);
}

console.log(`edge limits: ${iterations} distinct documents each, limits ${JSON.stringify({ ...limits, costBudgets: undefined })}, RIDER budget ${limits.costBudgets.RIDER}`);
measure('accept: rider app MyTrips (TripDetails fragment)', myTripsQuery);
for (const [label, query] of Object.entries(attacks)) measure(`refuse: ${label}`, query);
