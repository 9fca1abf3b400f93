/**
 * Queries built once per database handle instead of on every request. drizzle rebuilds a query's
 * SQL from its builder tree each time it runs, which was about a fifth of the CPU of a GET by id
 * (issue 8); a prepared query keeps the text and only fills in its placeholders. Each node has
 * its own handle (the read guard is per handle), so the cache is keyed by handle.
 */
import type { Database } from './types';

export function preparedPerHandle<TQuery>(build: (db: Database) => TQuery): (db: Database) => TQuery {
  const byHandle = new WeakMap<Database, TQuery>();
  return (db) => {
    let query = byHandle.get(db);
    if (query === undefined) {
      query = build(db);
      byHandle.set(db, query);
    }
    return query;
  };
}
