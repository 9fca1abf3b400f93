/**
 * Rate-limit counters shared by every instance: rate-limiter-flexible's RateLimiterDrizzle over
 * the `rate_limits` table on the PRIMARY. Each consume is one `insert ... on conflict do update
 * ... returning` (atomic: 60 parallel consumes of a 10-point limit let exactly 10 through, on any
 * pool of any instance). Used by the plugin (src/plugins/rate-limit.ts) and by Better-Auth's
 * limiter (src/lib/auth/rate-limit.ts).
 *
 * - Bounded: every statement the library builds runs through `run` (the primary's pool gate), so a
 *   saturated or dead primary costs a request at most one bounded wait, never an unbounded queue.
 * - Insured: when the store fails, each limiter's RateLimiterMemory counts instead (per instance:
 *   N instances then allow up to N times a limit), and for FALLBACK_MS every consume goes straight
 *   to it, so an outage is not paid for again by each request.
 * - Cheap for a refused client: a key that has used its points is refused from memory on this
 *   instance until its window ends (`inMemoryBlockOnConsumed`), without a database write.
 * - Cheap on every request: a bucket with `batch` > 1 (the every-request policy) counts a key's
 *   requests in this instance's memory and adds them to the table `batch` at a time, with the
 *   request that completes the batch. A consume costs ~230 µs of CPU in the library (drizzle
 *   builds the upsert each time; a hand-written one costs ~65); counted per request, it cut the
 *   throughput of cheap reads by two thirds. A client with fewer than `batch` requests in a window
 *   on an instance never costs a write. Once the table shows fewer than `batch` points left, every
 *   request is counted there, so on one instance the limit is exact; across N instances a client
 *   may get up to (batch - 1) x N requests past it (counted but not yet written) before refusals.
 * - No timers: the library's hourly sweep timer is off (it would outlive test apps); expired rows
 *   are deleted by a consume at most every SWEEP_EVERY_MS.
 */
import { lt } from 'drizzle-orm';
import { RateLimiterDrizzle, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { type Database, type DatabaseCluster, rateLimits } from '../db';
import type { Logger } from './logger';

/** One limit: `points` per `durationS` seconds; `name` prefixes its keys; `batch`: requests written at a time (default 1). */
export type Bucket = Readonly<{ name: string; points: number; durationS: number; batch?: number }>;

/** One consume's outcome: when refused, `resetS` is the Retry-After. */
export type Verdict = Readonly<{ allowed: boolean; remaining: number; resetS: number }>;

type Run = <T>(work: () => Promise<T>) => Promise<T>;

export type RateLimitStoreOptions = {
  /** A drizzle handle on the primary. */
  db: Database;
  /** Runs one statement, bounded: DatabaseCluster.runWrite (its pool gate). */
  run: Run;
  logger: Logger;
  /**
   * The clock of the store's own windows (the fallback after a failure, the sweep's cadence, the
   * batches' tallies); tests move it. The library's windows run on the real one. Default Date.now.
   */
  now?: () => number;
};

/** After a failure, consumes are counted in memory for this long before the store is tried again. */
export const FALLBACK_MS = 5_000;
const SWEEP_EVERY_MS = 5 * 60_000;

class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/**
 * `target` with every query it builds awaited through `run`: rate-limiter-flexible builds and
 * awaits drizzle's query builders itself (thenables that run on `then`), so the gate has to sit
 * on `then`. Methods return wrapped builders; what a query resolves to is passed on untouched.
 */
function gatedHandle<T extends object>(target: T, run: Run): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property);
      if (typeof value !== 'function') return value;
      if (property === 'then') {
        return (onFulfilled?: (result: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
          run(() => Promise.resolve(object)).then(onFulfilled, onRejected);
      }
      return (...args: unknown[]) => {
        const result: unknown = Reflect.apply(value, object, args);
        return typeof result === 'object' && result !== null ? gatedHandle(result, run) : result;
      };
    },
  });
}

const resetSeconds = (res: RateLimiterRes, bucket: Bucket): number => (res.msBeforeNext < 0 ? bucket.durationS : Math.ceil(res.msBeforeNext / 1000));

/** One key's window as this instance sees it: requests not yet written, and what the table had left. */
type Tally = { unwritten: number; sharedRemaining: number; resetAt: number };
/** Tallies kept at most (~100 bytes each); past it, expired ones are dropped at once, else the key is counted per request. */
const MAX_TALLIES = 100_000;

export class RateLimitStore {
  private readonly limiters = new Map<string, RateLimiterDrizzle>();
  private readonly handle: Database;
  private unreachableUntil = 0;
  private fallingBack = false;
  private readonly now: () => number;
  private lastSweep: number;
  private readonly tallies = new Map<string, Tally>();

  /** The store of a process: over the cluster's primary, through its write gate. Build one and share it (app and Better-Auth). */
  static overCluster(database: DatabaseCluster, logger: Logger): RateLimitStore {
    return new RateLimitStore({ db: database.primary, run: (work) => database.runWrite(work), logger });
  }

  constructor(private readonly options: RateLimitStoreOptions) {
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
    this.handle = gatedHandle(options.db, (work) => this.runStatement(work));
  }

  /** Counts one request of `key` against `bucket`. */
  async consume(bucket: Bucket, key: string): Promise<Verdict> {
    this.maybeSweep();
    const batch = Math.min(bucket.batch ?? 1, bucket.points);
    if (batch <= 1) return this.counted(bucket, key, 1, null);
    const id = `${bucket.name}:${key}`;
    const now = this.now();
    let tally = this.tallies.get(id);
    if (!tally || tally.resetAt <= now) {
      if (!tally && this.tallies.size >= MAX_TALLIES) this.dropExpiredTallies();
      if (!tally && this.tallies.size >= MAX_TALLIES) return this.counted(bucket, key, 1, null);
      tally = { unwritten: 0, sharedRemaining: bucket.points, resetAt: now + bucket.durationS * 1000 };
      this.tallies.set(id, tally);
    }
    // Near the limit, as the table last said: every request is written, so the tail is exact.
    if (tally.sharedRemaining < batch) return this.counted(bucket, key, 1, tally);
    tally.unwritten += 1;
    if (tally.unwritten < batch) {
      return { allowed: true, remaining: Math.max(0, tally.sharedRemaining - tally.unwritten), resetS: Math.ceil((tally.resetAt - now) / 1000) };
    }
    tally.unwritten = 0;
    return this.counted(bucket, key, batch, tally);
  }

  /** Writes `points` of `key` (this request and those it completes), noting what the table says in `tally`. */
  private async counted(bucket: Bucket, key: string, points: number, tally: Tally | null): Promise<Verdict> {
    const { res, allowed } = await this.take(bucket, key, points);
    if (tally) {
      tally.sharedRemaining = allowed ? res.remainingPoints : 0;
      if (res.msBeforeNext > 0) tally.resetAt = this.now() + res.msBeforeNext;
    }
    return allowed ? { allowed, remaining: res.remainingPoints, resetS: resetSeconds(res, bucket) } : { allowed, remaining: 0, resetS: Math.max(1, resetSeconds(res, bucket)) };
  }

  /** `points` of `key` from the shared counter (or, while it fails, the insurance in memory). */
  private async take(bucket: Bucket, key: string, points: number): Promise<{ res: RateLimiterRes; allowed: boolean }> {
    try {
      return { res: await this.limiter(bucket).consume(key, points), allowed: true };
    } catch (refusal) {
      // The library rejects with its result when refused; anything else is a bug (the insurance counts on failures).
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      return { res: refusal, allowed: false };
    }
  }

  private dropExpiredTallies(): void {
    const now = this.now();
    for (const [id, tally] of this.tallies) if (tally.resetAt <= now) this.tallies.delete(id);
  }

  private limiter(bucket: Bucket): RateLimiterDrizzle {
    const id = `${bucket.name}/${bucket.points}/${bucket.durationS}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterDrizzle({
        storeClient: this.handle,
        schema: rateLimits,
        keyPrefix: bucket.name,
        points: bucket.points,
        duration: bucket.durationS,
        clearExpiredByTimeout: false,
        inMemoryBlockOnConsumed: bucket.points,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: bucket.name, points: bucket.points, duration: bucket.durationS }),
      });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  private async runStatement<T>(work: () => Promise<T>): Promise<T> {
    if (this.now() < this.unreachableUntil) throw new StoreUnavailableError('rate-limit store marked unreachable');
    try {
      const result = await this.options.run(work);
      if (this.fallingBack) {
        this.fallingBack = false;
        this.options.logger.info('rate-limit store reachable again: limits are shared across instances');
      }
      return result;
    } catch (error) {
      this.unreachableUntil = this.now() + FALLBACK_MS;
      if (!this.fallingBack) {
        this.fallingBack = true;
        this.options.logger.warn({ err: error }, `rate-limit store failed: counting in this instance's memory for ${FALLBACK_MS / 1000} s at a time`);
      }
      throw error;
    }
  }

  /** Rows past their window are reset by the next consume anyway: the sweep only bounds the table. */
  private maybeSweep(): void {
    const now = this.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS || now < this.unreachableUntil) return;
    this.lastSweep = now;
    this.dropExpiredTallies();
    this.runStatement(() => this.options.db.delete(rateLimits).where(lt(rateLimits.expire, new Date(now)))).catch(() => undefined);
  }
}
