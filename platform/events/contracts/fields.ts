/** The field types event payloads are made of: one spelling of money, time and ids across every contract. */
import { isCurrency } from '../../money.ts';
import { isUuid, latLngSchema, z } from '../../validation.ts';

/** Ids are uuids, as Postgres prints them. */
export const uuid = z.string().refine(isUuid, 'must be a uuid');

/**
 * Money is a non-negative amount in minor units of the event's `currency`, as a decimal integer string
 * ("12500"): exact for any amount, unlike a JSON number, and within a bigint column.
 */
export const minorUnits = z.string().regex(/^(0|[1-9][0-9]{0,17})$/, 'must be minor units as a decimal integer string, such as "12500"');

/** An ISO 4217 code SmartLine handles (platform/money.ts). */
export const currency = z.string().refine(isCurrency, 'must be a supported ISO 4217 currency code');

/** An instant as ISO-8601 in UTC ("2026-05-01T08:30:00.000Z"): every consumer compares and stores them alike. */
export const utcTimestamp = z.iso.datetime({ message: 'must be an ISO-8601 UTC timestamp ending in Z' });

/** A point in decimal degrees (WGS 84). */
export const point = latLngSchema;
