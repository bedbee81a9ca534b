import { pino } from 'pino';

/** A silent logger for tests; set HERALD_TEST_LOGS=1 to see what the code logs. */
export const testLogger = pino({ level: process.env.HERALD_TEST_LOGS ? 'debug' : 'silent' });
