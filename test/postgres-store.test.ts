import { createTestDatabase } from './support/pg.js';
import { postgresStoreSuite } from './postgres-store-suite.js';

postgresStoreSuite('Postgres 15', createTestDatabase);
