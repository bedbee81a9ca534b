import type postgres from 'postgres';

/** A connection pool or a transaction: what the query functions of this folder run on. */
export type Db = postgres.ISql;

/** A channel that is not in the database (or was deleted): the write naming it cannot be stored. */
export class UnknownChannelError extends Error {
  override readonly name = 'UnknownChannelError';
  constructor(readonly channelUuid: string) {
    super(`no channel with uuid ${channelUuid}`);
  }
}

/**
 * A Date as an array parameter element. The `postgres` client types an array of Dates as a single
 * timestamptz, so arrays go as ISO strings the server casts (`${dates.map(iso)}::timestamptz[]`).
 */
export function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}
