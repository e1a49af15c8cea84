/**
 * Every event type's contract, by producer. Producers record with them, consumers consume with them:
 * `events.record(em, { contract: TripCompleted, key, data })`, `events.consume({ contracts: [TripCompleted], ... })`.
 */
export * from './trips.ts';
export * from './drivers.ts';
