import type { ChannelLog } from '../../src/channel-log.js';
import { uuidFloor } from '../../src/uuid.js';
import type { Db } from './db.js';

/**
 * Stores channel logs in one statement; a log whose uuid is already stored (a spool replay) is
 * skipped. HTTP exchanges are stored as the API shows them (CONTRACT §3: snake_case fields).
 *
 * @example await insertChannelLogs(tx, [logger.finish()]);
 */
export async function insertChannelLogs(db: Db, logs: readonly ChannelLog[]): Promise<void> {
  if (logs.length === 0) return;
  // One JSON document for the batch (serialised once by the client): its HTTP dumps are long and
  // full of quotes, which as elements of text arrays would each be escaped here and unescaped
  // again by the server.
  const rows = logs.map((log) => ({
    uuid: log.uuid,
    channel_uuid: log.channelUuid,
    type: log.type,
    msg_uuid: log.msgUuid ?? null,
    http_logs: log.httpLogs.map((h) => ({
      method: h.method,
      url: h.url,
      status_code: h.statusCode,
      request: h.request,
      response: h.response,
      elapsed_ms: h.elapsedMs,
      created_on: h.createdOn.toISOString(),
    })),
    errors: log.errors.map((e) => ({ code: e.code, message: e.message })),
    is_error: log.isError,
    elapsed_ms: Math.round(log.elapsedMs),
    created_on: log.createdOn.toISOString(),
  }));
  await db`
    insert into channel_logs (uuid, channel_uuid, type, msg_uuid, http_logs, errors, is_error, elapsed_ms, created_on)
    select l.uuid, l.channel_uuid, l.type, l.msg_uuid, l.http_logs, l.errors, l.is_error, l.elapsed_ms, l.created_on
    from jsonb_to_recordset(${db.json(rows)}) as l(
      uuid uuid, channel_uuid uuid, type text, msg_uuid uuid, http_logs jsonb, errors jsonb, is_error boolean, elapsed_ms integer, created_on timestamptz)
    order by l.uuid
    on conflict (uuid) do nothing`;
}

/**
 * Deletes channel logs created before `before`, a few thousand rows per statement so a large
 * backlog never holds one long transaction; answers how many were deleted. A log's uuid (v7) is
 * made when the log is, so the primary key finds them: no index on `created_on` to keep up.
 *
 * @example await deleteChannelLogsBefore(sql, new Date(Date.now() - 7 * 86_400_000))
 */
export async function deleteChannelLogsBefore(db: Db, before: Date, chunk = 5_000): Promise<number> {
  const bound = uuidFloor(before);
  let total = 0;
  for (;;) {
    const deleted = await db`
      delete from channel_logs where uuid in (select uuid from channel_logs where uuid < ${bound}::uuid order by uuid limit ${chunk})`;
    total += deleted.count;
    if (deleted.count < chunk) return total;
  }
}
