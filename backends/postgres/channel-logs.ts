import type { ChannelLog } from '../../src/channel-log.js';
import { iso, type Db } from './db.js';

/**
 * Stores channel logs in one statement; a log whose uuid is already stored (a spool replay) is
 * skipped. HTTP exchanges are stored as the API shows them (CONTRACT §3: snake_case fields).
 *
 * @example await insertChannelLogs(tx, [logger.finish()]);
 */
export async function insertChannelLogs(db: Db, logs: readonly ChannelLog[]): Promise<void> {
  if (logs.length === 0) return;
  const httpLogs = logs.map((log) =>
    JSON.stringify(
      log.httpLogs.map((h) => ({
        method: h.method,
        url: h.url,
        status_code: h.statusCode,
        request: h.request,
        response: h.response,
        elapsed_ms: h.elapsedMs,
        created_on: h.createdOn,
      })),
    ),
  );
  await db`
    insert into channel_logs (uuid, channel_uuid, type, msg_uuid, http_logs, errors, is_error, elapsed_ms, created_on)
    select l.uuid, l.channel_uuid, l.type, l.msg_uuid, l.http_logs::jsonb, l.errors::jsonb, l.is_error, l.elapsed_ms, l.created_on
    from unnest(
      ${logs.map((l) => l.uuid)}::uuid[], ${logs.map((l) => l.channelUuid)}::uuid[], ${logs.map((l) => l.type)}::text[],
      ${logs.map((l) => l.msgUuid ?? null)}::uuid[], ${httpLogs}::text[], ${logs.map((l) => JSON.stringify(l.errors))}::text[],
      ${logs.map((l) => String(l.isError))}::boolean[], ${logs.map((l) => Math.round(l.elapsedMs))}::integer[], ${logs.map((l) => iso(l.createdOn))}::timestamptz[]
    ) as l(uuid, channel_uuid, type, msg_uuid, http_logs, errors, is_error, elapsed_ms, created_on)
    on conflict (uuid) do nothing`;
}

/**
 * Deletes channel logs created before `before`, a few thousand rows per statement so a large
 * backlog never holds one long transaction; answers how many were deleted.
 *
 * @example await deleteChannelLogsBefore(sql, new Date(Date.now() - 7 * 86_400_000))
 */
export async function deleteChannelLogsBefore(db: Db, before: Date, chunk = 5_000): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db`
      delete from channel_logs where uuid in (select uuid from channel_logs where created_on < ${before} limit ${chunk})`;
    total += deleted.count;
    if (deleted.count < chunk) return total;
  }
}
