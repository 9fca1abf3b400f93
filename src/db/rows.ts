/**
 * Raw SQL results differ by driver (postgres-js returns an array, PGlite `{ rows }`); this reads
 * either and validates the rows, so raw queries stay typed without casts.
 */
import type { SQL } from 'drizzle-orm';
import type { z } from 'zod';

type Executor = { execute: (query: SQL) => PromiseLike<unknown> };

export async function selectRows<TRow>(db: Executor, query: SQL, row: z.ZodType<TRow>): Promise<TRow[]> {
  const result = await db.execute(query);
  const rows = Array.isArray(result) ? result : hasRows(result) ? result.rows : [];
  return rows.map((item) => row.parse(item));
}

function hasRows(value: unknown): value is { rows: unknown[] } {
  return typeof value === 'object' && value !== null && 'rows' in value && Array.isArray(value.rows);
}
