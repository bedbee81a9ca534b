import type { ChannelQueueStats } from '../../src/metrics.js';
import type { Db } from './db.js';

/**
 * Per channel with outgoing messages waiting to be sent (`queued`, or `errored` and waiting for a
 * retry): how many, and how long the oldest has been waiting, in seconds. A message scheduled
 * for later waits from its `send_at`, so one due tomorrow counts in the depth at age 0 instead
 * of looking stuck since it was created. One statement, reading only the rows of the partial
 * index `msgs_out_waiting`.
 *
 * @example const stats = await queueStats(sql); // [{ channelUuid: '0191…', channelType: 'tg', depth: 12, oldestAgeSeconds: 3.5 }]
 */
export async function queueStats(db: Db): Promise<ChannelQueueStats[]> {
  const rows = await db`
    select w.channel_uuid, c.type, w.depth,
      greatest(0, extract(epoch from now() - w.waiting_since))::float8 as oldest_age_seconds
    from (
      select channel_uuid, count(*)::integer as depth, min(greatest(created_on, send_at)) as waiting_since
      from msgs
      where direction = 'out' and status in ('queued', 'errored')
      group by channel_uuid
    ) w
    join channels c on c.uuid = w.channel_uuid
    order by w.channel_uuid`;
  return rows.map((r) => ({
    channelUuid: r.channel_uuid as string,
    channelType: r.type as string,
    depth: r.depth as number,
    oldestAgeSeconds: r.oldest_age_seconds as number,
  }));
}
