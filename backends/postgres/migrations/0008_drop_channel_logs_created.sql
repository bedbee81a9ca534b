-- Channel-log retention finds old logs by their uuid (v7, made with the log), through the primary
-- key, so channel_logs_created is no longer read; every callback and send wrote into it.
drop index channel_logs_created;
