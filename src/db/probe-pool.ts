/**
 * A one-connection pool for health and lag probes that starts over after any failure.
 *
 * Why: after `pg_ctl stop -m immediate` and a restart, the probe's connection in postgres-js 3.4.9
 * kept the query it had in flight when the server died (porsager/postgres#1097): every later
 * probe queued behind it and timed out, so /health/db said "primary down" for 12 to 66 s while
 * writes already succeeded (issue 7). A probe that fails or times out now throws its pool away
 * (ended without grace) and the next probe connects afresh, so the answer is true again by the
 * next probe after the node is back.
 */
import type { Sql } from 'postgres';
import { POOL_CLOSE_GRACE_S } from './pools';

export class ProbeTimeoutError extends Error {
  override name = 'ProbeTimeoutError';
}

export class ProbePool<TDatabase> {
  private current: { pool: Sql; db: TDatabase } | null = null;
  private closed = false;

  constructor(
    private readonly open: () => Sql,
    private readonly wrap: (pool: Sql) => TDatabase,
  ) {}

  /** Runs one probe on the pool, bounded by `timeoutMs`; a failure resets the pool. */
  async run<T>(probe: (db: TDatabase) => Promise<T>, timeoutMs: number, what: string): Promise<T> {
    if (this.closed) throw new Error(`${what}: the probe pool is closed`);
    const handle = (this.current ??= this.connect());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProbeTimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([probe(handle.db), timeout]);
    } catch (error) {
      this.reset(handle);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const handle = this.current;
    this.current = null;
    await handle?.pool.end({ timeout: POOL_CLOSE_GRACE_S });
  }

  private connect(): { pool: Sql; db: TDatabase } {
    const pool = this.open();
    return { pool, db: this.wrap(pool) };
  }

  private reset(handle: { pool: Sql; db: TDatabase }): void {
    if (this.current !== handle) return; // a concurrent probe already replaced it
    this.current = null;
    void handle.pool.end({ timeout: POOL_CLOSE_GRACE_S }).catch(() => {});
  }
}
