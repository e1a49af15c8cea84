/**
 * The edge pipeline: the router's features, run in order at each stage, for every operation whichever
 * way it came in (router/edge/types.ts). The transports call it:
 *   HTTP        router/edge/http.ts (before the fast path and Apollo Server) and, for what reaches Apollo
 *               Server without passing there (GET, automatic persisted queries), router/edge/apollo.ts
 *   graphql-ws  router/subscriptions/ws.ts (connection_init, then each subscribe message)
 *
 * Parsing and validation happen here, once per document and supergraph (cached): graphql-js's own rules
 * decide whether the document is valid at all (an invalid one is left to the answering path, which
 * reports it as it always has, and nothing runs); the features' rules (limits) then refuse with their
 * codes. The operation stage sees a valid, parsed operation before anything is planned.
 */
import { performance } from 'node:perf_hooks';
import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode, type ValidationRule } from 'graphql';
import { isErrorCode } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { SnapshotCache } from '../snapshot-cache.ts';
import type { SupergraphSnapshot } from '../supergraph.ts';
import { EdgeRefusal, type EdgeConnection, type EdgeFeature, type EdgeOutcome, type EdgePath, type EdgeRequest, type PersistedReference } from './types.ts';

/** Documents longer than this are parsed every time (not cached): a client sending distinct huge documents must not fill memory. */
const MAX_CACHED_QUERY_CHARS = 20_000;
const DOCUMENT_CACHE_SIZE = 2_000;

export interface EdgePipelineOptions {
  features: readonly EdgeFeature[];
  snapshot(): SupergraphSnapshot;
  /** graphql-js's parser limit: a document with more tokens is refused before it is built (BAD_USER_INPUT, MAX_TOKENS). */
  maxTokens: number;
  logger: Logger;
}

/** A document as the pipeline knows it, per supergraph snapshot. */
type Parsed =
  | { valid: true; document: DocumentNode; refusal: EdgeRefusal | undefined }
  /** Not a valid document: the answering path reports why, as it always has. */
  | { valid: false; refusal: EdgeRefusal | undefined };

export interface AdmitResult {
  /** False when the document does not parse or validate: the answering path reports it and runs nothing. */
  readonly valid: boolean;
}

export class EdgePipeline {
  readonly features: readonly EdgeFeature[];
  readonly #options: EdgePipelineOptions;
  readonly #rules: readonly ValidationRule[];
  readonly #documents = new SnapshotCache<Parsed>(DOCUMENT_CACHE_SIZE);
  /** Requests whose resolve stage ran (the transports may run it before `admit`, to decide who answers). */
  readonly #resolved = new WeakSet<EdgeRequest>();

  constructor(options: EdgePipelineOptions) {
    this.#options = options;
    this.features = options.features;
    this.#rules = options.features.flatMap((feature) => feature.validationRules ?? []);
  }

  newConnection(parts: Pick<EdgeConnection, 'transport' | 'ip' | 'headers' | 'authorization'>): EdgeConnection {
    return { ...parts, principal: undefined, state: new Map() };
  }

  newRequest(
    connection: EdgeConnection,
    body: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null; persisted?: PersistedReference },
    requestId: string,
    path: EdgePath,
  ): EdgeRequest {
    return {
      connection,
      requestId,
      path,
      query: body.query,
      persisted: body.persisted,
      operationName: body.operationName ?? undefined,
      variables: body.variables ?? {},
      document: undefined,
      operation: undefined,
      schema: undefined,
      responseHeaders: {},
      extensions: {},
      state: new Map(),
      startedAt: performance.now(),
    };
  }

  /** The connect stage (throws the first feature's EdgeRefusal). */
  async connect(connection: EdgeConnection): Promise<void> {
    // A feature that decided at once returns nothing to wait for: no microtask per feature on the hot path.
    for (const feature of this.features) {
      const pending = feature.connect?.(connection);
      if (pending) await pending;
    }
  }

  disconnect(connection: EdgeConnection): void {
    for (const feature of this.features) {
      try {
        feature.disconnect?.(connection);
      } catch (error) {
        this.#options.logger.error({ err: error, feature: feature.name }, 'edge feature failed on disconnect');
      }
    }
  }

  /**
   * The resolve stage, once per request (after connect: the caller is known): features may set the
   * document's text from a persisted id, or refuse. `admit` runs it if the transport did not.
   */
  async resolve(request: EdgeRequest): Promise<void> {
    if (this.#resolved.has(request)) return;
    this.#resolved.add(request);
    for (const feature of this.features) {
      const pending = feature.resolveDocument?.(request);
      if (pending) await pending;
    }
  }

  /**
   * Parses and validates a document into the cache of the current supergraph (a persisted operation,
   * before anyone sends it). False when it does not parse or validate, or a feature's rule refuses it.
   */
  warm(query: string): boolean {
    const parsed = this.#parse(this.#options.snapshot(), query);
    return parsed.valid && !parsed.refusal;
  }

  /** The resolve and request stages, parsing and validation, then the operation stage. Throws an EdgeRefusal. */
  async admit(request: EdgeRequest): Promise<AdmitResult> {
    await this.resolve(request);
    for (const feature of this.features) {
      const pending = feature.request?.(request);
      if (pending) await pending;
    }
    const snapshot = this.#options.snapshot();
    const parsed = this.#parse(snapshot, request.query);
    if (parsed.refusal) throw parsed.refusal;
    if (!parsed.valid) return { valid: false };
    const operation = getOperationAST(parsed.document, request.operationName);
    // No such operation (or an ambiguous name): the answering path says so, as it always has.
    if (!operation) return { valid: false };
    request.document = parsed.document;
    request.operation = operation;
    request.schema = snapshot.schema;
    for (const feature of this.features) {
      const pending = feature.operation?.(request);
      if (pending) await pending;
    }
    return { valid: true };
  }

  /** The response stage; a feature that fails here is logged, never the caller's problem. */
  finish(request: EdgeRequest, outcome: EdgeOutcome): void {
    for (const feature of this.features) {
      try {
        feature.response?.(request, outcome);
      } catch (error) {
        this.#options.logger.error({ err: error, feature: feature.name }, 'edge feature failed on response');
      }
    }
  }

  /** Admits an operation Apollo Server already parsed and validated (GET, automatic persisted queries). */
  async admitParsed(request: EdgeRequest, document: DocumentNode, operation: OperationDefinitionNode, schema: GraphQLSchema): Promise<void> {
    await this.resolve(request);
    for (const feature of this.features) {
      const pending = feature.request?.(request);
      if (pending) await pending;
    }
    const refusal = this.#featureRules(schema, document);
    if (refusal) throw refusal;
    request.document = document;
    request.operation = operation;
    request.schema = schema;
    for (const feature of this.features) {
      const pending = feature.operation?.(request);
      if (pending) await pending;
    }
  }

  #parse(snapshot: SupergraphSnapshot, query: string): Parsed {
    const parse = () => this.#parseAndValidate(snapshot.schema, query);
    return query.length <= MAX_CACHED_QUERY_CHARS ? this.#documents.get(snapshot, query, parse) : parse();
  }

  #parseAndValidate(schema: GraphQLSchema, query: string): Parsed {
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: this.#options.maxTokens });
    } catch (error) {
      if (error instanceof GraphQLError && /more (?:than|that) \d+ tokens/.test(error.message)) {
        return { valid: false, refusal: new EdgeRefusal('BAD_USER_INPUT', `The document has more than ${this.#options.maxTokens} tokens.`, { extensions: { reason: 'MAX_TOKENS', limit: this.#options.maxTokens } }) };
      }
      return { valid: false, refusal: undefined };
    }
    // The limits first: they are cheap and bound what graphql-js's own rules then walk.
    const refusal = this.#featureRules(schema, document);
    if (refusal) return { valid: true, document, refusal };
    if (validate(schema, document, specifiedRules).length > 0) return { valid: false, refusal: undefined };
    return { valid: true, document, refusal: undefined };
  }

  /** The features' rules; the first error that carries a code becomes the refusal. */
  #featureRules(schema: GraphQLSchema, document: DocumentNode): EdgeRefusal | undefined {
    if (this.#rules.length === 0) return undefined;
    const errors = validate(schema, document, this.#rules, { maxErrors: 1 });
    const [first] = errors;
    if (!first) return undefined;
    if (first.originalError instanceof EdgeRefusal) return first.originalError;
    const { code, ...extensions } = first.extensions ?? {};
    return new EdgeRefusal(isErrorCode(code) ? code : 'BAD_USER_INPUT', first.message, { extensions });
  }
}
