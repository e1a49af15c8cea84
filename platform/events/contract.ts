import type { z } from 'zod';
import type { DomainEvent } from './types.ts';

/**
 * What an event type carries, agreed once between its producer and every consumer: the type name and
 * a zod schema of its payload. The producer checks a payload before it reaches the outbox (or the
 * stream); each consumer parses it with the same schema before its handler sees it.
 *
 * No version field: producer and consumers ship from this repository, so a change is made compatible
 * instead of versioned. A new field is added as optional (or the producer ships it before any consumer
 * relies on it) — consumers ignore fields they do not know, so a rolling deploy never parks events of a
 * newer producer; a change old consumers could not read is a new event type, published beside the old
 * one until every consumer has moved.
 */
export interface EventContract<TType extends string = string, TData = unknown> {
  readonly type: TType;
  readonly schema: z.ZodType<TData>;
  /** The payload's field names, in the schema's order (SQL-built payloads list exactly these). */
  readonly fields: readonly string[];
  /**
   * The consumer's reading: the payload as the contract types it, fields it does not name dropped.
   * Throws EventContractViolation.
   */
  parse(data: unknown): TData;
  /**
   * The producer's check: `parse`, and also refuses fields the contract does not name (a typo or a field
   * no consumer was told about). Throws EventContractViolation.
   */
  check(data: unknown): TData;
}

/** Any contract, as APIs that accept one of them take it. */
export type AnyEventContract = EventContract<string, any>;

/** The payload type of a contract. */
export type EventData<C extends AnyEventContract> = C extends EventContract<string, infer D> ? D : never;

/** The event of one of the contracts `C` (a union of contracts gives a union narrowed by `type`). */
export type EventOf<C extends AnyEventContract> = C extends EventContract<infer T, infer D> ? DomainEvent<D, T> : never;

/** A payload that breaks its contract: a programming error on the producer's side, a parked event on the consumer's. */
export class EventContractViolation extends Error {
  override readonly name = 'EventContractViolation';
  readonly type: string;
  /** One line per problem: `path: message`. */
  readonly problems: readonly string[];

  constructor(type: string, problems: readonly string[]) {
    super(`${type} breaks its contract: ${problems.join('; ')}`);
    this.type = type;
    this.problems = problems;
  }
}

/** One contract per event type; `schema` is an object schema of the payload (export it from platform/events/contracts/). */
export function defineEventContract<const TType extends string, TSchema extends z.ZodObject>(type: TType, schema: TSchema): EventContract<TType, z.output<TSchema>> {
  const parse = (data: unknown): z.output<TSchema> => {
    const result = schema.safeParse(data);
    if (result.success) return result.data;
    throw new EventContractViolation(type, result.error.issues.map(describeIssue));
  };
  return Object.freeze({
    type,
    schema: schema as unknown as z.ZodType<z.output<TSchema>>, // the object schema, seen as what it parses to
    fields: Object.freeze(Object.keys(schema.shape)),
    parse,
    check(data: unknown) {
      const parsed = parse(data);
      const unknown = unknownFields(data, parsed);
      if (unknown.length > 0) throw new EventContractViolation(type, unknown.map((path) => `${path}: is not a field of the contract`));
      return parsed;
    },
  });
}

/** `path: message`; a record key's issue says what is wrong with the key rather than only that it is. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const nested = issue.code === 'invalid_key' ? issue.issues.map((inner) => inner.message).join(', ') : '';
  return `${issue.path.join('.') || 'data'}: ${nested ? `${issue.message}: ${nested}` : issue.message}`;
}

/** Paths in `input` that parsing dropped (zod strips object keys its schema does not name). */
function unknownFields(input: unknown, parsed: unknown, path = ''): string[] {
  if (Array.isArray(input) && Array.isArray(parsed)) return input.flatMap((item, i) => unknownFields(item, parsed[i], `${path}${path ? '.' : ''}${i}`));
  if (!isPlainObject(input) || !isPlainObject(parsed)) return [];
  return Object.keys(input).flatMap((key) => {
    const at = `${path}${path ? '.' : ''}${key}`;
    return Object.hasOwn(parsed, key) ? unknownFields(input[key], parsed[key], at) : [at];
  });
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
