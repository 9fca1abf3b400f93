/** The database layer's shared types and names: what every other file in src/db builds on. */
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { AppConfig } from '../config/env';
import type * as schema from './schema';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
export type DatabaseIntent = 'read' | 'write';
export type DatabaseConfig = AppConfig['database'];

/** The primary's name in routing decisions, health and metrics. */
export const PRIMARY_NAME = 'primary';
