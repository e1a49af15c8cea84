import { badUserInput } from './errors.ts';

/**
 * Keyset cursors for Relay connections (never OFFSET): a cursor is the sort key of the last row,
 * `(timestamp, id)`, encoded opaquely.
 */
export interface KeysetCursor {
  at: Date;
  id: string;
}

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(`${cursor.at.toISOString()}|${cursor.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): KeysetCursor | undefined {
  if (cursor === null || cursor === undefined) return undefined;
  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (rest.length > 0 || !id || Number.isNaN(at.getTime())) throw badUserInput('The cursor is not valid.', { after: 'is not a cursor from this list' });
  return { at, id };
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Builds a connection from `first + 1` rows fetched in order: the extra row only says there is more. */
export function toConnection<T>(rows: T[], first: number, keyOf: (row: T) => KeysetCursor): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
