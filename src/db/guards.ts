/**
 * Guards against drizzle's replica traps: read handles refuse writing and locking statements, and
 * inside a transaction callback only the transaction handle may be used.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger as DrizzleLogger } from 'drizzle-orm';
import { DatabaseUsageError } from './errors';

/** Set while a transaction callback runs: a routed read there would miss the transaction's own writes. */
const transactionScope = new AsyncLocalStorage<true>();

/** Runs a transaction callback inside the scope `assertOutsideTransaction` checks. */
export const inTransactionScope = <T>(work: () => Promise<T>): Promise<T> => transactionScope.run(true, work);

/**
 * Whether a statement only reads: the first keyword starts a query, and nothing in it writes or
 * takes row locks. Literals, quoted identifiers and comments are blanked first so a value or a
 * column name cannot trip it. Conservative: an unknown statement is not a read.
 */
export function isReadOnlyStatement(text: string): boolean {
  const code = text
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, ' ')
    .replace(/'(?:[^']|'')*'/g, ' ')
    .replace(/"(?:[^"]|"")*"/g, ' ')
    .toLowerCase();
  if (!/^\s*\(*\s*(select|with|values|table|show)\b/.test(code)) return false;
  return !/\b(insert|update|delete|merge|into|truncate|nextval|setval)\b|\bfor\s+(key\s+)?share\b/.test(code);
}

/**
 * The drizzle logger of every handle a routed read gets (replica or primary): drizzle calls it before
 * sending each statement, so a write or `SELECT ... FOR UPDATE` built inside `read()` (the
 * `db.with(cte).insert()` and `.for('update')` traps) is refused here, whichever node the read was
 * routed to, instead of failing only on a replica or silently running on the primary.
 */
/** Verdicts by statement text: drizzle sends the same few texts over and over. */
const verdicts = new Map<string, boolean>();
const VERDICTS_KEPT = 2_000;

function isReadOnlyCached(query: string): boolean {
  let verdict = verdicts.get(query);
  if (verdict === undefined) {
    verdict = isReadOnlyStatement(query);
    if (verdicts.size >= VERDICTS_KEPT) verdicts.clear();
    verdicts.set(query, verdict);
  }
  return verdict;
}

export const readOnlyGuard: DrizzleLogger = {
  logQuery(query: string): void {
    if (!isReadOnlyCached(query)) {
      throw new DatabaseUsageError(
        `a write or locking statement was issued through a read handle; use write() or transaction(): ${query.slice(0, 120)}`,
      );
    }
  },
};

/**
 * Inside a transaction callback every query must use the transaction handle: a routed read would
 * miss the transaction's own writes (and may hit a replica), and a write or nested transaction on
 * another connection is not part of it and can deadlock on its locks.
 */
export function assertOutsideTransaction(what: string): void {
  if (transactionScope.getStore()) {
    throw new DatabaseUsageError(`${what} inside a transaction callback: use the transaction handle (tx) instead`);
  }
}
