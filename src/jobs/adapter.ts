/**
 * pg-boss's `db` option over OUR drizzle handles: raw SQL with `$n` parameters on the handle's own
 * client (a postgres-js pool or transaction; PGlite in development), so pg-boss opens no
 * connection of its own, and a job sent through a transaction's handle commits or rolls back with it.
 */
import type { PGlite, Transaction as PgliteTransaction } from '@electric-sql/pglite';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { PostgresJsSession } from 'drizzle-orm/postgres-js/session';
import type { Sql, TransactionSql } from 'postgres';
import type { Database, Transaction } from '../db';

export type SqlResult = { rows: unknown[] };
/** pg-boss's `IDatabase` (its `db` option, and `send`'s), with the rows typed as what they are. */
export type SqlExecutor = { executeSql(text: string, values?: unknown[]): Promise<SqlResult> };

/** What a parameter may be once it reaches the driver. */
export type DriverValue = string | number | boolean | null | readonly DriverValue[];

/**
 * pg-boss's install, migration and maintenance scripts (`BEGIN; ...; COMMIT;`), always sent without
 * parameters. postgres-js refuses BEGIN on a pooled connection (the pool could hand the rest of
 * the work to another one), so they run on a reserved connection.
 */
const STARTS_TRANSACTION = /^\s*BEGIN\b/i;
/** `$2::uuid[]`: pg-boss's mark for a value that is a PostgreSQL array, not JSON (its adapters' rule too). */
const ARRAY_CAST = /^::[a-z_][a-z0-9_]*\[\]/i;
const PLACEHOLDER = /\$(\d+)/g;
/** A script's COMMIT would end the caller's transaction: only pg-boss's own work sends scripts. */
const SCRIPT_IN_TRANSACTION = 'a pg-boss script (BEGIN ... COMMIT) cannot run inside a transaction';

/**
 * The parameters as postgres-js takes them through drizzle's client. drizzle sets that client's
 * json/jsonb and timestamp serializers to pass values through untouched (its own query builder
 * prepares them), so an object would reach the wire as "[object Object]" and a Date fail to encode:
 * Date -> ISO string, object -> JSON text, undefined -> null (as node-postgres, pg-boss's own
 * driver, does). An array stays an array where pg-boss casts its placeholder to an array type (job
 * ids, queue names: postgres-js writes the array literal); any other array is JSON.
 */
export function toDriverParameters(text: string, values: readonly unknown[]): DriverValue[] {
  const arrayTyped = new Set<number>();
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (ARRAY_CAST.test(text.slice((match.index ?? 0) + match[0].length))) arrayTyped.add(Number(match[1]) - 1);
  }
  return values.map((value, index) => {
    if (Array.isArray(value) && arrayTyped.has(index)) return value.map((element) => toScalar(element));
    return toScalar(value);
  });
}

function toScalar(value: unknown): DriverValue {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One statement's rows, or every statement's rows of a script (a RETURNING before COMMIT is kept). */
function rowsOf(result: readonly unknown[]): unknown[] {
  return result.length > 0 && result.every((entry) => Array.isArray(entry)) ? result.flat() : [...result];
}

async function runOnPostgres(client: Sql | TransactionSql, inTransaction: boolean, text: string, values: unknown[]): Promise<SqlResult> {
  if (values.length > 0) return { rows: rowsOf(await client.unsafe(text, toDriverParameters(text, values))) };
  if (!STARTS_TRANSACTION.test(text)) return { rows: rowsOf(await client.unsafe(text)) };
  if (inTransaction || !('reserve' in client)) throw new Error(SCRIPT_IN_TRANSACTION);
  const reserved = await client.reserve();
  try {
    return { rows: rowsOf(await reserved.unsafe(text)) };
  } catch (error) {
    // A script that failed midway leaves its connection in an aborted transaction: end it before
    // the connection goes back to the pool, or the next request on it would fail too.
    await reserved.unsafe('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    reserved.release();
  }
}

async function runOnPglite(client: PGlite | PgliteTransaction, inTransaction: boolean, text: string, values: unknown[]): Promise<SqlResult> {
  if (values.length > 0) return { rows: (await client.query(text, toDriverParameters(text, values))).rows };
  const script = STARTS_TRANSACTION.test(text);
  if (script && inTransaction) throw new Error(SCRIPT_IN_TRANSACTION);
  try {
    // query() takes one statement; pg-boss's scripts are several, which only exec() runs.
    return { rows: (await client.exec(text)).flatMap((result) => result.rows) };
  } catch (error) {
    // One connection for everything: a script that failed inside BEGIN would poison every later query.
    if (script) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Loaded only for the embedded database: PGlite's module is ~20 MB a production process never needs. */
let pgliteSession: Promise<typeof import('drizzle-orm/pglite/session')> | null = null;

/** pg-boss's IDatabase on a drizzle handle: the primary (pg-boss's own work) or a caller's transaction. */
export function executeSqlOn(handle: Database | Transaction): SqlExecutor {
  const session = handle._.session;
  const inTransaction = handle instanceof PgTransaction;
  return {
    async executeSql(text: string, values: unknown[] = []): Promise<SqlResult> {
      if (session instanceof PostgresJsSession) {
        const client: Sql | TransactionSql = session.client;
        return runOnPostgres(client, inTransaction, text, values);
      }
      pgliteSession ??= import('drizzle-orm/pglite/session');
      const { PgliteSession } = await pgliteSession;
      if (session instanceof PgliteSession) {
        // drizzle keeps the client private; bracket access is TypeScript's typed way in.
        const client: PGlite | PgliteTransaction = session['client'];
        return runOnPglite(client, inTransaction, text, values);
      }
      throw new Error(`no pg-boss adapter for the drizzle session ${session.constructor.name}`);
    },
  };
}
