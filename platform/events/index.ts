export type { ConsumerOptions, DomainEvent, EventBus, NewEvent, OutboxInsert, OutboxSelect, SqlWithParams } from './types.ts';
export { defineEventContract, EventContractViolation, type AnyEventContract, type EventContract, type EventData, type EventOf } from './contract.ts';
export { createEventBus, type EventBusOptions, type ManagedEventBus } from './bus.ts';
export type { ConsumerTuning } from './consumer.ts';
export { createOutboxEntity, EVENTS_MIGRATION, streamKey, withEventMigrations } from './storage.ts';
export { isBackgroundWork, runInBackground } from './background.ts';
export type { PendingEntry, StreamEntry, StreamReader, StreamTransport } from './transport.ts';
export { streamMarkKey } from './transport.ts';
