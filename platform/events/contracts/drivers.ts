/** The events drivers publishes on its stream. */
import { z } from '../../validation.ts';
import { defineEventContract, type EventData } from '../contract.ts';
import { utcTimestamp } from './fields.ts';

/** Supply is counted per H3 cell of this resolution (about 0.7 km²), the cells pricing surges by. */
export const SUPPLY_SNAPSHOT_RESOLUTION = 8;

/**
 * AVAILABLE drivers with a fresh fix, counted per res-8 H3 cell (empty cells absent), every
 * SUPPLY_SNAPSHOT_INTERVAL_MS. Published straight to the stream (lossy by design), keyed 'supply'.
 */
export const SupplySnapshot = defineEventContract(
  'SupplySnapshot',
  z.object({
    resolution: z.literal(SUPPLY_SNAPSHOT_RESOLUTION),
    takenAt: utcTimestamp,
    cells: z.record(z.string().regex(/^[0-9a-f]{15}$/, 'must be an H3 cell index'), z.number().int().min(0)),
  }),
);

export type SupplySnapshotData = EventData<typeof SupplySnapshot>;
